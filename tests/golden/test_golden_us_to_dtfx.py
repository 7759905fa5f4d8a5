"""Us → DTFx: what our client and worker write in the golden scenarios, checked against the same rules
the DTFx fixtures obey (:mod:`dtfx_rules`): History column sets, Edm types and RowKeys, Instances
columns per status (a failure's Output as ``FailureDetails.ToString()``, Tags, rewind's Pending), and the
queue envelopes with their Episode and Sender fields, on the queues DTFx routes them to."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))

import dtfx_rules as rules  # noqa: E402
import golden_app  # noqa: E402
import golden_fixtures as gf  # noqa: E402
import worker_support as ws  # noqa: E402

import durable_azure as df  # noqa: E402
from durable_azure.config import Settings  # noqa: E402
from durable_azure.orchestration.history import ExecutionStarted  # noqa: E402
from durable_azure.storage.messages import TaskMessage  # noqa: E402

pytestmark = pytest.mark.azurite
S = df.OrchestrationRuntimeStatus


def _endpoint(hub: ws.Hub) -> str:
    return hub.storage.payloads.container_url.rsplit("/", 1)[0]


async def _checked(hub: ws.Hub, instance_id: str) -> tuple[list[str], dict[str, Any], list[dict[str, Any]]]:
    """Our rows of ``instance_id`` through the rules: History event types, the Instances row, History rows."""
    history = [rules.typed_entity(r) for r in await hub.raw.history_rows(hub.name, instance_id)]
    types = rules.check_history(history)
    quoted = instance_id.replace("'", "''")
    (row,) = await hub.raw.rows(f"{hub.name}Instances", f"PartitionKey eq '{quoted}'")
    typed = rules.typed_entity(row)
    rules.check_instance_row(typed, blob_endpoint=_endpoint(hub))
    return types, typed, history


@pytest.mark.parametrize(
    ("orchestration", "value", "expected_types"),
    [
        ("GoldenHello", ["Tokyo", "Seattle"], {"TaskScheduled", "TaskCompleted"}),
        ("GoldenTimer", 1, {"TimerCreated", "TimerFired"}),
        ("GoldenReverse", gf.BIG, {"TaskScheduled", "TaskCompleted"}),
    ],
)
async def test_our_rows_in_the_golden_scenarios_obey_the_rules(
    azurite: str, hub_name: str, orchestration: str, value: Any, expected_types: set[str]
) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        instance_id = await hub.client.start_new(orchestration, None, value)
        quoted = instance_id.replace("'", "''")
        (pending,) = await hub.raw.rows(f"{hub.name}Instances", f"PartitionKey eq '{quoted}'")
        assert (
            rules.check_instance_row(rules.typed_entity(pending), blob_endpoint=_endpoint(hub)) == "Pending"
        )
        assert pending["Tags"] == "null"  # TagsSerializer.Serialize(null)
        await hub.start_worker(golden_app.app)
        status = await hub.client.wait_for_completion(instance_id, timeout=40)
        assert status.runtime_status is S.Completed, status.output
        types, row, history = await _checked(hub, instance_id)
        assert expected_types <= set(types)
        assert row["RuntimeStatus"][1] == "Completed" and row["Tags"][1] == "null"
        if orchestration == "GoldenReverse":
            blob_columns = {c for r in history for c in r if c.endswith("BlobName")}
            assert {
                "InputBlobName",
                "ResultBlobName",
            } <= blob_columns  # checked for DTFx's names by the rules
            assert row["Output"][1].startswith(_endpoint(hub) + "/")


async def test_a_failed_instance_output_is_failure_details_text(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, app=golden_app.app) as hub:
        instance_id = await hub.client.start_new("GoldenFail", None, "42")
        status = await hub.client.wait_for_completion(instance_id, timeout=30)
        assert status.runtime_status is S.Failed
        _types, row, history = await _checked(hub, instance_id)
        done = next(r for r in history if r["EventType"][1] == "ExecutionCompleted")
        failure = json.loads(done["FailureDetails"][1])
        rules.check_failed_output(row, failure["ErrorType"], failure["ErrorMessage"])
        assert failure["ErrorMessage"] == "The order '42' has no lines."
        # what our status API and DF's HTTP payload show is that text, as Durable Functions shows it
        assert status.output == f"{failure['ErrorType']}: The order '42' has no lines."
        assert status.to_json()["output"] == status.output


async def test_rewind_sets_the_row_pending_then_the_worker_finishes_it(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, app=golden_app.app) as hub:
        key = f"rewind-{hub_name}"
        instance_id = await hub.client.start_new("GoldenRewindable", None, key)
        failed = await hub.client.wait_for_completion(instance_id, timeout=30)
        assert failed.runtime_status is S.Failed
        await hub.stop_worker()
        await hub.client.rewind(instance_id, "fixed")
        quoted = instance_id.replace("'", "''")
        (row,) = await hub.raw.rows(f"{hub.name}Instances", f"PartitionKey eq '{quoted}'")
        assert row["RuntimeStatus"] == "Pending"  # DTFx UpdateStatusForRewindAsync
        assert (await hub.client.get_status(instance_id)).runtime_status is S.Pending
        await hub.start_worker(golden_app.app)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == f"{key} works"
        assert golden_app.calls[f"GoldenBrokenOnce:{key}"] == 2
        await _checked(hub, instance_id)


async def test_tags_of_a_start_are_written_at_start_and_at_its_checkpoint(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        tags = {"team": "ops", "ticket": "17"}
        started = [
            ExecutionStarted(
                name="GoldenHello", instance_id=i, execution_id=e, input='["Oslo"]', tags=tags, generation=0
            )
            for i, e in (("tagged-row", "a" * 32), ("tagged-no-row", "b" * 32))
        ]
        for event in started:
            message = TaskMessage(event=event, instance_id=event.instance_id, execution_id=event.execution_id)
            await hub.storage.control_queue_for(event.instance_id).send(message)
        # a DTFx-style client writes the Pending row with the tags; the other start has no row yet
        await hub.storage.instances.write_pending(
            "tagged-row", name="GoldenHello", version="", input='["Oslo"]', execution_id="a" * 32,
            created_time=started[0].timestamp, generation=0, etag=None, tags=tags,
        )  # fmt: skip
        (pending,) = await hub.raw.rows(f"{hub.name}Instances", "PartitionKey eq 'tagged-row'")
        assert json.loads(pending["Tags"]) == tags
        await hub.start_worker(golden_app.app)
        for event in started:
            status = await ws.completed(hub.client, event.instance_id)
            assert status.output == ["Hello Oslo!"]
            _, row, _ = await _checked(hub, event.instance_id)
            assert json.loads(row["Tags"][1]) == tags  # the ExecutionStarted checkpoint wrote them


async def test_tags_carry_into_each_continued_execution(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, app=golden_app.app) as hub:
        tags = {"team": "ops"}
        event = ExecutionStarted(
            name="GoldenCountdown",
            instance_id="countdown",
            execution_id="c" * 32,
            input="2",
            tags=tags,
            generation=0,
        )
        await hub.storage.control_queue_for("countdown").send(
            TaskMessage(event=event, instance_id="countdown", execution_id=event.execution_id)
        )
        status = await ws.completed(hub.client, "countdown")
        assert status.output == "liftoff"
        _types, row, history = await _checked(hub, "countdown")
        started = next(r for r in history if r["EventType"][1] == "ExecutionStarted")
        assert row["ExecutionId"][1] != "c" * 32  # a later execution, started by continue-as-new
        assert json.loads(started["Tags"][1]) == tags and json.loads(row["Tags"][1]) == tags


async def test_a_sub_orchestration_inherits_its_parents_tags(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, app=golden_app.app) as hub:
        tags = {"team": "ops", "FireAndForget": "x"}  # DTFx's MergeTags drops FireAndForget
        event = ExecutionStarted(
            name="GoldenParent",
            instance_id="parent",
            execution_id="d" * 32,
            input="null",
            tags=tags,
            generation=0,
        )
        await hub.storage.control_queue_for("parent").send(
            TaskMessage(event=event, instance_id="parent", execution_id=event.execution_id)
        )
        status = await ws.completed(hub.client, "parent")
        assert status.output == ["Hello Lyon!"]
        _, _, history = await _checked(hub, "parent")
        created = next(r for r in history if r["EventType"][1] == "SubOrchestrationInstanceCreated")
        assert json.loads(created["Tags"][1]) == {"team": "ops"}
        _, child_row, child_history = await _checked(hub, "parent-child")
        child_started = next(r for r in child_history if r["EventType"][1] == "ExecutionStarted")
        assert json.loads(child_started["Tags"][1]) == json.loads(child_row["Tags"][1]) == {"team": "ops"}


async def test_suspend_and_resume_write_their_reason_as_output(azurite: str, hub_name: str) -> None:
    # DTFx UpdateStateAsync: ExecutionSuspended/ExecutionResumed set RuntimeStatus and Output = reason
    async with ws.task_hub(azurite, hub_name, app=golden_app.app) as hub:
        instance_id = await hub.client.start_new("GoldenWait")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.client.suspend(instance_id, "maintenance")
        await ws.wait_for_status(hub.client, instance_id, S.Suspended)
        _, row, _ = await _checked(hub, instance_id)
        assert (row["RuntimeStatus"][1], row["Output"][1]) == ("Suspended", "maintenance")
        assert (await hub.client.get_status(instance_id)).output == "maintenance"
        await hub.client.resume(instance_id, "back")

        async def resumed() -> bool:
            _, row, _ = await _checked(hub, instance_id)
            return bool(row["RuntimeStatus"][1] == "Running" and row["Output"][1] == "back")

        await ws.wait_until(resumed, what="the resumed row")
        await hub.client.raise_event(instance_id, "go", {"n": 1})
        status = await ws.completed(hub.client, instance_id)
        assert status.output == {"n": 1}  # the result replaces the reason


async def test_an_entity_checkpoint_writes_tags_null_as_each_execution_start_does(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, app=golden_app.app) as hub:
        entity = df.EntityId("GoldenCounter", "k")
        await hub.client.signal_entity(entity, "add", 2)

        async def state() -> Any:
            response = await hub.client.read_entity_state(entity)
            return response.entity_exists and response.entity_state == 2

        await ws.wait_until(state, what="the entity's state")
        (row,) = await hub.raw.rows(f"{hub.name}Instances", "PartitionKey eq '@goldencounter@k'")
        assert row["Tags"] == "null"
        assert rules.check_instance_row(rules.typed_entity(row)) == "Running"


async def test_our_queue_messages_obey_the_rules(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        # client messages: a start, an event, a termination (no Episode, empty Sender)
        instance_id = await hub.client.start_new("GoldenHello", None, ["Lima"])
        await hub.client.raise_event(instance_id, "nudge", {"n": 1})
        await hub.client.terminate(instance_id, "enough")
        control = rules.control_queue(hub.name, instance_id)
        bodies = await hub.raw.peek(control)
        kinds = [
            rules.check_message(b, queue=control, hub=hub.name)["TaskMessage"]["Event"]["EventType"]
            for b in bodies
        ]
        assert kinds == [0, 15, 3]
        assert all("Episode" not in json.loads(b) for b in bodies)
        await hub.raw.queues.get_queue_client(control).clear_messages()
        await hub.storage.instances.delete(instance_id)

        # an orchestration's messages: TaskScheduled to the work-item queue, its result back
        settings = Settings(connection_string=azurite, hub_name=hub.name).with_overrides(**ws.FAST)
        orchestrations = df.TaskHubWorker.from_settings(golden_app.app, settings, receive_work_items=False)
        await orchestrations.start()
        await orchestrations.activities.stop()  # no local hand-off either: the work item stays queued
        other = await hub.client.start_new("GoldenHello", None, ["Quito"])
        workitems = f"{hub.name.lower()}-workitems"
        try:
            (scheduled,) = await ws.wait_until(
                lambda: hub.raw.peek(workitems), timeout=30, what="a work item"
            )
        finally:
            await orchestrations.stop()
        envelope = rules.check_message(scheduled, queue=workitems, hub=hub.name)
        assert envelope["Episode"] == 1 and envelope["Sender"]["InstanceId"] == other

        activities = df.TaskHubWorker(golden_app.app, azurite, hub_name=hub.name, **ws.FAST)  # not started
        try:
            received = await hub.raw.queues.get_queue_client(workitems).receive_message(visibility_timeout=60)
            assert received is not None
            await activities.activities.run_delivered(received)
        finally:
            await activities.stop()
        control = rules.control_queue(hub.name, other)
        (result,) = await ws.wait_until(lambda: hub.raw.peek(control), timeout=30, what="the activity result")
        envelope = rules.check_message(result, queue=control, hub=hub.name)
        event = envelope["TaskMessage"]["Event"]
        assert (event["EventType"], event["TaskScheduledId"], event["Result"]) == (5, 0, '"Hello Quito!"')
        assert envelope["Episode"] == 1 and envelope["Sender"]["InstanceId"] == other
