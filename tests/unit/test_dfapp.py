"""DFApp / Blueprint: DF decorators, the durable registry, and what the Functions host gets to index."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # history_factory, importable under --import-mode=importlib

from history_factory import Point  # noqa: E402

import durable_azure as df  # noqa: E402
from durable_azure.testing import run_orchestrator  # noqa: E402


def _build_app() -> tuple[df.DFApp, dict[str, Any]]:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    fns: dict[str, Any] = {}

    @app.route(route="orchestrators/{name}")
    def http_start(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("started")

    @app.orchestration_trigger(context_name="context")
    def hello_orchestrator(context: Any) -> Any:
        return (yield context.call_activity("say_hello", "x"))

    @app.orchestration_trigger(context_name="context", orchestration="RenamedOrchestrator")
    def orch_impl(context: Any) -> Any:
        yield context.call_activity("say_hello", "y")

    @app.function_name("NamedOrchestrator")
    @app.orchestration_trigger(context_name="context")
    def named_impl(context: Any) -> Any:
        yield context.call_activity("say_hello", "z")

    @app.activity_trigger(input_name="city")
    def say_hello(city: str) -> str:
        return f"Hello {city}"

    @app.activity_trigger(input_name="payload", activity="RenamedActivity")
    def activity_impl(payload: Any) -> Any:
        return payload

    @app.function_name("NamedActivity")
    @app.activity_trigger(input_name="value")
    async def async_activity(value: Any) -> Any:
        return value

    @app.entity_trigger(context_name="context")
    def Counter(context: Any) -> None:
        context.set_result("counter")

    @app.entity_trigger(context_name="context", entity_name="ShoppingCart")
    def cart_impl(context: Any) -> None:
        context.set_result("cart")

    fns.update(
        hello_orchestrator=hello_orchestrator,
        orch_impl=orch_impl,
        say_hello=say_hello,
        activity_impl=activity_impl,
        Counter=Counter,
        cart_impl=cart_impl,
    )
    return app, fns


class TestDecorators:
    def test_decorated_orchestrator_exposes_the_generator_function(self) -> None:
        _app, fns = _build_app()
        user = fns["hello_orchestrator"].build().get_user_function()
        original = user.orchestrator_function
        assert original.__name__ == "hello_orchestrator"
        # the exposed function is the user's generator: drive it by hand as DF samples do
        generator = original(_FakeContext())
        task = next(generator)
        assert task == ("call_activity", "say_hello", "x")
        with pytest.raises(StopIteration) as stop:
            generator.send("Hello x")
        assert stop.value.value == "Hello x"

    def test_calling_the_orchestrator_handle_directly_explains_how_to_test(self) -> None:
        _, fns = _build_app()
        handle = fns["hello_orchestrator"].build().get_user_function()
        with pytest.raises(TypeError, match="run_orchestrator"):
            handle(object())

    def test_entity_handle_exposes_and_calls_the_entity_function(self) -> None:
        _, fns = _build_app()
        handle = fns["Counter"].build().get_user_function()
        assert handle.entity_function.__name__ == "Counter"
        recorded: list[Any] = []

        class Ctx:
            def set_result(self, value: Any) -> None:
                recorded.append(value)

        handle(Ctx())
        assert recorded == ["counter"]

    def test_trigger_bindings_use_the_df_binding_types(self) -> None:
        _, fns = _build_app()
        bindings = {
            name: fns[name].build().get_bindings_dict()["bindings"][0]
            for name in ("hello_orchestrator", "say_hello", "Counter")
        }
        assert bindings["hello_orchestrator"]["type"] == "orchestrationTrigger"
        assert bindings["hello_orchestrator"]["name"] == "context"
        assert bindings["say_hello"]["type"] == "activityTrigger"
        assert bindings["say_hello"]["name"] == "city"
        assert bindings["Counter"]["type"] == "entityTrigger"


class _FakeContext:
    def call_activity(self, name: str, input_: Any = None) -> Any:
        return ("call_activity", name, input_)


class TestRegistry:
    def test_durable_registry_names(self) -> None:
        app, _fns = _build_app()
        registry = app.durable_registry()
        assert set(registry.orchestrators) == {
            "hello_orchestrator",
            "RenamedOrchestrator",
            "NamedOrchestrator",
        }
        assert set(registry.activities) == {"say_hello", "RenamedActivity", "NamedActivity"}
        assert set(registry.entities) == {"counter", "shoppingcart"}

        # the registry holds the user functions themselves
        assert registry.orchestrators["RenamedOrchestrator"].__name__ == "orch_impl"
        assert registry.activities["say_hello"]("Oslo") == "Hello Oslo"
        assert registry.activities["RenamedActivity"]({"a": 1}) == {"a": 1}
        assert registry.activity_input_names == {
            "say_hello": "city",
            "RenamedActivity": "payload",
            "NamedActivity": "value",
        }

    def test_entity_lookup_is_case_insensitive(self) -> None:
        app, _ = _build_app()
        registry = app.durable_registry()
        assert registry.entity("Counter") is registry.entities["counter"]
        assert registry.entity("counter") is registry.entities["counter"]
        assert registry.entity("ShoppingCart") is registry.entities["shoppingcart"]
        assert registry.entity("Unknown") is None

    def test_registered_orchestrator_runs_under_the_testing_helper(self) -> None:
        app, _ = _build_app()
        registry = app.durable_registry()
        result = run_orchestrator(
            registry.orchestrators["hello_orchestrator"],
            activities={"say_hello": registry.activities["say_hello"]},
        )
        assert result.status == "Completed" and result.output == "Hello x"


class TestHostIndexing:
    def test_get_functions_contains_only_the_http_route(self) -> None:
        app, _ = _build_app()
        functions = app.get_functions()
        assert [f.get_function_name() for f in functions] == ["http_start"]
        assert functions[0].is_http_function()
        # the durable functions are still registered with the engine afterwards
        registry = app.durable_registry()
        assert (len(registry.orchestrators), len(registry.activities), len(registry.entities)) == (3, 3, 2)

    def test_blueprint_functions_show_up_in_the_registry(self) -> None:
        app, _ = _build_app()
        bp = df.Blueprint()

        @bp.orchestration_trigger(context_name="context")
        def bp_orchestrator(context: Any) -> Any:
            yield context.call_activity("bp_activity")

        @bp.activity_trigger(input_name="x")
        def bp_activity(x: Any) -> Any:
            return x

        @bp.entity_trigger(context_name="context", entity_name="BpEntity")
        def bp_entity(context: Any) -> None:
            return None

        @bp.route(route="bp")
        def bp_http(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("bp")

        assert set(bp.durable_registry().activities) == {"bp_activity"}
        app.register_functions(bp)
        registry = app.durable_registry()
        assert "bp_orchestrator" in registry.orchestrators
        assert "bp_activity" in registry.activities
        assert "bpentity" in registry.entities
        assert sorted(f.get_function_name() for f in app.get_functions()) == ["bp_http", "http_start"]

    def test_app_without_http_functions_indexes_nothing(self) -> None:
        app = df.DFApp()

        @app.activity_trigger(input_name="x")
        def only_activity(x: Any) -> Any:
            return x

        assert app.get_functions() == []
        assert set(app.durable_registry().activities) == {"only_activity"}


def test_orchestration_trigger_input_type_is_used_by_get_input() -> None:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context", input_type=Point)
    def typed(context: Any) -> Any:
        return type(context.get_input()).__name__

    assert run_orchestrator(typed, {"x": 1, "y": 2}).output == "Point"
