"""The v1 ``durableClient`` binding: the JSON string a v1 starter receives, and the client built from it.

A v1 HTTP starter is ``async def main(req, starter: str)`` and calls
``df.DurableOrchestrationClient(starter)``. The host fills ``starter`` with :func:`binding_json` (the
same keys as the Durable extension's binding: ``taskHubName``, ``creationUrls``, ``managementUrls``,
``baseUrl``, ``rpcBaseUrl``... pointing at this app's management API), and importing this module
registers :func:`client_from_binding_json` as the factory behind ``DurableOrchestrationClient(str)``.
"""

from __future__ import annotations

import json
from typing import Any

from ..client.binding import set_binding_factory
from ..errors import InvalidInputError
from . import runtime
from .http_client import FunctionsDurableClient
from .urls import DEFAULT_CONNECTION_NAME, management_payload, public_base_url, query_suffix

#: Placeholder instance id in ``managementUrls``, as in the Durable extension's binding data.
INSTANCE_ID_PLACEHOLDER = "INSTANCEID"


def _management_root() -> str:
    active = runtime.active()
    origin = public_base_url() or (active.origin if active is not None else runtime.default_origin())
    base = active.management_base if active is not None else runtime._default_base()
    return origin.rstrip("/") + "/" + base.strip("/")


def binding_json(task_hub: str | None = None, connection_name: str | None = None) -> str:
    """The ``durableClient`` binding's value for a v1 function (a JSON string)."""
    hub = task_hub or runtime.default_settings().hub_name
    connection = connection_name or DEFAULT_CONNECTION_NAME
    root = _management_root()
    query = query_suffix(hub, connection)
    start = f"{root}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}"
    data: dict[str, Any] = {
        "taskHubName": hub,
        "connectionName": connection,
        "creationUrls": {
            "createNewInstancePostUri": start,
            "createAndWaitOnNewInstancePostUri": start.replace("?", "?timeout={timeoutInSeconds}&", 1)
            + "&pollingInterval={intervalInSeconds}",
        },
        "managementUrls": management_payload(root, INSTANCE_ID_PLACEHOLDER, query),
        "baseUrl": root,
        "requiredQueryStringParameters": query,
        "rpcBaseUrl": root + "/",
        "httpBaseUrl": "",
    }
    return json.dumps(data)


def client_from_binding_json(text: str) -> FunctionsDurableClient:
    """The client for a ``durableClient`` binding string (call it inside ``async def``)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("taskHubName"), str):
        raise InvalidInputError(
            "DurableOrchestrationClient(starter) expects the durableClient binding's JSON string "
            f"(an object with 'taskHubName'); got {text[:80]!r}."
        )
    connection = data.get("connectionName")
    return runtime.client_for(
        data["taskHubName"], connection if isinstance(connection, str) and connection else None
    )


set_binding_factory(client_from_binding_json)
