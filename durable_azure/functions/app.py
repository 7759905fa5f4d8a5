"""``DFApp`` and ``Blueprint``: the azure-functions-durable decorators, registering into our engine.

Durable functions (orchestrators, activities, entities) are recorded on the app as usual, but
``get_functions()`` (what the Functions host indexes) leaves them out: they are run by the
durable-azure worker, so the host only ever sees bindings it knows (HTTP, timer, queue).

Whatever holds them — a ``DFApp``, a ``df.Blueprint`` (nested ones included), or a plain
``func.FunctionApp`` that registered durable blueprints — :func:`durable_registry_of` finds them by
trigger type, and :func:`adopt_plain_app` gives a plain ``FunctionApp`` the ``DFApp``'s registry and index.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import azure.functions as func
from azure.functions.decorators.function_app import Function, FunctionBuilder, FunctionRegister
from azure.functions.decorators.generic import GenericTrigger

from ..registry import DurableRegistry

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
DURABLE_TRIGGERS = frozenset({ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER})


def _orchestrator_handle(fn: Callable[..., Any], input_type: type | None = None) -> Callable[..., Any]:
    if input_type is not None:
        fn.durable_input_type = input_type  # type: ignore[attr-defined]  # default for context.get_input()

    @functools.wraps(fn)
    def handle(context: Any) -> Any:
        raise TypeError(
            "Orchestrators run inside the durable-azure worker; use durable_azure.testing.run_orchestrator "
            "or .orchestrator_function to test them."
        )

    handle.orchestrator_function = fn  # type: ignore[attr-defined]
    return handle


def _entity_handle(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def handle(context: Any) -> Any:
        return fn(context)

    handle.entity_function = fn  # type: ignore[attr-defined]
    return handle


def _durable_name(function: Function) -> tuple[str, str] | None:
    trigger = function.get_trigger()
    kind = getattr(trigger, "type", None)
    if kind not in DURABLE_TRIGGERS:
        return None
    override = getattr(trigger, "orchestration", None) or getattr(trigger, "activity", None)
    override = override or getattr(trigger, "entityName", None)
    return str(kind), str(override or function.get_function_name())


class _DurableDecorators:
    """The DF decorators, mixed into azure-functions' ``FunctionApp`` and ``Blueprint``."""

    _function_builders: list[FunctionBuilder]
    _configure_function_builder: Callable[..., Any]  # provided by azure.functions' DecoratorApi

    def _durable_trigger(
        self, trigger: GenericTrigger, wrap_user: Callable[..., Any] | None
    ) -> Callable[..., Any]:
        def wrap(fb: FunctionBuilder) -> FunctionBuilder:
            if wrap_user is not None:
                fb._function._func = wrap_user(fb._function._func)
            fb.add_trigger(trigger=trigger)
            return fb

        decorator: Callable[..., Any] = self._configure_function_builder(wrap)
        return decorator

    def orchestration_trigger(
        self, context_name: str, orchestration: str | None = None, input_type: type | None = None
    ) -> Callable[..., Any]:
        """Register a generator function as an orchestrator (named ``orchestration`` or after the function)."""
        trigger = GenericTrigger(name=context_name, type=ORCHESTRATION_TRIGGER, orchestration=orchestration)
        return self._durable_trigger(trigger, lambda fn: _orchestrator_handle(fn, input_type))

    def activity_trigger(self, input_name: str, activity: str | None = None) -> Callable[..., Any]:
        """Register a function (sync or ``async def``) as an activity."""
        trigger = GenericTrigger(name=input_name, type=ACTIVITY_TRIGGER, activity=activity)
        return self._durable_trigger(trigger, None)

    def entity_trigger(self, context_name: str, entity_name: str | None = None) -> Callable[..., Any]:
        """Register a function taking a ``DurableEntityContext`` as an entity."""
        trigger = GenericTrigger(name=context_name, type=ENTITY_TRIGGER, entityName=entity_name)
        return self._durable_trigger(trigger, _entity_handle)

    def entity_class(self, cls: type | None = None, *, entity_name: str | None = None) -> Any:
        """Register a class as an entity: public methods are operations, attributes are state."""
        from ..entities.classes import entity_function_for_class

        def register(target: type) -> type:
            fn = entity_function_for_class(target)
            self.entity_trigger(context_name="context", entity_name=entity_name or target.__name__)(fn)
            return target

        return register(cls) if cls is not None else register

    def durable_client_input(
        self, client_name: str, task_hub: str | None = None, connection_name: str | None = None
    ) -> Callable[..., Any]:
        """Give the function a durable client (a ``FunctionsDurableClient``) in parameter ``client_name``.

        ``task_hub``/``connection_name`` (an app setting name) target another hub or storage account.
        No ``durableClient`` binding is emitted: the host never sees the client parameter.
        """
        from .client_binding import with_durable_client

        def wrap(fb: FunctionBuilder) -> FunctionBuilder:
            fb._function._func = with_durable_client(
                fb._function._func, client_name, task_hub, connection_name, registry=self._app_registry
            )
            return fb

        decorator: Callable[..., Any] = self._configure_function_builder(wrap)
        return decorator

    def _app_registry(self) -> DurableRegistry | None:
        """The durable functions of the whole app (a Blueprint alone may not know them all)."""
        return self.durable_registry() if isinstance(self, func.FunctionApp) else None

    def durable_registry(self) -> DurableRegistry:
        """Orchestrators, activities and entities registered so far, by name."""
        return durable_registry_of(self)


