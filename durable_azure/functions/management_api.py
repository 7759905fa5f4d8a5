"""The Durable Functions HTTP management API (reference §5) as a Starlette app.

Mount it where DF serves it (``/runtime/webhooks/durabletask`` locally) or under an app route in
Azure; management URLs in responses are built from the configured public base URL (see
:func:`urls.public_base_url`) or else the request's origin, and the mount path. Its OpenAPI
description is served at ``openapi.json`` under the same root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import InvalidOperationError
from ..orchestration.entity_id import EntityId
from ..orchestration.status import OrchestrationRuntimeStatus as Status
from ..storage.naming import validate_instance_id
from . import runtime
from .api_support import (
    CONTINUATION_HEADER,
    JSON_CONTENT_TYPE,
    Query,
    api_endpoint,
    argument_error,
    bad_request,
    error,
    json_body,
    json_response,
    media_type,
    not_found,
    unwrap_json_text,
)
from .http_client import FunctionsDurableClient
from .targets import AppTargets
from .urls import (
    DEFAULT_CONNECTION_NAME,
    check_status_headers,
    code_of,
    encode_path,
    encode_query,
    management_payload,
    origin_of,
    public_base_url,
    query_suffix,
)
from .waits import ClientDisconnected, WaitOptions, check_wait, disconnect_waiter, poll_until

log = logging.getLogger("durable_azure.http")

#: ``(taskHub, connection)`` query values → the client to use (``None`` = the app's own).
ClientResolver = Callable[[str | None, str | None], FunctionsDurableClient]
#: The hubs and connections callers may name (evaluated per request: the app may still be loading).
TargetsProvider = Callable[[], AppTargets]
#: Name of the OpenAPI description, served under the API root and shipped in this package.
OPENAPI_FILE = "openapi.json"

_ALL_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]
_RUNNING = frozenset({Status.Running, Status.Pending, Status.ContinuedAsNew, Status.Suspended})
_FINISHED = frozenset({Status.Completed, Status.Failed, Status.Canceled, Status.Terminated})
_NOT_REWINDABLE = frozenset({Status.Completed, Status.Canceled, Status.Terminated})
_OPERATIONS = ("terminate", "suspend", "resume", "rewind", "restart")


def _default_resolver(task_hub: str | None, connection: str | None) -> FunctionsDurableClient:
    return runtime.client_for(task_hub, connection)


def _default_targets() -> AppTargets:
    return runtime.app_targets()


def openapi_document() -> bytes | None:
    """The management API's OpenAPI description (``None`` if the package was built without it)."""
    try:
        return resources.files(__package__).joinpath(OPENAPI_FILE).read_bytes()
    except (FileNotFoundError, OSError):
        return None


def _route_not_found(request: Request) -> Response:
    return not_found(f"No management API route matches {request.method} {request.url.path}.").response()


