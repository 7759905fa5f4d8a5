"""The dashboard as an ASGI app: routes, actions and the answers to bad input and storage outages.

Mount it anywhere (``/durable`` under ``durable-azure serve``, ``/api/durable`` in Azure); links
are built from the mount path and carry the ``code`` the page was opened with. Whoever mounts it
checks keys (the host's :class:`~durable_azure.functions.access.RequireKey` locally, the Functions
host's function key in Azure). GETs only read; every change is a POST that passes
:mod:`.csrf` and a confirmation, and answers with a redirect (so a reload repeats nothing) or, when
the operation is refused, with the page and the error as the client raised it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

from azure.core.exceptions import ResourceNotFoundError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ..client import DurableOrchestrationClient
from ..errors import (
    DurableError,
    InstanceNotFoundError,
    InvalidInputError,
    InvalidOperationError,
    StorageError,
)
from ..orchestration.entity_id import EntityId
from ..orchestration.limits import check_instance_id
from . import csrf
from .entity_pages import list_entities, render_entities, render_entity
from .html import Links, attr, page, text
from .instance_page import ACTIONS, relatives_of, render_confirm, render_instance
from .overview import read_overview
from .pages import BULK_ACTIONS, MAX_BULK, parse_filter, render_instances, render_overview
from .queries import list_instances

__all__ = ["SECURITY_HEADERS", "create_dashboard_app"]

log = logging.getLogger("durable_azure.dashboard")

ClientProvider = Callable[[], DurableOrchestrationClient]
#: Whether an exception means storage could not be reached (answered 503, not 500).
UnavailablePredicate = Callable[[BaseException], bool]

#: Scripts only from the dashboard itself; inline style attributes are allowed (the timeline's bars
#: are positioned with them), inline scripts and event-handler attributes are not.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_MAX_FORM_BYTES = 1_048_576
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_STATUS_OF_ERROR: list[tuple[type[BaseException], int]] = [
    (InstanceNotFoundError, 404),
    (StorageError, 404),  # the task hub does not exist (yet)
    (ResourceNotFoundError, 404),
    (InvalidOperationError, 409),
    (ValueError, 400),
    (DurableError, 400),
]


class _Dashboard:
    def __init__(self, client_provider: ClientProvider, unavailable: UnavailablePredicate) -> None:
        self._client = client_provider
        self._unavailable = unavailable

    # ---- plumbing ------------------------------------------------------------------------
    @staticmethod
    def links(request: Request) -> Links:
        return Links(str(request.scope.get("root_path", "")), request.query_params.get("code") or None)

    def hub(self) -> str:
        return self._client().storage.hub_name

    def html(self, request: Request, token: tuple[str, bool], content: str, status: int = 200) -> Response:
        response = HTMLResponse(content, status_code=status, headers=SECURITY_HEADERS)
        if token[1]:
            csrf.remember(response, request, token[0])
        return response

    def problem_page(self, request: Request, status: int, message: str, active: str = "overview") -> Response:
        body = (
            f'<h1>{status}</h1><p><a href="{attr(self.links(request).url("/"))}">Back to the overview</a></p>'
        )
        content = page(
            self.links(request), title=str(status), hub=self.hub(), body=body, active=active, problem=message
        )
        return self.html(request, csrf.token_of(request), content, status)

    def guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as e:
                if self._unavailable(e):
                    log.warning("dashboard: storage unavailable: %s", e)
                    response = self.problem_page(
                        request, 503, "The task hub's storage account is unavailable; retry later."
                    )
                    response.headers["Retry-After"] = "5"
                    return response
                for kind, status in _STATUS_OF_ERROR:
                    if isinstance(e, kind):
                        if isinstance(e, ResourceNotFoundError):
                            return self.problem_page(
                                request,
                                status,
                                "The task hub does not exist yet: start a worker or an instance first.",
                            )
                        return self.problem_page(request, status, str(e))
                log.exception("dashboard: %s %s failed", request.method, request.url.path)
                return self.problem_page(
                    request,
                    500,
                    "Something went wrong while showing this page; the server log has the details.",
                )

        return endpoint

    # ---- pages ---------------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        client = self._client()
        overview = await read_overview(client.storage)
        links = self.links(request)
        content = page(
            links,
            title="Overview",
            hub=overview.hub,
            body=render_overview(overview, links),
            active="overview",
            refresh=True,
        )
        return self.html(request, csrf.token_of(request), content)

    async def instances(self, request: Request) -> Response:
        links = self.links(request)
        query = parse_qs(request.url.query, keep_blank_values=True)
        filters = parse_filter(query)
        token = request.query_params.get("token") or None
        page_text = request.query_params.get("page", "1")
        page_number = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
        result = await list_instances(self._client().storage, filters, token)
        csrf_token = csrf.token_of(request)
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "notice"]
        back = request.url.path + ("?" + urlencode(kept) if kept else "")
        content = page(
            links,
            title="Instances",
            hub=self.hub(),
            body=render_instances(
                filters, result, links, page_number=page_number, csrf=csrf_token[0], back=back
            ),
            active="instances",
            refresh=True,
            notice=request.query_params.get("notice"),
        )
        return self.html(request, csrf_token, content)

    async def instance(
        self, request: Request, *, problem: str | None = None, status_code: int = 200
    ) -> Response:
        links = self.links(request)
        instance_id = check_instance_id(request.path_params["instanceId"])
        client = self._client()
        status = await client.get_status(instance_id, show_input=True)
        if not status:
            raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
        events = await client.get_history(instance_id)
        relatives = relatives_of(events)
        if relatives.children:
            children = await asyncio.gather(*(client.get_status(c[1]) for c in relatives.children[:100]))
            relatives.children = [
                (name, child_id, s.runtime_status.value if s and s.runtime_status else None)
                for (name, child_id, _), s in zip(relatives.children, children, strict=False)
            ] + relatives.children[100:]
        token = csrf.token_of(request)
        body, css = render_instance(status.to_json(), events, relatives, links, token[0])
        content = page(
            links,
            title=f"{status.name} {instance_id}",
            hub=client.storage.hub_name,
            body=body,
            active="instances",
            extra_css=css,
            refresh=True,
            notice=request.query_params.get("notice"),
            problem=problem,
        )
        return self.html(request, token, content, status_code)

    async def entities(self, request: Request) -> Response:
        links = self.links(request)
        name = (request.query_params.get("name") or "").strip()
        key = (request.query_params.get("key") or "").strip()
        page_text = request.query_params.get("page", "1")
        page_number = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
        rows, next_token = await list_entities(
            self._client().storage, name, key, 50, request.query_params.get("token") or None
        )
        body = render_entities(rows, next_token, links, name=name, key_prefix=key, page_number=page_number)
        content = page(
            links,
            title="Entities",
            hub=self.hub(),
            body=body,
            active="entities",
            refresh=True,
            notice=request.query_params.get("notice"),
        )
        return self.html(request, csrf.token_of(request), content)

    @staticmethod
    def entity_id(request: Request) -> EntityId:
        raw = request.query_params.get("id") or ""
        if not raw.startswith("@") or raw.count("@") < 2:
            raise InvalidInputError(f"Not an entity id (expected @name@key): {raw!r}.")
        check_instance_id(raw, allow_entity=True)
        return EntityId.get_entity_id(raw)

    async def entity(
        self, request: Request, *, problem: str | None = None, status_code: int = 200
    ) -> Response:
        links = self.links(request)
        entity = self.entity_id(request)
        client = self._client()
        state = await client.read_entity_state(entity)
        record = await client.storage.instances.get(
            f"@{entity.name}@{entity.key}", fetch_input=False, fetch_output=False
        )
        token = csrf.token_of(request)
        body = render_entity(
            entity,
            state.entity_exists,
            state.entity_state,
            record.last_updated_time if record else None,
            links,
            token[0],
        )
        content = page(
            links,
            title=f"{entity.name} {entity.key}",
            hub=client.storage.hub_name,
            body=body,
            active="entities",
            refresh=True,
            notice=request.query_params.get("notice"),
            problem=problem,
        )
        return self.html(request, token, content, status_code)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or suffix not in _STATIC_TYPES:
            return Response("Not found", status_code=404, media_type="text/plain")
        try:
            data = resources.files(__package__).joinpath("static").joinpath(name).read_bytes()
        except (FileNotFoundError, OSError):
            return Response("Not found", status_code=404, media_type="text/plain")
        headers = {"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"}
        return Response(data, media_type=_STATIC_TYPES[suffix], headers=headers)

    # ---- actions -------------------------------------------------------------------------
    async def _form(self, request: Request) -> dict[str, str] | Response:
        if not csrf._same_origin(request):
            return self.problem_page(request, 403, "Refused: this request came from another site.")
        if not request.cookies.get(csrf.COOKIE):
            return self.problem_page(request, 403, csrf.check(request, None) or "Refused.")
        # The pages' forms are urlencoded (no file uploads): the standard library reads them.
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            return self.problem_page(request, 415, "Send the form as application/x-www-form-urlencoded.")
        raw = await request.body()
        if len(raw) > _MAX_FORM_BYTES:
            return self.problem_page(request, 413, f"The form is larger than {_MAX_FORM_BYTES:,} bytes.")
        try:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError) as e:
            return self.problem_page(request, 400, f"Unreadable form: {e}")
        values = {k: v[-1] for k, v in parsed.items()}
        refused = csrf.check(request, values.get("csrf"))
        if refused:
            return self.problem_page(request, 403, refused)
        return values

    async def instance_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ACTIONS:
            return self.problem_page(request, 404, f"No action {action!r}.")
        values = await self._form(request)
        if isinstance(values, Response):
            return values
        links = self.links(request)
        instance_id = check_instance_id(request.path_params["instanceId"])
        if values.get("confirmed") != "1":
            token = csrf.token_of(request)
            body = render_confirm(links, instance_id, action, values, token[0])
            return self.html(
                request, token, page(links, title="Confirm", hub=self.hub(), body=body, active="instances")
            )
        try:
            notice, target = await self._run(instance_id, action, values, links)
        except Exception as e:
            if self._unavailable(e):
                raise
            status = next((s for kind, s in _STATUS_OF_ERROR if isinstance(e, kind)), None)
            if status is None:
                raise
            message = f"{ACTIONS[action][0]} failed ({status}, {type(e).__name__}): {e}"
            if action == "purge" and isinstance(e, InstanceNotFoundError):
                return self.problem_page(request, 404, message, "instances")
            return await self.instance(request, problem=message, status_code=status)
        return RedirectResponse(_with_notice(target, notice), status_code=303)

    async def _run(
        self, instance_id: str, action: str, values: dict[str, str], links: Links
    ) -> tuple[str, str]:
        client = self._client()
        reason = values.get("reason") or None
        if action == "raise-event":
            event = (values.get("event") or "").strip()
            if not event:
                raise InvalidInputError("Give the event a name.")
            data = _json_field(values.get("data"))
            if not await client.get_status(instance_id):
                raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
            await client.raise_event(instance_id, event, data)
            return f"Raised event {event!r}.", links.instance(instance_id)
        if action == "restart":
            new_id = await client.restart(instance_id, values.get("new_id") == "1")
            return f"Restarted as {new_id}.", links.instance(new_id)
        if action == "purge":
            result = await client.purge_instance_history(instance_id)
            if result.instances_deleted == 0:
                raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
            return f"Purged {instance_id}.", links.url("/instances")
        method = {"terminate": client.terminate, "suspend": client.suspend, "resume": client.resume}.get(
            action, client.rewind
        )
        await method(instance_id, reason)
        return f"{ACTIONS[action][0]} requested.", links.instance(instance_id)

    async def bulk(self, request: Request) -> Response:
        """One action on the instances selected in the list, each reported; back to the same list."""
        values = await self._form(request)
        if isinstance(values, Response):
            return values
        links = self.links(request)
        action = values.get("action") or ""
        if action not in BULK_ACTIONS:
            return self.problem_page(request, 400, f"No bulk action {action!r}.", "instances")
        ids = list(dict.fromkeys(parse_qs((await request.body()).decode("utf-8")).get("instance", [])))
        if len(ids) > MAX_BULK:
            return self.problem_page(
                request, 400, f"Select at most {MAX_BULK} instances at once.", "instances"
            )
        back = values.get("back") or ""
        root = links.root.rstrip("/")
        if not back.startswith(f"{root}/instances") or "//" in back or "\\" in back:
            back = links.url("/instances")
        label = BULK_ACTIONS[action][0]
        if not ids:
            return RedirectResponse(_with_notice(back, "Nothing selected."), status_code=303)
        if values.get("confirmed") != "1":
            token = csrf.token_of(request)
            hidden = "".join(f'<input type="hidden" name="instance" value="{attr(i)}">' for i in ids)
            body = (
                f"<h1>{text(label)}</h1><p>{text(BULK_ACTIONS[action][1])} ({len(ids)})</p>"
                f"<ul>{''.join(f'<li class=mono>{text(i)}</li>' for i in ids)}</ul>"
                f'<form method="post" action="{attr(links.url("/bulk"))}">'
                f'<input type="hidden" name="csrf" value="{attr(token[0])}"><input type="hidden" name="confirmed" value="1">'
                f'<input type="hidden" name="action" value="{attr(action)}"><input type="hidden" name="back" value="{attr(back)}">'
                f'{hidden}<button type="submit" class="danger">Yes</button> <a href="{attr(back)}">Cancel</a></form>'
            )
            return self.html(
                request, token, page(links, title="Confirm", hub=self.hub(), body=body, active="instances")
            )
        client = self._client()
        failures: list[str] = []
        for instance_id in ids:
            try:
                check_instance_id(instance_id)
                if action == "purge":
                    result = await client.purge_instance_history(instance_id)
                    if result.instances_deleted == 0:
                        raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
                else:
                    await getattr(client, action)(instance_id, "bulk action from the dashboard")
            except (DurableError, ValueError) as e:
                if self._unavailable(e):
                    raise
                failures.append(f"{instance_id}: {e}")
        notice = f"{label}: {len(ids) - len(failures)} of {len(ids)} done."
        if failures:
            notice += " Failed: " + "; ".join(failures[:10]) + (" …" if len(failures) > 10 else "")
        return RedirectResponse(_with_notice(back, notice), status_code=303)

    async def entity_action(self, request: Request) -> Response:
        values = await self._form(request)
        if isinstance(values, Response):
            return values
        links = self.links(request)
        entity = self.entity_id(request)
        instance_id = f"@{entity.name}@{entity.key}"
        op = values.get("op")
        if values.get("confirmed") != "1":
            values["confirmed"] = "1"
            token = csrf.token_of(request)
            question = f"{'Delete' if op == 'delete' else 'Signal'} entity {instance_id}?"
            hidden = "".join(
                f'<input type="hidden" name="{attr(k)}" value="{attr(v)}">'
                for k, v in values.items()
                if k != "csrf"
            )
            action = links.url("/entities/action", {"id": instance_id})
            body = (
                f'<h1>Confirm</h1><p>{text(question)}</p><form method="post" action="{attr(action)}">'
                f'<input type="hidden" name="csrf" value="{attr(token[0])}">{hidden}'
                '<button type="submit" class="danger">Yes</button></form>'
            )
            return self.html(
                request, token, page(links, title="Confirm", hub=self.hub(), body=body, active="entities")
            )
        client = self._client()
        try:
            if op == "delete":
                await client.delete_entity(entity)
                notice = "Delete signalled."
            elif op == "signal":
                operation = (values.get("operation") or "").strip()
                if not operation:
                    raise InvalidInputError("Give the operation a name.")
                await client.signal_entity(entity, operation, _json_field(values.get("data")))
                notice = f"Signalled {operation!r}."
            else:
                raise InvalidInputError(f"Unknown entity action {op!r}.")
        except (DurableError, ValueError) as e:
            if self._unavailable(e):
                raise
            message = f"Failed (400, {type(e).__name__}): {e}"
            return await self.entity(request, problem=message, status_code=400)
        return RedirectResponse(_with_notice(links.entity(instance_id), notice), status_code=303)


def _json_field(raw: str | None) -> Any:
    if raw is None or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise InvalidInputError(f"The body is not valid JSON: {e}") from None


def _with_notice(url: str, notice: str) -> str:
    from urllib.parse import quote

    return f"{url}{'&' if '?' in url else '?'}notice={quote(notice, safe='')}"


def _never_unavailable(error: BaseException) -> bool:
    return False


def create_dashboard_app(
    client_provider: ClientProvider, *, unavailable: UnavailablePredicate = _never_unavailable
) -> ASGIApp:
    """The dashboard for the hub of ``client_provider()`` (called per request)."""
    dash = _Dashboard(client_provider, unavailable)
    g = dash.guarded
    routes = [
        Route("/", g(dash.overview), methods=["GET"]),
        Route("/instances", g(dash.instances), methods=["GET"]),
        Route("/instances/{instanceId}", g(dash.instance), methods=["GET"]),
        Route("/instances/{instanceId}/{action}", g(dash.instance_action), methods=["POST"]),
        Route("/bulk", g(dash.bulk), methods=["POST"]),
        Route("/entities", g(dash.entities), methods=["GET"]),
        Route("/entities/view", g(dash.entity), methods=["GET"]),
        Route("/entities/action", g(dash.entity_action), methods=["POST"]),
        Route("/static/{name}", dash.static, methods=["GET"]),
    ]
    for route in routes:  # an instance id may hold any character but '/' (a newline too)
        route.path_regex = re.compile(route.path_regex.pattern, route.path_regex.flags | re.DOTALL)
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False
    return app
