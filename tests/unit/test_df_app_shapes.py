"""Every shape a Durable Functions Python app comes in is found: DFApp, df.Blueprint on a plain
func.FunctionApp (nested too), and the v1 model (function folders) — plus what v1 code reaches for:
DurableOrchestrationClient(starter_json) and the azure.durable_functions.models.* module paths.
``migrate-v1`` is checked on real v1 samples (tests/e2e/df_samples)."""

from __future__ import annotations

import asyncio
import inspect
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from click.testing import CliRunner

import durable_azure as df
from durable_azure.cli.main import cli
from durable_azure.errors import AppDefinitionError, InvalidInputError
from durable_azure.functions.app import adopt_plain_app, durable_registry_of
from durable_azure.functions.client_json import binding_json
from durable_azure.functions.http_client import FunctionsDurableClient
from durable_azure.functions.loader import load_app

SAMPLES = Path(__file__).resolve().parents[1] / "e2e" / "df_samples" / "samples"
V1_SAMPLES = [
    "function_chaining",
    "fan_in_fan_out",
    "simple_sub_orchestration",
    "counter_entity",
    "human_interaction",
]
DURABLE_BINDINGS = {
    "orchestrationTrigger",
    "activityTrigger",
    "entityTrigger",
    "durableClient",
    "orchestrationClient",
}


