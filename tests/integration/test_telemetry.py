"""Telemetry over Azurite, one worker in this process: DF tracking events, DurableTask spans, metrics.

The engine's telemetry is installed on OpenTelemetry SDK providers with in-memory exporters
(``telemetry_support.Capture``); what the tests read is what an exporter would send.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telemetry_support as ts
import worker_support as ws

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.telemetry import TelemetryOptions

SECRET = "secret-input-1"


def app() -> Any:
    """The telemetry app, loaded on first use (not at collection)."""
    return ts.telemetry_app().app


@pytest.fixture
def capture(hub_name: str) -> Iterator[Callable[..., ts.Capture]]:
    made: list[ts.Capture] = []

    def make(**options: Any) -> ts.Capture:
        made.append(ts.Capture(TelemetryOptions(hub_name=hub_name, app_name="telemetry-tests", **options)))
        return made[-1]

    yield make
    for c in made:
        c.close()


async def spans_when(cap: ts.Capture, name: str, count: int = 1) -> list[dict[str, Any]]:
    """The finished spans once ``count`` spans named ``name`` were exported (they end after a checkpoint)."""

    async def probe() -> list[dict[str, Any]] | None:
        spans = cap.span_dicts()
        return spans if len(ts.named(spans, name)) >= count else None

    return await ws.wait_until(probe, what=f"{count} span(s) {name}")


async def events_when(
    cap: ts.Capture, predicate: Callable[[dict[str, Any]], bool], what: str
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        events = cap.events()
        return events if any(predicate(e) for e in events) else None

    return await ws.wait_until(probe, what=what)


def by_id(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["span_id"]: s for s in spans}


def state_of(events: list[dict[str, Any]], function: str, state: str) -> list[dict[str, Any]]:
    return [e for e in events if e["prop__functionName"] == function and e["prop__state"] == state]


async def test_one_trace_from_the_caller_through_chain_fan_out_and_sub_orchestration(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        with cap.tracer_provider.get_tracer("test").start_as_current_span("caller") as caller:
            instance_id = await hub.client.start_new("Journey", None, {})
        await ws.completed(hub.client, instance_id)
        spans = await spans_when(cap, "orchestration:Journey")
        history = await hub.raw.history_rows(hub_name, instance_id)

    trace_id = f"{caller.get_span_context().trace_id:032x}"
    assert {s["trace_id"] for s in spans} == {trace_id}, "every span belongs to the caller's trace"
    ids = by_id(spans)
    (create,) = ts.named(spans, "create_orchestration:Journey", "PRODUCER")
    assert create["parent_id"] == f"{caller.get_span_context().span_id:016x}"
    assert create["attributes"] == {
        "durabletask.type": "orchestration",
        "durabletask.task.name": "Journey",
        "durabletask.task.instance_id": instance_id,
        "durabletask.task.execution_id": history[1]["ExecutionId"],
    }
    (orchestration,) = ts.named(spans, "orchestration:Journey", "SERVER")
    assert orchestration["parent_id"] == create["span_id"]
    assert orchestration["attributes"]["durabletask.task.status"] == "Completed"
    assert orchestration["attributes"]["durabletask.task.instance_id"] == instance_id
    assert orchestration["status"] == "UNSET"

    # the orchestration's span id and its parent are stored with ExecutionStarted, as DTFx does
    started_row = next(r for r in history if r.get("EventType") == "ExecutionStarted")
    stored = json.loads(started_row["ParentTraceContext"])
    assert stored["TraceParent"].split("-")[:3] == ["00", trace_id, create["span_id"]]
    assert stored["SpanId"] == orchestration["span_id"]
    assert stored["Id"].split("-")[:3] == ["00", trace_id, orchestration["span_id"]]
    assert stored["ActivityStartTime"]

    # activity client spans (scheduled → result) under the orchestration, server spans under them
    hop_clients = ts.named(spans, "activity:Hop", "CLIENT")
    square_clients = ts.named(spans, "activity:Square", "CLIENT")
    assert len(square_clients) == 3
    journey_hops = [s for s in hop_clients if s["parent_id"] == orchestration["span_id"]]
    assert len(journey_hops) == 2
    assert all(s["parent_id"] == orchestration["span_id"] for s in square_clients)
    assert sorted(s["attributes"]["durabletask.task.task_id"] for s in [*journey_hops, *square_clients]) == [
        0,
        1,
        2,
        3,
        4,
    ]
    scheduled_rows = [r for r in history if r.get("EventType") == "TaskScheduled"]
    assert {json.loads(r["ParentTraceContext"])["TraceParent"].split("-")[2] for r in scheduled_rows} == {
        s["span_id"] for s in [*journey_hops, *square_clients]
    }
    for server in ts.named(spans, "activity:Hop", "SERVER") + ts.named(spans, "activity:Square", "SERVER"):
        client = ids[server["parent_id"]]
        assert client["kind"] == "CLIENT" and client["name"] == server["name"]
        assert server["attributes"]["durabletask.type"] == "activity"

    # the sub-orchestration: a client span under the parent, the child's server span under it
    (leg_client,) = ts.named(spans, "orchestration:Leg", "CLIENT")
    (leg,) = ts.named(spans, "orchestration:Leg", "SERVER")
    assert leg_client["parent_id"] == orchestration["span_id"]
    assert leg["parent_id"] == leg_client["span_id"]
    (leg_hop,) = [s for s in hop_clients if s["parent_id"] == leg["span_id"]]
    assert leg_hop["attributes"]["durabletask.task.name"] == "Hop"

    # no inputs or outputs in spans
    assert SECRET not in json.dumps(spans)


async def test_tracking_events_carry_dfs_dimensions_and_no_payloads_by_default(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Journey", None, {})
        await ws.completed(hub.client, instance_id)
        events = await events_when(
            cap,
            lambda e: e["prop__functionName"] == "Journey" and e["prop__state"] == "Completed",
            "Completed",
        )
    journey = [e for e in events if e["prop__instanceId"] == instance_id]
    assert next(e["prop__state"] for e in journey if e["prop__functionName"] == "Journey") == "Scheduled"
    assert state_of(events, "Journey", "Scheduled")[0]["prop__reason"] == "NewInstance"
    assert len(state_of(journey, "Hop", "Scheduled")) == 2
    assert len(state_of(events, "Hop", "Started")) == 3  # two in Journey, one in Leg
    assert len(state_of(events, "Square", "Completed")) == 3
    assert state_of(events, "Leg", "Scheduled")[0]["prop__functionType"] == "Orchestrator"
    assert state_of(journey, "Journey", "Awaited")
    (done,) = state_of(journey, "Journey", "Completed")
    assert done["body"].startswith(
        f"{instance_id}: Function 'Journey (Orchestrator)' completed. ContinuedAsNew: False"
    )
    for event in events:
        assert event["Category"] == "Host.Triggers.DurableTask"
        assert event["prop__hubName"] == hub_name
        assert event["prop__appName"] == "telemetry-tests"
        assert event["prop__isReplay"] is False
        assert isinstance(event["prop__sequenceNumber"], int)
    (first_hop,) = [e for e in state_of(journey, "Hop", "Started") if e["prop__taskEventId"] == 0]
    assert first_hop["prop__input"] == f"(Redacted {len(json.dumps(SECRET))} characters)"
    assert SECRET not in json.dumps(events)


async def test_inputs_and_outputs_appear_only_when_trace_inputs_and_outputs_is_on(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture(trace_inputs_and_outputs=True)
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Journey", None, {})
        await ws.completed(hub.client, instance_id)
        events = await events_when(
            cap,
            lambda e: e["prop__state"] == "Completed" and e["prop__functionName"] == "Journey",
            "Completed",
        )
    (first_hop,) = [
        e
        for e in state_of(events, "Hop", "Started")
        if e["prop__taskEventId"] == 0 and e["prop__instanceId"] == instance_id
    ]
    assert first_hop["prop__input"] == json.dumps(SECRET)
    (done,) = state_of(events, "Journey", "Completed")
    assert json.loads(done["prop__output"])["squares"] == [1, 4, 9]
    assert SECRET not in json.dumps(cap.span_dicts())  # spans never carry payloads


async def test_failure_is_tracked_and_its_spans_are_errors(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Journey", None, {"fail": True})
        status = await hub.client.wait_for_completion(instance_id, timeout=30)
        assert status.runtime_status is S.Failed
        spans = await spans_when(cap, "orchestration:Journey")
    events = cap.events()
    (activity_failed,) = state_of(events, "Explode", "Failed")
    assert activity_failed["prop__functionType"] == "Activity"
    assert "boom" in activity_failed["prop__reason"]
    assert activity_failed["LogLevel"] == "Error"
    (failed,) = state_of(events, "Journey", "Failed")
    assert failed["prop__runtimeStatus"] == "Failed" and "boom" in failed["prop__reason"]
    (orchestration,) = ts.named(spans, "orchestration:Journey", "SERVER")
    assert orchestration["status"] == "ERROR" and "boom" in orchestration["description"]
    assert orchestration["attributes"]["durabletask.task.status"] == "Failed"
    assert ts.named(spans, "activity:Explode", "CLIENT")[0]["status"] == "ERROR"
    assert ts.named(spans, "activity:Explode", "SERVER")[0]["status"] == "ERROR"
    durations = cap.metrics()["durabletask.activity.duration"]
    assert {p.attributes["outcome"] for p in durations} == {"Succeeded", "Failed"}


async def test_external_event_and_terminate_are_tracked(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Waiter")
        await events_when(cap, lambda e: e["prop__state"] == "Awaited", "the first episode")
        await hub.client.raise_event(instance_id, "Go", "first")
        await events_when(
            cap, lambda e: e["prop__functionName"] == "Hop" and e["prop__state"] == "Completed", "Hop"
        )
        await ws.wait_until(
            lambda: _history_has(hub, instance_id, "TaskCompleted"), what="the Hop result in history"
        )
        await hub.client.terminate(instance_id, "enough")
        await ws.wait_for_status(hub.client, instance_id, S.Terminated)
        spans = await spans_when(cap, "orchestration:Waiter")
        history = await hub.raw.history_rows(hub_name, instance_id)
    events = cap.events()
    listening = state_of(events, "Waiter", "Listening")
    assert [e["prop__reason"] for e in listening] == ["WaitForExternalEvent:Go"] * 2
    (raised,) = state_of(events, "Waiter", "ExternalEventRaised")
    assert raised["prop__eventName"] == "Go"
    assert "received a 'Go' event" in raised["body"]
    (terminated,) = state_of(events, "Waiter", "Terminated")
    assert terminated["LogLevel"] == "Warning"
    assert terminated["prop__reason"] == f"(Redacted {len(json.dumps('enough'))} characters)"
    (sent,) = ts.named(spans, "orchestration_event:Go", "PRODUCER")
    assert sent["attributes"]["durabletask.event.target_instance_id"] == instance_id
    (orchestration,) = ts.named(spans, "orchestration:Waiter", "SERVER")
    assert (
        orchestration["status"] == "ERROR"
        and orchestration["attributes"]["durabletask.task.status"] == "Terminated"
    )
    assert orchestration["events"] == ["Go"]  # the events it received (DTFx: span events)
    # the event carries the trace context of the span that sent it, into history (EventRaised row)
    (raised_row,) = [r for r in history if r.get("EventType") == "EventRaised"]
    carried = json.loads(raised_row["ParentTraceContext"])["TraceParent"].split("-")
    assert carried[1:3] == [sent["trace_id"], sent["span_id"]]


async def _history_has(hub: ws.Hub, instance_id: str, event_type: str) -> bool:
    return any(type(e).__name__ == event_type for e in await hub.client.get_history(instance_id))


@pytest.mark.parametrize("trace_replay_events", [True, False])
async def test_is_replay_is_true_only_for_what_a_replay_re_runs(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture], trace_replay_events: bool
) -> None:
    cap = capture(trace_replay_events=trace_replay_events)
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Waiter")
        await hub.client.raise_event(instance_id, "Go", "first")
        await ws.wait_until(lambda: _history_has(hub, instance_id, "TaskCompleted"), what="the Hop result")
        await ws.wait_until(lambda: _awaited(cap, 3), what="the episode that recorded the Hop result")
        assert not [e for e in cap.events() if e["prop__isReplay"]], "no replay while the session is cached"
        assert hub.worker is not None
        hub.worker.orchestrations.cache.drop(instance_id)  # the next episode must replay the history
        await hub.client.raise_event(instance_id, "Go", "second")
        await ws.completed(hub.client, instance_id)
        events = await events_when(
            cap,
            lambda e: e["prop__functionName"] == "Waiter" and e["prop__state"] == "Completed",
            "Completed",
        )
    replayed = [e for e in events if e["prop__isReplay"]]
    if not trace_replay_events:
        assert replayed == []
        return
    assert {(e["prop__functionName"], e["prop__state"]) for e in replayed} == {
        ("Waiter", "Started"),
        ("Waiter", "ExternalEventRaised"),
        ("Hop", "Scheduled"),
    }
    live = [e for e in events if not e["prop__isReplay"]]
    assert len(state_of(live, "Hop", "Scheduled")) == 1  # scheduled once for real, replayed once
    assert len(state_of(live, "Waiter", "ExternalEventRaised")) == 2


async def _awaited(cap: ts.Capture, count: int) -> bool:
    return len(state_of(cap.events(), "Waiter", "Awaited")) >= count


async def test_metrics_cover_episodes_activities_queues_and_checkpoints(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Journey", None, {})
        await ws.completed(hub.client, instance_id)
        await spans_when(cap, "orchestration:Journey")
        metrics = cap.metrics()
    episodes = metrics["durabletask.orchestration.episodes"]
    assert sum(p.value for p in episodes if p.attributes["durabletask.task.name"] == "Journey") >= 2
    assert {p.attributes["durabletask.task.status"] for p in episodes} >= {"Running", "Completed"}
    assert sum(p.count for p in metrics["durabletask.orchestration.episode.duration"]) >= 2
    assert sum(p.count for p in metrics["durabletask.checkpoint.duration"]) >= 2
    squares = [
        p
        for p in metrics["durabletask.activity.duration"]
        if p.attributes["durabletask.task.name"] == "Square"
    ]
    assert sum(p.count for p in squares) == 3 and squares[0].attributes["outcome"] == "Succeeded"
    ages = metrics["durabletask.queue.message_age"]
    assert any(p.attributes["queue"].startswith(f"{hub_name.lower()}-control-") for p in ages)
    depths = metrics["durabletask.queue.depth"]
    assert any(p.attributes["queue"] == f"{hub_name.lower()}-workitems" for p in depths)
    assert all("partition" in p.attributes for p in depths if "-control-" in p.attributes["queue"])


async def test_a_poison_message_is_counted(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    from durable_azure.orchestration.history import EventRaised
    from durable_azure.storage.messages import TaskMessage

    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        # a work item that is not a TaskScheduled can never run: it is set aside at once
        await hub.storage.workitems.send(
            TaskMessage(event=EventRaised(name="x"), instance_id="nobody", execution_id="e")
        )

        async def counted() -> list[Any] | None:
            return cap.metrics().get("durabletask.poison.messages")

        points = await ws.wait_until(counted, what="the poison counter")
    assert points[0].value == 1
    assert points[0].attributes["queue"] == f"{hub_name.lower()}-workitems"


async def test_entity_operations_are_tracked(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    import durable_azure as df

    cap = capture()
    counter = df.EntityId("Counter", "one")
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        await hub.client.signal_entity(counter, "add", 5)
        await events_when(cap, lambda e: e.get("prop__operationName") == "add", "the add operation")
        await hub.client.signal_entity(counter, "explode")
        events = await events_when(cap, lambda e: e.get("prop__operationName") == "explode", "explode")
    (added,) = [e for e in events if e.get("prop__operationName") == "add"]
    assert added["EventName"] == "OperationCompleted" and added["prop__functionType"] == "Entity"
    assert added["prop__functionName"] == "counter" and added["prop__instanceId"] == "@counter@one"
    assert added["prop__input"] == "(Redacted 1 characters)" and added["prop__duration"] >= 0
    (exploded,) = [e for e in events if e.get("prop__operationName") == "explode"]
    assert exploded["EventName"] == "OperationFailed" and exploded["LogLevel"] == "Error"
    assert "entity boom" in exploded["prop__exception"]


async def test_a_timer_is_tracked_and_spanned(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Journey", None, {"timer": True})
        await ws.completed(hub.client, instance_id)
        spans = await spans_when(cap, "orchestration:Journey")
    events = cap.events()
    (listening,) = state_of(events, "Journey", "Listening")
    assert listening["prop__reason"].startswith("CreateTimer:20")
    (expired,) = state_of(events, "Journey", "TimerExpired")
    assert listening["prop__reason"] == f"CreateTimer:{expired['prop__expirationTime']}"
    (timer,) = ts.named(spans, "orchestration:Journey:timer", "INTERNAL")
    (orchestration,) = ts.named(spans, "orchestration:Journey", "SERVER")
    assert timer["parent_id"] == orchestration["span_id"]
    assert timer["attributes"]["durabletask.type"] == "timer"
    assert timer["attributes"]["durabletask.fire_at"] == expired["prop__expirationTime"]
    assert timer["end"] - timer["start"] >= 900_000_000  # created → fired: about the 1-s timer


async def test_the_host_json_level_of_the_category_filters_tracking_events(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture(tracking_level=logging.WARNING)  # "Host.Triggers.DurableTask": "Warning"
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Journey", None, {"fail": True})
        status = await hub.client.wait_for_completion(instance_id, timeout=30)
        assert status.runtime_status is S.Failed
        events = await events_when(cap, lambda e: e["prop__functionName"] == "Journey", "the failure")
    assert {(e["prop__functionName"], e["prop__state"]) for e in events} == {
        ("Explode", "Failed"),
        ("Journey", "Failed"),
    }


async def test_each_generation_of_continue_as_new_is_tracked_and_has_its_span(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    cap = capture()
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        instance_id = await hub.client.start_new("Repeat", None, 0)
        await ws.completed(hub.client, instance_id)
        spans = await spans_when(cap, "orchestration:Repeat", 3)
    completed = state_of(cap.events(), "Repeat", "Completed")
    assert [e["prop__continuedAsNew"] for e in completed] == [True, True, False]
    generations = ts.named(spans, "orchestration:Repeat", "SERVER")
    assert [g["attributes"]["durabletask.task.status"] for g in generations] == [
        "ContinuedAsNew",
        "ContinuedAsNew",
        "Completed",
    ]
    (create,) = ts.named(spans, "create_orchestration:Repeat", "PRODUCER")
    assert {g["parent_id"] for g in generations} == {create["span_id"]}  # siblings under the start
    squares = ts.named(spans, "activity:Square", "CLIENT")
    assert sorted(s["parent_id"] for s in squares) == sorted(g["span_id"] for g in generations)


async def test_a_start_through_the_management_api_continues_the_callers_trace(
    azurite: str, hub_name: str, capture: Callable[..., ts.Capture]
) -> None:
    import asyncio
    import uuid

    import httpx

    from durable_azure.config import load_settings
    from durable_azure.functions import runtime
    from durable_azure.functions.host import LocalHost

    cap = capture()
    caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    settings = load_settings(ts.APP_DIR).with_overrides(hub_name=hub_name, connection_string=azurite)
    async with ws.task_hub(azurite, hub_name, app=app()) as hub:
        host = LocalHost(ts.APP_DIR, settings=settings)
        ts.forget_app_module()
        hosted = runtime.install(
            runtime.HostedRuntime(settings, loop=asyncio.get_running_loop(), owner="test")
        )
        try:
            transport = httpx.ASGITransport(app=host.asgi())
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7071") as http:
                response = await http.post(
                    "/runtime/webhooks/durabletask/orchestrators/Journey",
                    json={},
                    headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
                )
            assert response.status_code == 202, response.text
            await ws.completed(hub.client, response.json()["id"])
            spans = await spans_when(cap, "orchestration:Journey")
        finally:
            runtime.uninstall(hosted)
            await runtime.close_clients()
    (request,) = ts.named(spans, "POST /runtime/webhooks/durabletask/{*path}", "SERVER")
    assert request["trace_id"] == caller_trace and request["parent_id"] == caller_span
    assert request["attributes"]["http.response.status_code"] == 202
    assert request["attributes"]["url.path"] == "/runtime/webhooks/durabletask/orchestrators/Journey"
    (create,) = ts.named(spans, "create_orchestration:Journey", "PRODUCER")
    assert create["parent_id"] == request["span_id"]
    (journey,) = ts.named(spans, "orchestration:Journey", "SERVER")
    assert journey["trace_id"] == caller_trace and journey["parent_id"] == create["span_id"]
