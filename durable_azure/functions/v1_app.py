"""The v1 programming model: a function app made of folders, each with a ``function.json``.

:func:`v1_function_app` reads the folders (or definitions already read, as ``durable-azure
migrate-v1`` writes them into ``function_app.py``) and builds the same :class:`DFApp` a v2 app
declares with decorators, so ``serve``, ``worker`` and Azure hosting run both models alike:

* ``orchestrationTrigger`` / ``activityTrigger`` / ``entityTrigger`` functions become the
  engine's orchestrators, activities and entities, named after their folder (``main =
  df.Orchestrator.create(fn)`` and ``df.Entity.create(fn)`` are unwrapped);
* a ``durableClient`` (or the older ``orchestrationClient``) input binding is filled with the
  binding's JSON string, for ``df.DurableOrchestrationClient(starter)``;
* HTTP, timer and other triggers and bindings are declared as in ``function.json``.

Each folder is imported as ``__app__.<folder>`` (as the Python worker does, so relative imports
work) with the app folder on ``sys.path``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from ..errors import AppDefinitionError
from . import client_json  # noqa: F401  # registers DurableOrchestrationClient(starter_json)
from .app import DFApp
from .client_binding import with_durable_client_json

log = logging.getLogger("durable_azure.v1")

MANIFEST = "function.json"
APP_PACKAGE = "__app__"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
#: Durable Functions' own triggers: the engine runs these functions, the host never sees them.
DURABLE_TRIGGERS = frozenset({ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER})
#: The durable client input binding (``orchestrationClient`` is its name before Functions 2.0).
CLIENT_BINDINGS = frozenset({"durableClient", "orchestrationClient"})
#: Keys of a binding that are not extra fields of it.
_BINDING_KEYS = frozenset({"name", "type", "direction"})


@dataclass(frozen=True)
class V1Function:
    """One v1 function: its folder name and its ``function.json``."""

    name: str
    definition: dict[str, Any]

    @property
    def bindings(self) -> list[dict[str, Any]]:
        return list(self.definition.get("bindings") or [])

    @property
    def trigger(self) -> dict[str, Any]:
        triggers = [b for b in self.bindings if str(b.get("type", "")).endswith("Trigger")]
        if len(triggers) != 1:
            raise AppDefinitionError(f"{self.name}/{MANIFEST}: a function needs exactly one trigger binding.")
        return triggers[0]


def is_v1_app(app_dir: str | Path) -> bool:
    """True if ``app_dir`` has function folders (``*/function.json``)."""
    return any(Path(app_dir).glob(f"*/{MANIFEST}"))


def read_v1_functions(app_dir: str | Path) -> list[V1Function]:
    """The functions of a v1 app, by folder (disabled ones left out)."""
    found = []
    for manifest in sorted(Path(app_dir).glob(f"*/{MANIFEST}")):
        try:
            definition = json.loads(manifest.read_text(encoding="utf-8-sig"))
        except ValueError as e:
            raise AppDefinitionError(f"{manifest}: not valid JSON ({e}).") from None
        if not isinstance(definition, dict):
            raise AppDefinitionError(f"{manifest}: expected a JSON object.")
        if definition.get("disabled") is True:
            continue
        found.append(V1Function(manifest.parent.name, definition))
    return found


def _app_package(app_dir: Path) -> ModuleType:
    """The package ``__app__`` rooted at ``app_dir`` (replacing one rooted elsewhere)."""
    existing = sys.modules.get(APP_PACKAGE)
    if existing is not None and list(getattr(existing, "__path__", [])) == [str(app_dir)]:
        return existing
    for name in [n for n in sys.modules if n == APP_PACKAGE or n.startswith(APP_PACKAGE + ".")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_loader(APP_PACKAGE, loader=None, is_package=True)
    assert spec is not None
    spec.submodule_search_locations = [str(app_dir)]
    package = importlib.util.module_from_spec(spec)
    sys.modules[APP_PACKAGE] = package
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    return package


def _entry_point(app_dir: Path, function: V1Function) -> Callable[..., Any]:
    script = (app_dir / function.name / str(function.definition.get("scriptFile") or "__init__.py")).resolve()
    try:
        relative = script.relative_to(app_dir).with_suffix("")
    except ValueError:
        raise AppDefinitionError(
            f"{function.name}/{MANIFEST}: scriptFile {script} is outside the app folder."
        ) from None
    parts = list(relative.parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not script.is_file() or not parts:
        raise AppDefinitionError(f"{function.name}/{MANIFEST}: scriptFile {script} not found.")
    module = importlib.import_module(".".join([APP_PACKAGE, *parts]))
    entry = str(function.definition.get("entryPoint") or "main")
    target: Any = getattr(module, entry, None)
    if not callable(target):
        raise AppDefinitionError(
            f"{function.name}: {script.name} has no function '{entry}' (the entryPoint)."
        )
    return cast(Callable[..., Any], target)


class UndeliveredOutput:
    """A ``func.Out`` for an output binding of a durable function, which the engine (not the host)
    runs: what is set is logged, not delivered (use the service's SDK in the function instead)."""

    def __init__(self, function_name: str, binding: dict[str, Any]) -> None:
        self.function_name = function_name
        self.binding = binding
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val
        log.warning(
            "%s: output binding '%s' (%s) is not delivered by durable-azure; value: %.300s",
            self.function_name,
            self.binding.get("name"),
            self.binding.get("type"),
            val,
        )

    def get(self) -> Any:
        return self.value


def _with_undelivered_outputs(
    fn: Callable[..., Any], name: str, bindings: Iterable[dict[str, Any]]
) -> Callable[..., Any]:
    """Give an activity's output-binding parameters an :class:`UndeliveredOutput` each."""
    params = inspect.signature(fn).parameters
    outs = [
        b for b in bindings if str(b.get("direction", "")).lower() == "out" and str(b.get("name")) in params
    ]
    if not outs:
        return fn

    def holders() -> dict[str, UndeliveredOutput]:
        return {str(b["name"]): UndeliveredOutput(name, b) for b in outs}

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **{**holders(), **kwargs})

        return call_async

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **{**holders(), **kwargs})

    return call


