"""The public names of durable_azure, pinned so that moving code cannot silently drop or swap one.

A name added on purpose is added here too; a name removed is a breaking change for users.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

import pytest

import durable_azure
import durable_azure.models
import durable_azure.testing

# `import durable_azure as df`: the azure.durable_functions names we provide, plus the engine's own.
PACKAGE_ALL = [
    "ActivityFailedError",
    "Blueprint",
    "DFApp",
    "DurableEntityContext",
    "DurableError",
    "DurableHttpRequest",
    "DurableOrchestrationClient",
    "DurableOrchestrationContext",
    "DurableOrchestrationStatus",
    "Entity",
    "EntityId",
    "EntityOperationFailedError",
    "EntityStateResponse",
    "EventType",
    "FailureDetails",
    "FunctionNotFoundError",
    "FunctionsDurableClient",
    "InstanceAlreadyExistsError",
    "InstanceNotFoundError",
    "InvalidHubNameError",
    "InvalidInputError",
    "InvalidInstanceIdError",
    "InvalidOperationError",
    "ManagedIdentityTokenSource",
    "NonDeterminismError",
    "OperationTimeoutError",
    "OrchestrationRuntimeStatus",
    "OrchestrationStatus",
    "Orchestrator",
    "OrchestratorError",
    "PayloadTooLargeError",
    "PurgeHistoryResult",
    "RetryOptions",
    "SerializationError",
    "StorageError",
    "SubOrchestrationFailedError",
    "TaskBase",
    "TaskFailedError",
    "TaskHubWorker",
    "TaskState",
    "TimerTask",
    "TokenSource",
    "enable_azure_hosting",
]

# `from azure.durable_functions.models import ...` works as `from durable_azure.models import ...`.
MODELS_ALL = [
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

# The in-process test harness (README: `from durable_azure.testing import ExternalEvent, run_orchestrator`).
TESTING_ALL = [
    "ExternalEvent",
    "OrchestrationTestResult",
    "orchestrator_generator_wrapper",
    "run_orchestrator",
]

# Where each public object lives today. The facade must re-export these very objects, not copies:
# `isinstance`/`except` checks across the two import paths depend on it.
HOME = {
    "ActivityFailedError": "durable_azure.errors",
    "Blueprint": "durable_azure.functions.app",
    "DFApp": "durable_azure.functions.app",
    "DurableEntityContext": "durable_azure.entities.context",
    "DurableError": "durable_azure.errors",
    "DurableHttpRequest": "durable_azure.orchestration.durable_http",
    "DurableOrchestrationClient": "durable_azure.client.client",
    "DurableOrchestrationContext": "durable_azure.orchestration.context",
    "DurableOrchestrationStatus": "durable_azure.client.models",
    "Entity": "durable_azure.entities.classes",
    "EntityId": "durable_azure.orchestration.entity_id",
    "EntityOperationFailedError": "durable_azure.errors",
    "EntityStateResponse": "durable_azure.client.models",
    "EventType": "durable_azure.orchestration.history",
    "FailureDetails": "durable_azure.errors",
    "FunctionNotFoundError": "durable_azure.errors",
    "FunctionsDurableClient": "durable_azure.functions.http_client",
    "InstanceAlreadyExistsError": "durable_azure.errors",
    "InstanceNotFoundError": "durable_azure.errors",
    "InvalidHubNameError": "durable_azure.errors",
    "InvalidInputError": "durable_azure.errors",
    "InvalidInstanceIdError": "durable_azure.errors",
    "InvalidOperationError": "durable_azure.errors",
    "ManagedIdentityTokenSource": "durable_azure.orchestration.durable_http",
    "NonDeterminismError": "durable_azure.errors",
    "OrchestrationRuntimeStatus": "durable_azure.orchestration.status",
    "OrchestrationStatus": "durable_azure.orchestration.history",
    "Orchestrator": "durable_azure.entities.classes",
    "OperationTimeoutError": "durable_azure.errors",
    "OrchestratorError": "durable_azure.errors",
    "PayloadTooLargeError": "durable_azure.errors",
    "PurgeHistoryResult": "durable_azure.client.models",
    "RetryOptions": "durable_azure.orchestration.retry",
    "SerializationError": "durable_azure.errors",
    "StorageError": "durable_azure.errors",
    "SubOrchestrationFailedError": "durable_azure.errors",
    "TaskBase": "durable_azure.orchestration.tasks",
    "TaskFailedError": "durable_azure.errors",
    "TaskHubWorker": "durable_azure.worker.worker",
    "TaskState": "durable_azure.orchestration.tasks",
    "TimerTask": "durable_azure.orchestration.tasks",
    "TokenSource": "durable_azure.orchestration.durable_http",
    "enable_azure_hosting": "durable_azure.functions.azure_hosting",
}


def test_all_lists_are_sorted_and_unique() -> None:
    for names in (PACKAGE_ALL, MODELS_ALL, TESTING_ALL):
        assert names == sorted(set(names))


@pytest.mark.parametrize(
    ("module", "pinned"),
    [(durable_azure, PACKAGE_ALL), (durable_azure.models, MODELS_ALL), (durable_azure.testing, TESTING_ALL)],
    ids=["durable_azure", "durable_azure.models", "durable_azure.testing"],
)
def test_public_names_are_pinned(module: ModuleType, pinned: list[str]) -> None:
    exported = sorted(module.__all__)
    missing = sorted(set(pinned) - set(exported))
    added = sorted(set(exported) - set(pinned))
    assert not missing and not added, (
        f"{module.__name__}.__all__ changed: dropped {missing}, added {added}. "
        "Dropping a public name breaks users; an intended addition belongs in this test."
    )
    assert len(exported) == len(set(exported)), f"duplicates in {module.__name__}.__all__"
    absent = [name for name in exported if not hasattr(module, name)]
    assert not absent, f"in {module.__name__}.__all__ but not importable from it: {absent}"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from durable_azure import *", namespace)
    assert sorted(name for name in namespace if name != "__builtins__") == PACKAGE_ALL


@pytest.mark.parametrize("name", sorted(HOME))
def test_public_object_is_the_one_from_its_home_module(name: str) -> None:
    home = importlib.import_module(HOME[name])
    assert getattr(durable_azure, name) is getattr(home, name)


def test_home_map_covers_all() -> None:
    assert sorted(HOME) == PACKAGE_ALL


@pytest.mark.parametrize("name", MODELS_ALL)
def test_models_are_the_package_objects(name: str) -> None:
    """One class per name: durable_azure.models.X is durable_azure.X."""
    assert getattr(durable_azure.models, name) is getattr(durable_azure, name)


def test_version_matches_the_distribution() -> None:
    assert durable_azure.__version__ == importlib.metadata.version("durable-azure")


def test_console_script_resolves() -> None:
    scripts = [
        ep for ep in importlib.metadata.entry_points(group="console_scripts") if ep.name == "durable-azure"
    ]
    assert len(scripts) == 1, scripts
    (script,) = scripts
    assert script.value == "durable_azure.cli:main"
    main = script.load()
    from durable_azure.cli.main import main as home_main

    assert main is home_main
    assert callable(main)
