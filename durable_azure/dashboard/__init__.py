"""The task-hub dashboard: overview, instances, one instance, entities (server-rendered HTML).

``durable-azure serve`` mounts it at ``/durable/``; an app with ``enable_azure_hosting`` serves it
as the function ``durable_dashboard`` at ``/{routePrefix}/durable/`` behind the function key.
"""

from .app import SECURITY_HEADERS, create_dashboard_app

#: Where ``durable-azure serve`` mounts the dashboard (and the instance pages ``/durable/instances/ID``).
DASHBOARD_PATH = "/durable"

__all__ = ["DASHBOARD_PATH", "SECURITY_HEADERS", "create_dashboard_app"]