def _extra(binding: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in binding.items() if k not in _BINDING_KEYS}


def _register_durable(app: DFApp, function: V1Function, main: Callable[..., Any]) -> None:
    trigger = function.trigger
    kind, arg = trigger["type"], str(trigger["name"])
    named = app.function_name(function.name)
    if kind == ORCHESTRATION_TRIGGER:
        fn = getattr(main, "orchestrator_function", main)
        named(app.orchestration_trigger(context_name=arg, orchestration=function.name)(fn))
    elif kind == ACTIVITY_TRIGGER:
        fn = _with_undelivered_outputs(main, function.name, function.bindings)
        named(app.activity_trigger(input_name=arg, activity=function.name)(fn))
    else:
        fn = getattr(main, "entity_function", main)
        named(app.entity_trigger(context_name=arg, entity_name=function.name)(fn))


def _register_hosted(app: DFApp, function: V1Function, main: Callable[..., Any]) -> None:
    """An HTTP, timer or other host-triggered function, with its bindings as declared."""
    trigger = function.trigger
    kind, arg = str(trigger["type"]), str(trigger["name"])
    fn: Any = main
    http_out = "$return"
    decorators: list[Callable[..., Any]] = []
    for binding in function.bindings:
        if binding is trigger:
            continue
        btype, bname = str(binding.get("type")), str(binding.get("name"))
        if btype in CLIENT_BINDINGS:
            fn = with_durable_client_json(fn, bname, binding.get("taskHub"), binding.get("connectionName"))
        elif kind == "httpTrigger" and btype == "http":
            http_out = bname
        elif str(binding.get("direction", "")).lower() == "out":
            decorators.append(app.generic_output_binding(arg_name=bname, type=btype, **_extra(binding)))
        else:
            decorators.append(app.generic_input_binding(arg_name=bname, type=btype, **_extra(binding)))
    if kind == "httpTrigger":
        methods = [str(m).upper() for m in trigger.get("methods") or []] or None
        decorators.append(
            app.route(
                route=trigger.get("route") or function.name,
                trigger_arg_name=arg,
                binding_arg_name=http_out,
                methods=methods,
                auth_level=str(trigger.get("authLevel") or "function"),
            )
        )
    elif kind == "timerTrigger":
        decorators.append(
            app.timer_trigger(
                arg_name=arg,
                schedule=str(trigger["schedule"]),
                run_on_startup=trigger.get("runOnStartup"),
                use_monitor=trigger.get("useMonitor"),
            )
        )
    else:
        decorators.append(app.generic_trigger(arg_name=arg, type=kind, **_extra(trigger)))
    for decorate in reversed(decorators):
        fn = decorate(fn)
    app.function_name(function.name)(fn)


def v1_function_app(app_dir: str | Path, definitions: dict[str, dict[str, Any]] | None = None) -> DFApp:
    """A ``DFApp`` holding the v1 functions of ``app_dir``.

    ``definitions`` (folder name → ``function.json`` content) replaces reading the folders'
    ``function.json`` files: ``migrate-v1`` writes them into ``function_app.py`` this way.
    """
    root = Path(app_dir).resolve()
    if root.is_file():
        root = root.parent  # v1_function_app(__file__)
    if definitions is None:
        functions = read_v1_functions(root)
    else:
        functions = [V1Function(name, d) for name, d in definitions.items() if d.get("disabled") is not True]
    _app_package(root)
    app = DFApp()
    for function in functions:
        main = _entry_point(root, function)
        if function.trigger["type"] in DURABLE_TRIGGERS:
            _register_durable(app, function, main)
        else:
            _register_hosted(app, function, main)
    return app