def is_durable_function(function: Function) -> bool:
    """True for an orchestrator, activity or entity (a function the engine runs, not the host)."""
    return _durable_name(function) is not None


def durable_registry_of(app: Any) -> DurableRegistry:
    """The durable functions of any app or blueprint, whatever its class.

    A ``DFApp``, a ``df.Blueprint``, or a plain ``func.FunctionApp``/``func.Blueprint`` that
    registered durable blueprints (``app.register_functions(bp)``): their functions all sit in
    ``_function_builders``; the durable ones are found by their trigger type.
    """
    registry = DurableRegistry()
    for builder in getattr(app, "_function_builders", []):
        function = builder._function
        found = _durable_name(function)
        if found is None:
            continue
        kind, name = found
        user = function.get_user_function()
        if kind == ORCHESTRATION_TRIGGER:
            registry.orchestrators[name] = getattr(user, "orchestrator_function", user)
        elif kind == ACTIVITY_TRIGGER:
            registry.activities[name] = user
            registry.activity_input_names[name] = str(getattr(function.get_trigger(), "name", name))
        else:
            registry.entities[name.lower()] = getattr(user, "entity_function", user)
    return registry


def adopt_plain_app(app: Any) -> None:
    """Give a plain ``func.FunctionApp`` what a ``DFApp`` has, on this instance only: a
    ``durable_registry()`` (so the engine finds its durable blueprints' functions) and a
    ``get_functions()`` that leaves the durable functions out of what the Functions host indexes.

    A ``DFApp`` is left alone; calling it twice changes nothing.
    """
    if isinstance(app, DFApp) or getattr(app, "_durable_functions_hidden", False):
        return
    index = app.get_functions

    def get_functions() -> list[Function]:
        saved = app._function_builders
        kept = [fb for fb in saved if not is_durable_function(fb._function)]
        for fb in saved:
            if fb not in kept:
                fb.build(app.auth_level)  # still validate them
        app._function_builders = kept
        try:
            return cast(list[Function], index())
        finally:
            app._function_builders = saved

    app.get_functions = get_functions
    app.durable_registry = lambda: durable_registry_of(app)
    app._durable_functions_hidden = True


class Blueprint(_DurableDecorators, func.Blueprint):
    """A group of functions to register into a :class:`DFApp` with ``register_functions``."""

    def __init__(self, http_auth_level: func.AuthLevel | str = func.AuthLevel.FUNCTION) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # azure.functions' Blueprint.__init__ is unannotated
        self._http_auth_level = http_auth_level

    def register_functions(self, function_container: Any) -> None:
        """Take over the functions of another blueprint (nested blueprints; a ``FunctionApp`` has its own)."""
        if isinstance(function_container, FunctionRegister):
            raise TypeError("functions can not be type of FunctionRegister!")
        self._function_builders.extend(function_container._function_builders)

    register_blueprint = register_functions


class DFApp(_DurableDecorators, func.FunctionApp):
    """A Functions app with Durable Functions decorators, run by the durable-azure engine."""

    def __init__(self, http_auth_level: func.AuthLevel | str = func.AuthLevel.FUNCTION) -> None:
        super().__init__(http_auth_level=http_auth_level)

    def enable_azure_hosting(
        self, route: str = "durabletask", schedule: str = "*/30 * * * * *", **options: Any
    ) -> DFApp:
        """Run the engine inside the Functions host: see :func:`durable_azure.enable_azure_hosting`."""
        from .azure_hosting import enable_azure_hosting

        enable_azure_hosting(self, route=route, schedule=schedule, **options)
        return self

    def get_functions(self) -> list[Function]:
        """The functions the Functions host indexes: everything but durable triggers."""
        durable = [fb for fb in self._function_builders if _durable_name(fb._function) is not None]
        for fb in durable:
            fb.build(self.auth_level)  # still validate them
        kept = [fb for fb in self._function_builders if fb not in durable]
        saved = self._function_builders
        self._function_builders = kept
        try:
            return super().get_functions()
        finally:
            self._function_builders = saved
