"""Load a function app the way the Functions host does and index its functions: ``function_app.py``
(the v2 model) or, without one, function folders with ``function.json`` (the v1 model, ``v1_app.py``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.functions.decorators.function_app import Function, FunctionRegister

from ..config import read_local_settings
from ..registry import DurableRegistry
from .app import durable_registry_of, is_durable_function
from .runtime import SCRIPT_ROOT_SETTING
from .v1_app import APP_PACKAGE, is_v1_app, v1_function_app

SCRIPT_FILE = "function_app.py"


@dataclass
class IndexedApp:
    """A loaded function app and its indexed functions by kind."""

    app_dir: Path
    module: ModuleType
    app: FunctionRegister
    http: list[Function] = field(default_factory=list)
    timers: list[Function] = field(default_factory=list)
    other: list[Function] = field(default_factory=list)
    #: Orchestrators, activities and entities, whether declared on a DFApp, a df.Blueprint
    #: registered on a plain FunctionApp, or in v1 function folders.
    registry: DurableRegistry = field(default_factory=DurableRegistry)

    @property
    def is_durable(self) -> bool:
        registry = self.registry
        has_durable = bool(registry.orchestrators or registry.activities or registry.entities)
        return has_durable or callable(getattr(self.app, "durable_registry", None))


def apply_local_settings(app_dir: Path) -> None:
    """Put ``local.settings.json`` ``Values`` into the environment (existing variables win), as Core Tools do."""
    for key, value in read_local_settings(app_dir).items():
        os.environ.setdefault(key, value)
    os.environ.setdefault(SCRIPT_ROOT_SETTING, str(app_dir))


def load_module(app_dir: Path) -> ModuleType:
    """Import ``app_dir/function_app.py`` as module ``function_app`` (its folder goes on ``sys.path``)."""
    script = app_dir / SCRIPT_FILE
    if not script.is_file():
        raise FileNotFoundError(
            f"No {SCRIPT_FILE} (v2 model) and no function folders with function.json (v1 model) in "
            f"{app_dir}; pass the folder of your function app."
        )
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    name = script.stem
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import {script}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def find_app(module: ModuleType) -> FunctionRegister:
    """The one ``FunctionApp`` (or ``DFApp``) instance defined at module level."""
    apps = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
    unique = list({id(a): a for a in apps}.values())
    if not unique:
        raise ValueError(f"{module.__file__} defines no FunctionApp (e.g. `app = df.DFApp()`).")
    if len(unique) > 1:
        raise ValueError(
            f"{module.__file__} defines {len(unique)} FunctionApp instances; the host allows one."
        )
    return unique[0]


def _trigger_type(function: Function) -> str:
    return str(getattr(function.get_trigger(), "type", ""))


def load_app(app_dir: str | Path) -> IndexedApp:
    """Load and index the function app in ``app_dir``."""
    root = Path(app_dir).resolve()
    apply_local_settings(root)
    if not (root / SCRIPT_FILE).is_file() and is_v1_app(root):
        app: FunctionRegister = v1_function_app(root)  # the v1 model: function folders
        module = sys.modules[APP_PACKAGE]
    else:
        module = load_module(root)
        app = find_app(module)
    indexed = IndexedApp(root, module, app, registry=durable_registry_of(app))
    for function in app.get_functions():  # not idempotent: call it once
        if is_durable_function(function):
            continue  # run by the engine (a plain FunctionApp lists them; a DFApp does not)
        kind = _trigger_type(function)
        if kind == "httpTrigger":
            indexed.http.append(function)
        elif kind == "timerTrigger":
            indexed.timers.append(function)
        else:
            indexed.other.append(function)
    return indexed


def describe_http(function: Function) -> tuple[str, list[str]]:
    """Route template and upper-case methods (empty = any) of an HTTP function."""
    trigger: Any = function.get_trigger()
    route = getattr(trigger, "route", None) or function.get_function_name()
    methods = [str(getattr(m, "value", m)).upper() for m in (getattr(trigger, "methods", None) or [])]
    return str(route), methods