class ManagementApi:
    """Route handlers; each takes a Starlette request and returns the DF-shaped response."""

    def __init__(self, resolve_client: ClientResolver, targets: TargetsProvider) -> None:
        self._resolve = resolve_client
        self._targets = targets

    # ---- helpers -------------------------------------------------------------------------
    def client(self, query: Query) -> FunctionsDurableClient:
        """The client for the request's ``taskHub``/``connection``: only pairs the app uses (else 400)."""
        task_hub, connection = query.get("taskHub") or None, query.get("connection") or None
        self._targets().check(task_hub, connection)
        return self._resolve(task_hub, connection)

    @staticmethod
    def base_url(request: Request) -> str:
        """The API root as clients see it: the public base URL (or the request origin) + mount path."""
        origin = public_base_url() or origin_of(str(request.url))
        return origin + encode_path(str(request.scope.get("root_path", "")).rstrip("/"))

    @classmethod
    def self_url(cls, request: Request) -> str:
        """The request's own URL, percent-encoded (safe in a ``Location`` header)."""
        root = str(request.scope.get("root_path", ""))
        path = str(request.scope.get("path", ""))
        relative = path[len(root) :] if root and path.startswith(root) else path
        query = request.scope.get("query_string", b"").decode("latin-1")
        return cls.base_url(request) + encode_path(relative) + (f"?{encode_query(query)}" if query else "")

    def accepted(
        self, request: Request, query: Query, client: FunctionsDurableClient, instance_id: str
    ) -> Response:
        """202 with the check-status payload of ``instance_id``."""
        suffix = query_suffix(
            client.task_hub_name, query.get("connection") or DEFAULT_CONNECTION_NAME, code_of(request)
        )
        payload = management_payload(self.base_url(request), instance_id, suffix, include_rewind=False)
        return json_response(payload, 202, check_status_headers(payload))

    @staticmethod
    def status_response(request: Request, query: Query, status: Any) -> Response:
        """The GET-status answer: 202 while running, 200 when finished (500 for Failed if asked)."""
        body = status.to_json()
        if status.runtime_status in _RUNNING:
            return json_response(body, 202, {"Location": ManagementApi.self_url(request), "Retry-After": "5"})
        if status.runtime_status is Status.Failed and query.bool("returnInternalServerErrorOnFailure", False):
            return json_response(body, 500)
        return json_response(body, 200)

    @staticmethod
    def wait_options(query: Query) -> WaitOptions | None:
        """``timeout``/``pollingInterval`` (seconds) when both are given, checked before acting (else 400)."""
        timeout, interval = query.seconds("timeout"), query.seconds("pollingInterval")
        if timeout is None or interval is None:
            return None
        try:
            return check_wait(timeout, interval)
        except ValueError as e:
            raise argument_error(str(e)) from None

    async def respond_started(
        self,
        request: Request,
        query: Query,
        client: FunctionsDurableClient,
        instance_id: str,
        wait: WaitOptions | None,
    ) -> Response:
        """202 check-status, or with ``wait`` the result if it comes in time; stops if the caller leaves."""
        if wait is None:
            return self.accepted(request, query, client, instance_id)

        async def finished() -> Any:
            status = await client.get_status(instance_id)
            return status if status and status.runtime_status in _FINISHED else None

        try:
            status = await poll_until(finished, wait, disconnect_waiter(request.receive))
        except ClientDisconnected:
            log.info("the caller left while waiting for %r; stopped polling", instance_id)
            return Response(status_code=202)  # nobody reads it
        if status is None:
            return self.accepted(request, query, client, instance_id)
        if status.runtime_status is Status.Completed:
            return json_response(status.output, 200)
        return self.status_response(request, query, status)

    @staticmethod
    def instance_id(request: Request) -> str:
        return validate_instance_id(request.path_params["instanceId"], allow_entity=True)

    @staticmethod
    def entity_id(request: Request) -> EntityId:
        key = request.path_params["entityKey"]
        return EntityId(request.path_params["entityName"], "" if key == "$" else key)

    # ---- orchestrators/{functionName}[/{instanceId}] ---------------------------------------
    async def start(self, request: Request) -> Response:
        if request.method != "POST":
            return _route_not_found(request)
        query = Query(request)
        client = self.client(query)
        name = request.path_params["functionName"]
        client.validate_orchestrator(name)
        instance_id = request.path_params.get("instanceId")
        if instance_id is not None:
            validate_instance_id(instance_id)
        _, value = await json_body(request)
        version = query.get("version")  # DF Python's start_new(..., version=) sends it here
        wait = self.wait_options(query)
        instance_id = await client.start_new(name, instance_id, unwrap_json_text(value), version)
        return await self.respond_started(request, query, client, instance_id, wait)

    # ---- instances/ ------------------------------------------------------------------------
    async def instances(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._list(request)
        if request.method == "DELETE":
            return await self._purge_many(request)
        return _route_not_found(request)

    async def _list(self, request: Request) -> Response:
        query = Query(request)
        client = self.client(query)
        statuses, token = await client.list_instances(
            created_time_from=query.datetime("createdTimeFrom"),
            created_time_to=query.datetime("createdTimeTo"),
            runtime_status=query.runtime_statuses(),
            instance_id_prefix=query.get("instanceIdPrefix") or None,
            page_size=query.positive_int("top") or 100,
            continuation_token=request.headers.get(CONTINUATION_HEADER) or None,
            show_input=query.bool("showInput", False),
        )
        return json_response([s.to_json() for s in statuses], 200, {CONTINUATION_HEADER: token or ""})

    async def _purge_many(self, request: Request) -> Response:
        query = Query(request)
        created_from = query.datetime("createdTimeFrom")
        if created_from is None:
            # DF answers this one with a bare JSON string.
            return json_response("Please provide value for 'createdTimeFrom' parameter.", 400)
        client = self.client(query)
        result = await client.purge_instance_history_by(
            created_from, query.datetime("createdTimeTo"), query.runtime_statuses()
        )
        if result.instances_deleted == 0:
            return not_found("No instances matched the purge criteria.").response()
        return json_response(result.to_json(), 200)

    # ---- instances/{instanceId} --------------------------------------------------------------
    async def instance(self, request: Request) -> Response:
        if request.method not in ("GET", "DELETE"):
            return _route_not_found(request)
        query = Query(request)
        client = self.client(query)
        instance_id = self.instance_id(request)
        if request.method == "DELETE":
            try:
                result = await client.purge_instance_history(instance_id)
            except InvalidOperationError as e:  # not finished: the client purges finished instances only
                raise error(409, str(e)) from None
            if result.instances_deleted == 0:
                raise not_found(f"No instance with ID '{instance_id}' found.")
            return json_response(result.to_json(), 200)
        status = await client.get_status(
            instance_id,
            show_history=query.bool("showHistory", False),
            show_history_output=query.bool("showHistoryOutput", False),
            show_input=query.bool("showInput", True),
        )
        if not status:
            raise not_found(f"No instance with ID '{instance_id}' found.")
        return self.status_response(request, query, status)

    # ---- instances/{instanceId}/raiseEvent/{eventName} ---------------------------------------
    async def raise_event(self, request: Request) -> Response:
        if request.method != "POST":
            return _route_not_found(request)
        query = Query(request)
        client = self.client(query)
        instance_id = self.instance_id(request)
        if media_type(request) != "application/json":
            raise error(400, "Only application/json request content is supported")
        _, value = await json_body(request)
        await client.raise_event(
            instance_id, request.path_params["eventName"], unwrap_json_text(value, scalars=False)
        )
        return Response(status_code=202)

    # ---- instances/{instanceId}/{operation} --------------------------------------------------
    async def operation(self, request: Request) -> Response:
        operation = request.path_params["operation"].lower()
        if request.method != "POST" or operation not in _OPERATIONS:
            return _route_not_found(request)
        query = Query(request)
        client = self.client(query)
        instance_id = self.instance_id(request)
        reason = query.get("reason")
        if operation == "restart":
            return await self._restart(request, query, client, instance_id)
        if operation == "rewind":
            await self._check_rewindable(client, instance_id)
            await client.rewind(instance_id, reason)
        else:
            await getattr(client, operation)(instance_id, reason)
        return Response(status_code=202)

    @staticmethod
    async def _check_rewindable(client: FunctionsDurableClient, instance_id: str) -> None:
        status = await client.get_status(instance_id)
        if not status:
            raise not_found(f"No instance with ID '{instance_id}' found.")
        if status.runtime_status in _NOT_REWINDABLE:
            raise error(
                410,
                f"Instance '{instance_id}' is {status.runtime_status.value}; only Failed instances can be rewound.",
            )
        if status.runtime_status is not Status.Failed:
            raise error(
                409,
                f"Instance '{instance_id}' is {status.runtime_status.value}; only Failed instances can be rewound.",
            )

    async def _restart(
        self, request: Request, query: Query, client: FunctionsDurableClient, instance_id: str
    ) -> Response:
        with_new_id = query.bool("restartWithNewInstanceId", True)
        wait = self.wait_options(query)
        if not await client.get_status(instance_id):
            raise argument_error("InstanceId does not match a valid orchestration instance.")
        new_id = await client.restart(instance_id, with_new_id)
        return await self.respond_started(request, query, client, new_id, wait)

    # ---- entities ------------------------------------------------------------------------------
    async def entities(self, request: Request) -> Response:
        if request.method != "GET":
            return _route_not_found(request)
        query = Query(request)
        client = self.client(query)
        items, token = await client.list_entities(
            entity_name=request.path_params.get("entityName") or None,
            page_size=query.positive_int("top") or 100,
            continuation_token=request.headers.get(CONTINUATION_HEADER) or None,
            fetch_state=query.bool("fetchState", False),
            last_operation_time_from=query.datetime("lastOperationTimeFrom"),
            last_operation_time_to=query.datetime("lastOperationTimeTo"),
        )
        return json_response(items, 200, {CONTINUATION_HEADER: token or ""})

    async def entity(self, request: Request) -> Response:
        query = Query(request)
        client = self.client(query)
        entity_id = self.entity_id(request)
        if request.method == "GET":
            state = await client.read_entity_state(entity_id)
            if not state.entity_exists:
                raise not_found(f"Entity '{entity_id.name}' with key '{entity_id.key}' does not exist.")
            return json_response(state.entity_state, 200)
        if request.method == "POST":
            client.validate_entity(entity_id.name)
            value = await self._entity_input(request)
            await client.signal_entity(entity_id, query.get("op") or "", value)
            return Response(status_code=202)
        if request.method == "DELETE":
            client.validate_entity(entity_id.name)
            await client.delete_entity(entity_id)
            return Response(status_code=202)
        return _route_not_found(request)

    @staticmethod
    async def _entity_input(request: Request) -> Any:
        """JSON for ``application/json`` bodies, the raw text otherwise, ``None`` when empty."""
        if media_type(request) == "application/json":
            _, value = await json_body(request, "Could not parse JSON content")
            return unwrap_json_text(value)
        raw = await request.body()
        if not raw:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise bad_request("Entity operation input must be UTF-8 text or JSON.", e) from None

    async def make_primary(self, request: Request) -> Response:
        return Response(status_code=200)

    async def openapi(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _route_not_found(request)
        document = openapi_document()
        if document is None:
            raise not_found("This installation has no OpenAPI description of the management API.")
        return Response(document, media_type=JSON_CONTENT_TYPE)


class _TrimTrailingSlash:
    """DF trims slashes around the route: ``instances/`` is ``instances``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            root = scope.get("root_path", "")
            if len(path) > len(root) + 1 and path.endswith("/"):
                scope = dict(scope, path=path.rstrip("/") or "/")
        await self.app(scope, receive, send)


def create_management_app(
    resolve_client: ClientResolver | None = None, *, targets: TargetsProvider | None = None
) -> ASGIApp:
    """The management API as an ASGI app (routes relative to where it is mounted).

    ``targets`` gives the task hubs/connections callers may name (default: the installed runtime's,
    else the configured hub only); ``resolve_client`` turns an allowed pair into a client.
    """
    api = ManagementApi(resolve_client or _default_resolver, targets or _default_targets)

    def route(path: str, handler: Callable[[Request], Any]) -> Route:
        return Route(path, api_endpoint(handler), methods=_ALL_METHODS)

    routes = [
        route("/orchestrators/{functionName}", api.start),
        route("/orchestrators/{functionName}/{instanceId}", api.start),
        route("/entities", api.entities),
        route("/entities/{entityName}", api.entities),
        route("/entities/{entityName}/{entityKey}", api.entity),
        route("/instances", api.instances),
        route("/instances/{instanceId}", api.instance),
        route("/instances/{instanceId}/raiseEvent/{eventName}", api.raise_event),
        route("/instances/{instanceId}/{operation}", api.operation),
        route("/makeprimary", api.make_primary),
        route(f"/{OPENAPI_FILE}", api.openapi),
    ]

    async def unmatched(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            return error(exc.status_code, str(exc.detail)).response()
        return _route_not_found(request)

    app = Starlette(routes=routes, exception_handlers={HTTPException: unmatched})
    app.router.redirect_slashes = False
    return _TrimTrailingSlash(app)