@pytest.fixture(autouse=True)
def _fresh_modules() -> Iterator[None]:
    """Each loaded app gets its own ``__app__``/``function_app`` modules and sys.path entry."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name in ("function_app", "__app__") or name.startswith("__app__."):
            del sys.modules[name]


def _bindings(function: Any) -> set[str]:
    return {json.loads(b)["type"] for b in function.get_raw_bindings()}


# ---- registration, whatever the shape ------------------------------------------------------------


def _blueprint() -> df.Blueprint:
    bp = df.Blueprint()

    @bp.orchestration_trigger(context_name="context")
    def outer(context: df.DurableOrchestrationContext) -> Any:
        return (yield context.call_activity("inner_activity", 1))

    inner = df.Blueprint()

    @inner.activity_trigger(input_name="value")
    def inner_activity(value: int) -> int:
        return value + 1

    @inner.entity_trigger(context_name="context", entity_name="Tally")
    def tally(context: df.DurableEntityContext) -> None:
        context.set_state(1)

    bp.register_functions(inner)  # a nested blueprint
    return bp


def test_a_plain_function_app_with_durable_blueprints_has_all_durable_functions() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(_blueprint())

    @app.route(route="hello")
    def hello(req: func.HttpRequest) -> str:
        return "hi"

    registry = durable_registry_of(app)
    assert set(registry.orchestrators) == {"outer"}
    assert set(registry.activities) == {"inner_activity"}
    assert registry.activity_input_names == {"inner_activity": "value"}
    assert set(registry.entities) == {"tally"}


def test_hidden_durable_functions_leave_only_host_bindings_for_azure() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(_blueprint())
    assert {"orchestrationTrigger", "activityTrigger"} <= set().union(*map(_bindings, app.get_functions()))

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(_blueprint())
    df.enable_azure_hosting(app)
    adopt_plain_app(app)  # idempotent
    indexed = app.get_functions()
    assert [f.get_function_name() for f in indexed] == [
        "durable_management_api",
        "durable_dashboard",
        "durable_workitems",
        "durable_worker_supervisor",
    ]
    assert not set().union(*map(_bindings, indexed)) & DURABLE_BINDINGS
    assert set(durable_registry_of(app).orchestrators) == {"outer"}  # the engine still finds them
    assert set(app.durable_registry().orchestrators) == {"outer"}  # what TaskHubWorker uses (registry_of)


def test_a_blueprint_cannot_take_a_function_app() -> None:
    with pytest.raises(TypeError):
        df.Blueprint().register_functions(df.DFApp())


# ---- the v1 model ------------------------------------------------------------------------------


def test_v1_app_is_loaded_from_function_folders() -> None:
    indexed = load_app(SAMPLES / "counter_entity")
    assert indexed.is_durable
    assert set(indexed.registry.orchestrators) == {"DurableOrchestration"}
    assert set(indexed.registry.entities) == {"counter"}
    orchestrator = indexed.registry.orchestrators["DurableOrchestration"]
    assert inspect.isgeneratorfunction(orchestrator)  # unwrapped from df.Orchestrator.create
    assert [f.get_function_name() for f in indexed.http] == ["DurableTrigger", "RetrieveEntity"]
    trigger = indexed.http[0]
    assert "starter" not in inspect.signature(trigger.get_user_function()).parameters
    assert {"message"} == {b.name for b in trigger.get_bindings() if b.name != "req"}


def test_v1_activity_input_name_comes_from_its_binding() -> None:
    indexed = load_app(SAMPLES / "human_interaction")
    assert indexed.registry.activity_input_names == {"SendSMSChallenge": "phoneNumber"}


def test_v1_activity_output_bindings_get_a_holder_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    indexed = load_app(SAMPLES / "human_interaction")
    activity = indexed.registry.activities["SendSMSChallenge"]
    code = activity(phoneNumber="+15550100")
    assert code.isdigit()
    assert f"Your verification code is {code}" in caplog.text
    assert "twilioSms" in caplog.text


def _write_function(app: Path, name: str, manifest: Any, code: str, script: str = "__init__.py") -> None:
    folder = app / name
    folder.mkdir(parents=True)
    (folder / "function.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    (folder / script).write_text(code)


def test_v1_script_file_entry_point_disabled_and_timer(tmp_path: Path) -> None:
    activity = {
        "scriptFile": "work.py",
        "entryPoint": "run",
        "bindings": [{"name": "x", "type": "activityTrigger", "direction": "in"}],
    }
    _write_function(tmp_path, "Double", activity, "def run(x):\n    return 2 * x\n", script="work.py")
    off = {"disabled": True, "bindings": [{"name": "x", "type": "activityTrigger", "direction": "in"}]}
    _write_function(tmp_path, "Off", off, "def main(x):\n    return x\n")
    timer = {
        "bindings": [{"name": "t", "type": "timerTrigger", "direction": "in", "schedule": "0 */5 * * * *"}]
    }
    _write_function(tmp_path, "Tick", timer, "def main(t):\n    pass\n")
    indexed = load_app(tmp_path)
    assert indexed.registry.activities["Double"](x=4) == 8
    assert "Off" not in indexed.registry.activities
    assert [f.get_function_name() for f in indexed.timers] == ["Tick"]


@pytest.mark.parametrize(
    ("manifest", "code", "message"),
    [
        ("{not json", "def main(x): pass\n", "not valid JSON"),
        ({"bindings": []}, "def main(x): pass\n", "exactly one trigger"),
        (
            {"bindings": [{"name": "x", "type": "activityTrigger"}]},
            "def other(x): pass\n",
            "has no function 'main'",
        ),
        (
            {"scriptFile": "../../elsewhere.py", "bindings": [{"name": "x", "type": "activityTrigger"}]},
            "",
            "outside the app folder",
        ),
    ],
)
def test_v1_bad_definitions_are_named(tmp_path: Path, manifest: Any, code: str, message: str) -> None:
    _write_function(tmp_path, "Broken", manifest, code)
    with pytest.raises(AppDefinitionError, match=message):
        load_app(tmp_path)


def test_durable_orchestration_client_from_the_binding_json() -> None:
    async def run() -> None:
        text = binding_json("SomeHub", "Storage")
        data = json.loads(text)
        assert data["taskHubName"] == "SomeHub"
        assert data["managementUrls"]["statusQueryGetUri"].endswith(
            "/instances/INSTANCEID?taskHub=SomeHub&connection=Storage"
        )
        client = df.DurableOrchestrationClient(text)
        assert isinstance(client, FunctionsDurableClient)
        assert client.task_hub_name == "SomeHub"
        with pytest.raises(InvalidInputError, match="durableClient binding's JSON"):
            df.DurableOrchestrationClient("{}")
        await client.close()

    asyncio.run(run())


def test_df_module_paths_users_import() -> None:
    from durable_azure.models import DurableOrchestrationContext as ViaPackage
    from durable_azure.models.DurableOrchestrationClient import DurableOrchestrationClient
    from durable_azure.models.DurableOrchestrationContext import DurableOrchestrationContext
    from durable_azure.models.Task import TaskBase
    from durable_azure.models.utils.entity_utils import EntityId

    assert ViaPackage is DurableOrchestrationContext is df.DurableOrchestrationContext
    assert DurableOrchestrationClient is df.DurableOrchestrationClient
    assert EntityId is df.EntityId and TaskBase is df.TaskBase


# ---- migrate-v1 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", V1_SAMPLES)
def test_migrate_v1_on_the_df_samples(tmp_path: Path, sample: str) -> None:
    app_dir = tmp_path / sample
    shutil.copytree(SAMPLES / sample, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    before = load_app(app_dir)
    names = (
        set(before.registry.orchestrators),
        set(before.registry.activities),
        set(before.registry.entities),
    )
    http = [(f.get_function_name(), _bindings(f)) for f in before.http]
    sys.modules.pop("__app__", None)

    result = CliRunner().invoke(cli, ["migrate-v1", "--app-dir", str(app_dir)])
    assert result.exit_code == 0, result.output
    assert not list(app_dir.glob("*/function.json"))
    assert list(app_dir.glob("*/function.json.v1"))
    assert "azure-functions-durable" not in (app_dir / "requirements.txt").read_text()
    assert json.loads((app_dir / "host.json").read_text())["extensionBundle"]["version"] == "[4.*, 5.0.0)"

    after = load_app(app_dir)  # now function_app.py, as the Python worker loads it in Azure
    assert (
        set(after.registry.orchestrators),
        set(after.registry.activities),
        set(after.registry.entities),
    ) == names
    after.app.functions_bindings = None  # get_functions() may run once per app: load_app ran it
    indexed = after.app.get_functions()  # what the Functions host sees
    assert not set().union(*map(_bindings, indexed)) & DURABLE_BINDINGS
    assert [(f.get_function_name(), _bindings(f)) for f in after.http] == [
        *http,
        ("durable_management_api", {"httpTrigger", "http"}),
        ("durable_dashboard", {"httpTrigger", "http"}),
    ]

    again = CliRunner().invoke(cli, ["migrate-v1", "--app-dir", str(app_dir)])
    assert again.exit_code == 2 and "already a v2 app" in again.output


def test_migrate_v1_warns_about_bindings_of_durable_functions(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(SAMPLES / "human_interaction", app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    result = CliRunner().invoke(cli, ["migrate-v1", "--app-dir", str(app_dir), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "SendSMSChallenge: its 'twilioSms' binding 'message' is not delivered" in result.output
    assert list(app_dir.glob("*/function.json"))  # a dry run changes nothing
    assert not (app_dir / "function_app.py").exists()


def test_migrate_v1_needs_function_folders(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["migrate-v1", "--app-dir", str(tmp_path)])
    assert result.exit_code == 2 and "nothing to migrate" in result.output
