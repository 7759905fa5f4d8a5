"""A DF orchestration's lock request (two entities) through our entity executor, pure: the hop to the
next entity and the final response keep DF's shapes (``entity_shapes``), and ``release`` unlocks.

The request is written as DF's ``DurableOrchestrationContext.LockAsync`` sends it (azure-functions-durable-
extension a7c6d6944041b48267ed8409bb8ec8144ab9bab9: ``op`` null, ``lockset`` of ``{"name","key"}``, ``pos``
left out at 0, stamped by the orchestration's MessageSorter).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import entity_shapes as shapes  # noqa: E402

import durable_azure as df  # noqa: E402
from durable_azure.entities.executor import LOCK_ACQUIRED, SchedulerState, run_batch  # noqa: E402
from durable_azure.orchestration.history import EventRaised  # noqa: E402

NOW = datetime(2026, 1, 10, 8, 0, 30, tzinfo=timezone.utc)
A, B = df.EntityId("Counter", "a"), df.EntityId("Counter", "b")
DF_LOCK_REQUEST = (
    '{"op":null,"id":"0c3f0b7e-7d5d-4b0e-9f43-8d3c4b1a2e01","parent":"orch-df","parentExecution":"e1",'
    '"Timestamp":"2026-01-10T08:00:20Z","Predecessor":"0001-01-01T00:00:00",'
    '"lockset":[{"name":"counter","key":"a"},{"name":"counter","key":"b"}]}'
)


def test_df_lock_request_hops_and_answers_in_dfs_shapes() -> None:
    shapes.check_request(json.loads(DF_LOCK_REQUEST), client=False)  # the fixture itself follows the rules
    a, b = SchedulerState(), SchedulerState()
    first = run_batch(None, A, a, [EventRaised(name="op", input=DF_LOCK_REQUEST, timestamp=NOW)], NOW)
    assert a.locked_by == "orch-df"
    ((hop,),) = [first.outgoing]
    assert hop.instance_id == B.instance_id and hop.event.name == "op"
    forwarded = json.loads(hop.event.input or "")
    shapes.check_request(forwarded, client=False)
    assert forwarded["pos"] == 1 and forwarded["Timestamp"] == "2026-01-10T08:00:20Z"  # DF forwards it as is

    second = run_batch(None, B, b, [hop.event], NOW)
    assert b.locked_by == "orch-df"
    ((answer,),) = [second.outgoing]
    assert (answer.instance_id, answer.execution_id) == ("orch-df", "e1")
    assert answer.event.name == "0c3f0b7e-7d5d-4b0e-9f43-8d3c4b1a2e01"
    response = json.loads(answer.event.input or "")
    shapes.check_response(response)
    assert response == {
        "result": LOCK_ACQUIRED
    }  # the plain string (ResponseMessage.LockAcquisitionCompletion)
    for scheduler in (a, b):
        shapes.check_entity_status(json.loads(scheduler.status_json()))
        shapes.check_scheduler_state(json.loads(scheduler.to_json()))

    release = EventRaised(
        name="release",
        input='{"parent":"orch-df","id":"0c3f0b7e-7d5d-4b0e-9f43-8d3c4b1a2e01"}',
        timestamp=NOW,
    )
    for entity, scheduler in ((A, a), (B, b)):
        run_batch(None, entity, scheduler, [release], NOW)
        assert scheduler.locked_by is None and scheduler.status_json() == "{}"
