"""Model classes under the paths azure-functions-durable users import them from.

``from azure.durable_functions.models import X`` becomes ``from durable_azure.models import X``, and
the submodules users reach into exist too: ``durable_azure.models.utils.entity_utils.EntityId``,
``durable_azure.models.DurableOrchestrationContext.DurableOrchestrationContext``, and so on (as in
DF, ``models.DurableOrchestrationContext`` is the class; the module is reached by ``from ... import``).
"""

# Imported from the submodules, as DF does: the package attribute is then the class, and a later
# `import durable_azure.models.DurableOrchestrationContext` does not rebind it to the module.
from ..errors import FailureDetails
from .DurableEntityContext import DurableEntityContext
from .DurableHttpRequest import DurableHttpRequest
from .DurableOrchestrationClient import DurableOrchestrationClient
from .DurableOrchestrationContext import DurableOrchestrationContext
from .DurableOrchestrationStatus import DurableOrchestrationStatus
from .EntityStateResponse import EntityStateResponse
from .OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from .PurgeHistoryResult import PurgeHistoryResult
from .RetryOptions import RetryOptions
from .Task import TaskBase, TaskState, TimerTask
from .TokenSource import ManagedIdentityTokenSource

__all__ = [
    "DurableEntityContext",
    "DurableHttpRequest",
    "DurableOrchestrationClient",
    "DurableOrchestrationContext",
    "DurableOrchestrationStatus",
    "EntityStateResponse",
    "FailureDetails",
    "ManagedIdentityTokenSource",
    "OrchestrationRuntimeStatus",
    "PurgeHistoryResult",
    "RetryOptions",
    "TaskBase",
    "TaskState",
    "TimerTask",
]
