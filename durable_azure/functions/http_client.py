"""``FunctionsDurableClient``: the client handed to HTTP functions, with the DF HTTP helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import azure.functions as func

from ..client import DurableOrchestrationClient
from ..errors import FunctionNotFoundError
from ..orchestration import serialization
from ..orchestration.entity_id import EntityId
from ..orchestration.status import OrchestrationRuntimeStatus
from ..storage.taskhub import TaskHubStorage
from .urls import (
    DEFAULT_CONNECTION_NAME,
    DEFAULT_ORIGIN,
    WEBHOOK_BASE_PATH,
    check_status_headers,
    code_of,
    management_payload,
    origin_of,
    public_base_url,
    query_suffix,
    request_url,
)
from .waits import ClientDisconnected, check_wait, disconnect_waiter_of, poll_until

if TYPE_CHECKING:
    from ..registry import DurableRegistry
    from .runtime import HostedRuntime

_JSON = "application/json"


def function_not_found(name: str, kind: str, known: list[str]) -> FunctionNotFoundError:
    """DF's error for an unknown orchestrator/entity function name."""
    if known:
        info = f"The following are the known {kind} functions: {', '.join(repr(n) for n in sorted(known))}."
    else:
        info = f"No {kind} functions are currently registered!"
    return FunctionNotFoundError(
        f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. Additional info: {info}"
    )


class FunctionsDurableClient(DurableOrchestrationClient):
    """A :class:`DurableOrchestrationClient` for function code: adds the Durable Functions HTTP helpers.

    ``registry`` (the app's durable functions) makes ``start_new`` and ``signal_entity`` reject
    unknown function names with DF's message, as the DF extension does.
    """

    def __init__(
        self,
        storage: TaskHubStorage,
        *,
        notify: Callable[[str], None] | None = None,
        registry: DurableRegistry | None = None,
        management_base: str = WEBHOOK_BASE_PATH,
        origin: str = DEFAULT_ORIGIN,
        connection_name: str = DEFAULT_CONNECTION_NAME,
        owns_storage: bool = True,
        runtime: HostedRuntime | None = None,
        default_version: str = "",
    ) -> None:
        super().__init__(storage, notify=notify, default_version=default_version)
        self.registry = registry
        self.management_base = "/" + management_base.strip("/")
        self.origin = origin.rstrip("/")
        self.connection_name = connection_name
        self.owns_storage = owns_storage
        self.runtime = runtime

    # ---- name checks ---------------------------------------------------------------------
    def validate_orchestrator(self, name: str) -> None:
        """Raise :class:`FunctionNotFoundError` if the app has no orchestrator called ``name``."""
        if self.registry is not None and name not in self.registry.orchestrators:
            raise function_not_found(name, "orchestrator", list(self.registry.orchestrators))

    def validate_entity(self, name: str) -> None:
        """Raise :class:`FunctionNotFoundError` if the app has no entity called ``name``."""
        if self.registry is not None and self.registry.entity(name) is None:
            raise function_not_found(name, "entity", list(self.registry.entities))

    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
        version: str | None = None,
    ) -> str:
        if isinstance(orchestration_function_name, str) and orchestration_function_name:
            self.validate_orchestrator(orchestration_function_name)
        return await super().start_new(orchestration_function_name, instance_id, client_input, version)

    async def signal_entity(
        self,
        entityId: EntityId,
        operation_name: str,
        operation_input: Any = None,
        *,
        scheduled_time: datetime | None = None,
    ) -> None:
        self.validate_entity(entityId.name)
        await super().signal_entity(entityId, operation_name, operation_input, scheduled_time=scheduled_time)

    # ---- HTTP helpers --------------------------------------------------------------------
    def _base_url(self, origin: str) -> str:
        return f"{origin.rstrip('/')}{self.management_base}"

    def _payload(self, origin: str, instance_id: str, code: str | None) -> dict[str, str]:
        query = query_suffix(self.task_hub_name, self.connection_name, code)
        return management_payload(self._base_url(origin), instance_id, query)

    def get_client_response_links(self, request: Any, instance_id: str) -> dict[str, str]:
        """The management URLs of ``instance_id``: on the configured public base URL if there is one,
        else on the origin the request came in on."""
        if request is None:
            return self.create_http_management_payload(instance_id)
        origin = public_base_url() or origin_of(request_url(request))
        return self._payload(origin, instance_id, code_of(request))

    def create_http_management_payload(self, instance_id: str) -> dict[str, str]:
        """The management URLs of ``instance_id`` (on the public base URL, else the host's origin)."""
        return self._payload(public_base_url() or self.origin, instance_id, None)

    def create_check_status_response(self, request: Any, instance_id: str) -> func.HttpResponse:
        """202 Accepted with ``Location``, ``Retry-After: 10`` and the management URLs as JSON."""
        payload = self.get_client_response_links(request, instance_id)
        return func.HttpResponse(
            json.dumps(payload), status_code=202, headers=check_status_headers(payload), mimetype=_JSON
        )

    async def wait_for_completion_or_create_check_status_response(
        self,
        request: Any,
        instance_id: str,
        timeout_in_milliseconds: int = 10000,
        retry_interval_in_milliseconds: int = 1000,
    ) -> func.HttpResponse:
        """Wait up to the timeout: Completed → 200 with the output; Terminated/Canceled → 200 with the
        status; Failed → 500 with the status; still running → the 202 check-status response.

        Both durations must be finite and non-negative, the interval no longer than the timeout
        (``ValueError`` otherwise); polls are at least 0.1 s apart. Under ``durable-azure serve`` the
        wait ends early when the HTTP client disconnects.
        """
        if retry_interval_in_milliseconds > timeout_in_milliseconds:
            raise ValueError(
                f"Total timeout {timeout_in_milliseconds} (ms) should be bigger than "
                f"retry timeout {retry_interval_in_milliseconds} (ms)"
            )
        options = check_wait(
            timeout_in_milliseconds / 1000, retry_interval_in_milliseconds / 1000, limit=None
        )

        async def finished() -> func.HttpResponse | None:
            status = await self.get_status(instance_id)
            return _finished_response(status) if status else None

        try:
            response = await poll_until(finished, options, disconnect_waiter_of(request))
        except ClientDisconnected:
            response = None  # nobody will read the answer
        return self.create_check_status_response(request, instance_id) if response is None else response


def _finished_response(status: Any) -> func.HttpResponse | None:
    runtime_status = status.runtime_status
    if runtime_status is OrchestrationRuntimeStatus.Completed:
        output = status.output
        # As in DF: a string output is the body as is; anything else is JSON-encoded.
        body = output if isinstance(output, str) else json.dumps(output, default=serialization.json_default)
        return func.HttpResponse(body, status_code=200, headers={"Content-Type": _JSON}, mimetype=_JSON)
    if runtime_status in (OrchestrationRuntimeStatus.Canceled, OrchestrationRuntimeStatus.Terminated):
        return func.HttpResponse(
            json.dumps(status.to_json(), default=serialization.json_default), status_code=200, mimetype=_JSON
        )
    if runtime_status is OrchestrationRuntimeStatus.Failed:
        return func.HttpResponse(
            json.dumps(status.to_json(), default=serialization.json_default), status_code=500, mimetype=_JSON
        )
    return None
