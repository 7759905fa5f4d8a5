"""Golden tests for entities: DTFx/DF-written scheduler states and entity messages (``entities_dtfx.json``,
sources and commits noted there) loaded into Azurite and processed by our worker to completion; and the
reverse: what we write (requests, responses, scheduled signals, scheduler state, EntityStatus) checked
against the same shapes (:mod:`entity_shapes`).

The History/Instances row layout around the state is the engine's own (checked by the History/Instances
goldens); here the entity JSON inside those rows, and the queue envelope of each message, are DTFx's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
for _path in (str(HERE), str(INTEGRATION), str(INTEGRATION / "entity_apps")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import entity_app  # noqa: E402
import entity_shapes as shapes  # noqa: E402
import worker_support as ws  # noqa: E402

import durable_azure as df  # noqa: E402
from durable_azure.orchestration.history import (  # noqa: E402
    ExecutionStarted,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
)
from durable_azure.orchestration.net_time import format_round_trip, format_ticks, ticks_of  # noqa: E402
from durable_azure.storage.instance_table import InstanceUpdate  # noqa: E402
from durable_azure.storage.status_rows import write_status_row  # noqa: E402

pytestmark = pytest.mark.azurite
GOLDEN = json.loads((HERE / "entities_dtfx.json").read_text())
T0 = datetime(2026, 1, 10, 8, 0, tzinfo=timezone.utc)


def dtfx_envelope(instance_id: str, name: str, payload: str | None, sent: datetime) -> str:
    """A control-queue message as DTFx's MessageManager writes an EventRaisedEvent (TypeNameHandling.Objects)."""
    return json.dumps(
        {
            "$type": "DurableTask.AzureStorage.MessageData",
            "ActivityId": str(uuid.uuid4()),
            "TaskMessage": {
                "$type": "DurableTask.Core.TaskMessage",
                "Event": {
                    "$type": "DurableTask.Core.History.EventRaisedEvent",
                    "EventType": 15,
                    "Name": name,
                    "Input": payload,
                    "EventId": -1,
                    "IsPlayed": False,
                    "Timestamp": sent.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
                "SequenceNumber": 0,
                "OrchestrationInstance": {
                    "$type": "DurableTask.Core.OrchestrationInstance",
                    "InstanceId": instance_id,
                    "ExecutionId": None,
                },
            },
            "CompressedBlobName": None,
            "SequenceNumber": 0,
            "Sender": {"InstanceId": "", "ExecutionId": ""},
            "SerializableTraceContext": None,
        },
        separators=(",", ":"),
    )


async def load_state(hub: ws.Hub, instance_id: str, fixture: dict[str, str]) -> None:
    """An entity's history and Instances row after a DTFx batch: rows 0..2 (OrchestratorStarted,
    ExecutionStarted with the scheduler state as Input, OrchestratorCompleted), CustomStatus = EntityStatus."""
    execution_id = uuid.uuid4().hex
    rows = [
        OrchestratorStarted(timestamp=T0),
        ExecutionStarted(
            name=instance_id,
            instance_id=instance_id,
            execution_id=execution_id,
            input=fixture["input"],
            timestamp=T0,
        ),
        OrchestratorCompleted(timestamp=T0),
    ]
    etag = await hub.storage.history.append(instance_id, execution_id, rows, start_index=0, etag=None)
    await write_status_row(
        hub.storage,
        instance_id,
        InstanceUpdate(
            name=instance_id,
            version="",
            input=fixture["input"],
            custom_status=fixture["custom_status"],
            status=OrchestrationStatus.Running,
            last_updated_time=T0,
            created_time=T0,
            execution_id=execution_id,
        ),
        row_etag=None,
        history_etag=etag,
    )


async def send(hub: ws.Hub, instance_id: str, name: str, payload: str | None) -> None:
    queue = hub.storage.control_queue_for(instance_id).name
    await hub.raw.send_raw(queue, dtfx_envelope(instance_id, name, payload, datetime.now(timezone.utc)))


async def stored(hub: ws.Hub, instance_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    record = await hub.storage.instances.get(instance_id, fetch_input=True, fetch_output=False)
    assert record is not None
    return json.loads(record.input or "{}"), json.loads(record.custom_status or "{}")


async def wait_value(hub: ws.Hub, entity: df.EntityId, value: Any, timeout: float = 30.0) -> None:
    async def probe() -> bool | None:
        state = await hub.client.read_entity_state(entity)
        return True if state.entity_exists and state.entity_state == value else None

    await ws.wait_until(probe, timeout=timeout, interval=0.1, what=f"{entity} to hold {value!r}")


# ====================================================================== DTFx-written → our worker
async def test_dtfx_scheduler_state_and_messages_run_to_completion(azurite: str, hub_name: str) -> None:
    counter = df.EntityId("Counter", "golden-a")
    due = datetime.now(timezone.utc) + timedelta(seconds=6)
    async with ws.task_hub(azurite, hub_name, app=entity_app.app, worker=False) as hub:
        await load_state(hub, counter.instance_id, GOLDEN["states"]["df_locked_with_sorter"])
        for message in GOLDEN["messages"]:
            name = message["name"].replace("{DUE_O}", format_round_trip(ticks_of(due)))
            payload = message["input"]
            if payload is not None:
                payload = payload.replace("{DUE}", format_ticks(ticks_of(due)))
            if message.get("scheduled"):
                # hidden until due, as DTFx's TaskHubQueue does for op@<time> to an entity
                delay = int((due - datetime.now(timezone.utc)).total_seconds()) + 1
                queue = hub.storage.control_queue_for(counter.instance_id).name
                await hub.raw.queues.get_queue_client(queue).send_message(
                    dtfx_envelope(counter.instance_id, name, payload, datetime.now(timezone.utc)),
                    visibility_timeout=delay,
                    time_to_live=-1,
                )
            else:
                await send(hub, counter.instance_id, name, payload)
        await hub.start_worker(entity_app.app)

        await wait_value(hub, counter, GOLDEN["expected"]["before_scheduled"])
        assert datetime.now(timezone.utc) < due, (
            "the test machine was too slow to see the state before the due time"
        )
        await wait_value(hub, counter, GOLDEN["expected"]["after_scheduled"])
        assert datetime.now(timezone.utc) >= due - timedelta(milliseconds=100)  # not delivered early

        scheduler, status = await stored(hub, counter.instance_id)
        shapes.check_scheduler_state(scheduler)
        shapes.check_entity_status(status)
        assert status == {"entityExists": True}  # lock released, queue drained
        assert "lockedBy" not in scheduler and "queue" not in scheduler
        received = scheduler["sorter"]["ReceivedFromInstance"]
        assert received["orch-1"] == {
            "Last": "2026-01-10T08:00:05.0000001Z",
            "ExecutionId": "e1",
        }  # kept, unchanged
        assert received["orch-2"] == {
            "Last": "2026-01-10T08:00:07Z",
            "ExecutionId": "e2",
        }  # buffered one delivered
        assert scheduler["sorter"]["LastSentToInstance"] == {"@counter@elsewhere": "2026-01-10T08:00:01Z"}
        # the History ExecutionStarted carries the same scheduler state
        rows = await hub.raw.current_history_rows(hub_name, counter.instance_id)
        started = next(r for r in rows if r["EventType"] == "ExecutionStarted")
        assert json.loads(started["Input"]) == scheduler
        await ws.wait_until(
            lambda: _queues_empty(hub), timeout=20, interval=0.2, what="every entity message consumed"
        )


async def _queues_empty(hub: ws.Hub) -> bool | None:
    lengths = [await hub.raw.queue_length(q.name) for q in hub.storage.control_queues]
    return True if sum(lengths) == 0 else None


async def test_core_state_without_exists_and_deleted_state(azurite: str, hub_name: str) -> None:
    core = df.EntityId("Counter", "golden-core")
    deleted = df.EntityId("Counter", "golden-deleted")
    async with ws.task_hub(azurite, hub_name, app=entity_app.app, worker=False) as hub:
        await load_state(hub, core.instance_id, GOLDEN["states"]["core_without_exists"])
        await load_state(hub, deleted.instance_id, GOLDEN["states"]["df_deleted"])
        assert await hub.client.read_entity_state(core) == df.EntityStateResponse(True, 3)
        assert await hub.client.read_entity_state(deleted) == df.EntityStateResponse(False, None)
        signal = GOLDEN["messages"][3]["input"]  # a DF client signal: add 1
        await send(hub, core.instance_id, "op", signal)
        await send(hub, deleted.instance_id, "op", signal)
        await hub.start_worker(entity_app.app)
        await wait_value(hub, core, 4)
        await wait_value(hub, deleted, 1)  # starts again from the initializer (0)
        for entity in (core, deleted):
            scheduler, status = await stored(hub, entity.instance_id)
            shapes.check_scheduler_state(scheduler)
            shapes.check_entity_status(status)


# ====================================================================== what we write → DTFx's shapes
async def test_what_we_write_has_dtfx_shapes(azurite: str, hub_name: str) -> None:
    counter = df.EntityId("Counter", "golden-rev")
    async with ws.task_hub(azurite, hub_name, app=entity_app.app, worker=False) as hub:
        # client signals: one op message each (no opbatch by default), scheduled ones as op@<time>
        await asyncio.gather(*(hub.client.signal_entity(counter, "add", 1) for _ in range(20)))
        due = datetime.now(timezone.utc) + timedelta(seconds=3)
        await hub.client.signal_entity(counter, "add", 100, scheduled_time=due)
        queue = hub.storage.control_queue_for(counter.instance_id).name
        visible = [json.loads(m) for m in await hub.raw.peek(queue)]
        assert len(visible) == 20  # the scheduled one is hidden until due
        for message in visible:
            event = message["TaskMessage"]["Event"]
            assert event["Name"] == "op"
            shapes.check_request(json.loads(event["Input"]), client=True)
        assert await hub.raw.queue_length(queue) == 21

        await hub.start_worker(entity_app.app)
        status = await ws.completed(
            hub.client,
            await hub.client.start_new("counter_script", None, {"key": "golden-rev", "ops": [["get", None]]}),
        )
        assert status.output in ([20], [120])
        await wait_value(hub, counter, 120)

        # the orchestration's request (EventSent row) and the entity's response (EventRaised row)
        rows = await hub.raw.history_rows(hub_name, status.instance_id)
        (sent,) = [r for r in rows if r.get("EventType") == "EventSent"]
        assert sent["Name"] == "op" and sent["InstanceId"] == counter.instance_id
        request = json.loads(sent["Input"])
        shapes.check_request(request, client=False)
        assert request["parent"] == status.instance_id and "signal" not in request
        (answer,) = [r for r in rows if r.get("EventType") == "EventRaised"]
        assert answer["Name"] == request["id"]
        shapes.check_response(json.loads(answer["Input"]))

        scheduler, entity_status = await stored(hub, counter.instance_id)
        shapes.check_scheduler_state(scheduler)
        shapes.check_entity_status(entity_status)
        assert entity_status == {"entityExists": True}
        # the orchestration's stamp is in the entity's sorter
        assert scheduler["sorter"]["ReceivedFromInstance"][status.instance_id]["Last"] == request["Timestamp"]


async def test_signal_batching_is_opt_in_and_its_opbatch_is_still_processed(
    azurite: str, hub_name: str
) -> None:
    counter = df.EntityId("Counter", "golden-batch")
    async with ws.task_hub(azurite, hub_name, app=entity_app.app, worker=False) as hub:
        batching = df.DurableOrchestrationClient(hub.storage, batch_entity_signals=True)
        await asyncio.gather(*(batching.signal_entity(counter, "add", n) for n in range(1, 6)))
        queue = hub.storage.control_queue_for(counter.instance_id).name
        (message,) = [json.loads(m) for m in await hub.raw.peek(queue)]
        event = message["TaskMessage"]["Event"]
        assert event["Name"] == "opbatch" and len(json.loads(event["Input"])) == 5
        await hub.start_worker(entity_app.app)
        await wait_value(hub, counter, 15)
