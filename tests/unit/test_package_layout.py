"""The shape of the package (design: LAYOUT-2), and an engine that stands without Azure Functions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "durable_azure"

TOP_LEVEL_FILES = {
    "__init__.py",
    "registry.py",
    "config.py",
    "testing.py",
    "errors.py",
    "py.typed",
}
# models is a package because DF users import its submodules (models.utils.entity_utils, ...).
TOP_LEVEL_PACKAGES = {
    "cli",
    "client",
    "dashboard",
    "entities",
    "functions",
    "models",
    "orchestration",
    "storage",
    "telemetry",
    "views",
    "worker",
}

# The engine: everything a process needs to run orchestrations, activities and entities, or to
# start and query them, without the Azure Functions SDK installed.
ENGINE_MODULES = [
    "durable_azure.registry",
    "durable_azure.orchestration",
    "durable_azure.storage",
    "durable_azure.worker",
    "durable_azure.client",
    "durable_azure.entities",
    "durable_azure.telemetry",
]

# Run first in each subprocess: `import azure.functions` (and any azure.functions.*) raises
# ImportError, as on a machine without the SDK; and no socket may connect.
BLOCK = """\
import socket
import sys

sys.modules["azure.functions"] = None


def _no_network(*args, **kwargs):
    raise AssertionError("network access: " + repr(args[:2]))


socket.socket.connect = _no_network
socket.socket.connect_ex = _no_network
socket.create_connection = _no_network
socket.getaddrinfo = _no_network


def functions_modules_loaded():
    return sorted(
        name
        for name, module in sys.modules.items()
        if module is not None and name.startswith(("azure.functions", "durable_azure.functions"))
    )
"""


def _entries(directory: Path) -> tuple[set[str], set[str]]:
    files = {p.name for p in directory.iterdir() if p.is_file()}
    dirs = {p.name for p in directory.iterdir() if p.is_dir() and p.name != "__pycache__"}
    return files, dirs


def test_top_level_holds_only_the_public_modules_and_the_packages() -> None:
    files, dirs = _entries(PACKAGE)
    files = {name for name in files if not name.endswith((".pyc", ".pyo"))}
    assert files == TOP_LEVEL_FILES, (
        f"unexpected top-level files {sorted(files - TOP_LEVEL_FILES)}, "
        f"missing {sorted(TOP_LEVEL_FILES - files)}: new modules belong in one of the packages"
    )
    assert dirs == TOP_LEVEL_PACKAGES, (
        f"unexpected top-level packages {sorted(dirs - TOP_LEVEL_PACKAGES)}, "
        f"missing {sorted(TOP_LEVEL_PACKAGES - dirs)}: a new package also needs a place in the "
        "layers contract of pyproject.toml"
    )


def test_every_package_has_an_init() -> None:
    """No namespace packages inside durable_azure: each directory of modules is a regular package."""
    without = sorted(
        str(directory.relative_to(REPO))
        for directory in [PACKAGE, *PACKAGE.rglob("*")]
        if directory.is_dir()
        and directory.name != "__pycache__"
        and not (directory / "__init__.py").is_file()
    )
    assert not without, f"directories without __init__.py: {without}"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_module_imports_without_azure_functions(module: str) -> None:
    result = _run(
        f"""
        import {module}

        loaded = functions_modules_loaded()
        assert not loaded, "importing {module} loaded " + ", ".join(loaded)
        """
    )
    if result.returncode != 0:
        pytest.fail(
            f"{module} does not import without azure.functions (the engine must stand on its own); "
            f"the import chain is in the traceback:\n\n{result.stderr}",
            pytrace=False,
        )


def test_worker_is_built_from_a_hand_made_registry_without_azure_functions() -> None:
    """Constructing a worker needs neither the Functions SDK nor the network (nothing is started)."""
    result = _run(
        """
        from durable_azure.registry import DurableRegistry
        from durable_azure.worker import TaskHubWorker


        def say_hello(name):
            return f"Hello {name}!"


        def hello(context):
            return (yield context.call_activity("SayHello", context.get_input()))


        registry = DurableRegistry(
            orchestrators={"Hello": hello},
            activities={"SayHello": say_hello},
            activity_input_names={"SayHello": "name"},
        )
        worker = TaskHubWorker(registry, "UseDevelopmentStorage=true", hub_name="LayoutCheck")
        assert worker.registry is registry
        assert worker.settings.hub_name == "LayoutCheck"

        loaded = functions_modules_loaded()
        assert not loaded, "building a worker loaded " + ", ".join(loaded)
        print("built", type(worker).__name__)
        """
    )
    if result.returncode != 0:
        pytest.fail(
            "TaskHubWorker(DurableRegistry(...), 'UseDevelopmentStorage=true', hub_name='LayoutCheck') "
            f"failed without azure.functions or the network:\n\n{result.stderr}",
            pytrace=False,
        )
    assert result.stdout.strip() == "built TaskHubWorker"
