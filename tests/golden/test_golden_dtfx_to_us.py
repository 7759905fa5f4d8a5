"""DTFx → us: rows and messages written as DurableTask.AzureStorage writes them (the golden fixtures)
are loaded into a fresh hub on Azurite, our worker runs each instance to completion, and what it
appends is checked against the same rules (:mod:`dtfx_rules`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))

import dtfx_rules as rules  # noqa: E402
import golden_app  # noqa: E402
import golden_fixtures as gf  # noqa: E402
import worker_support as ws  # noqa: E402

import durable_azure as df  # noqa: E402

pytestmark = pytest.mark.azurite
S = df.OrchestrationRuntimeStatus


async def _load(hub: ws.Hub, name: str) -> dict[str, Any]:
    fixture = gf.load(name, hub.name, hub.storage.payloads.container_url.rsplit("/", 1)[0])
    await gf.store(hub.raw, hub.name, fixture)
    return fixture


async def _rows(hub: ws.Hub, instance_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    history = [rules.typed_entity(r) for r in await hub.raw.history_rows(hub.name, instance_id)]
    quoted = instance_id.replace("'", "''")
    (row,) = await hub.raw.rows(f"{hub.name}Instances", f"PartitionKey eq '{quoted}'")
    return history, rules.typed_entity(row)


def _same_row(ours: dict[str, Any], fixture_row: dict[str, Any]) -> None:
    """A fixture row our worker must have left as DTFx wrote it (values and Edm types)."""
    theirs = rules.fixture_entity(fixture_row)
    for column, (edm, value) in theirs.items():
        assert column in ours, f"{column} of row {fixture_row['RowKey']} was dropped"
        assert ours[column][0] == edm, f"{column} of row {fixture_row['RowKey']} changed type"
        if edm != rules.DT:
            assert ours[column][1] == value, f"{column} of row {fixture_row['RowKey']} was rewritten"


@pytest.mark.parametrize(
    "name",
    [
        "history_activity_result_waiting.json",
        "history_pending_timer.json",
        "history_large_payloads.json",
        "history_most_event_types.json",
        "history_work_item_waiting.json",
        "history_v1_activity_result_waiting.json",
    ],
)
async def test_a_dtfx_instance_in_flight_completes_under_our_worker(
    azurite: str, hub_name: str, name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        fixture = await _load(hub, name)
        instance_id = fixture["instance_id"]
        before = dict(golden_app.calls)
        await hub.start_worker(golden_app.app)
        status = await hub.client.wait_for_completion(instance_id, timeout=40)
        assert status.runtime_status is S.Completed, status.output
        assert status.output == fixture["expect"]["output"]
        for key, count in fixture["expect"].get("activity_calls", {}).items():
            assert golden_app.calls[key] - before.get(key, 0) == count, key  # only the missing work ran

        history, row = await _rows(hub, instance_id)
        if fixture.get("layout") == "DT.AS 1.x":  # its own rows predate the rules: check only ours
            written = len(fixture["history"]) - 1
            rules.check_sentinel(history[-1])
            execution_id = history[-1]["ExecutionId"][1]
            types = [str(r["EventType"][1]) for r in history[:written]] + [
                rules.check_history_row(r, index=i, execution_id=execution_id)
                for i, r in enumerate(history[written:-1], start=written)
            ]
        else:
            types = rules.check_history(history)  # the rows we appended follow DTFx's rules
        assert types[-2:] == ["ExecutionCompleted", "OrchestratorCompleted"]
        assert sum(t == "ExecutionStarted" for t in types) == 1
        for ours, theirs in zip(history, fixture["history"][:-1], strict=False):
            _same_row(ours, theirs)  # DTFx's rows are kept, not rewritten
        assert (
            rules.check_instance_row(row, blob_endpoint=gf._values(hub.name, _endpoint(hub))["$BLOBS"])
            == "Completed"
        )
        assert row["Tags"][1] == fixture["instance"]["Tags"]  # tags survive our checkpoints
        assert row["ExecutionId"][1] == fixture["instance"]["ExecutionId"]


def _endpoint(hub: ws.Hub) -> str:
    return hub.storage.payloads.container_url.rsplit("/", 1)[0]


async def test_the_large_payload_instance_keeps_dtfx_blob_conventions(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        fixture = await _load(hub, "history_large_payloads.json")
        await hub.start_worker(golden_app.app)
        status = await hub.client.wait_for_completion(fixture["instance_id"], timeout=40)
        assert status.runtime_status is S.Completed
        history, row = await _rows(hub, fixture["instance_id"])
        completed = next(r for r in history if r["EventType"][1] == "ExecutionCompleted")
        assert completed["Result"][1] == "" and completed["ResultBlobName"][1].startswith(
            "golden-large/history-"
        )
        task_completed = next(r for r in history if r["EventType"][1] == "TaskCompleted")
        assert "ResultBlobName" in task_completed  # the large activity result read from the message blob
        assert row["Output"][1].startswith(
            _endpoint(hub) + f"/{hub.name.lower()}-largemessages/golden-large/"
        )
        with_input = await hub.client.get_status(fixture["instance_id"], show_input=True)
        assert with_input.input_ == gf.BIG  # the Instances Input URL DTFx wrote, read back


async def test_a_dtfx_pending_start_with_input_blob_name_is_read_and_run(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        fixture = await _load(hub, "instances_pending_large_input.json")
        instance_id = fixture["instance_id"]
        pending = await hub.client.get_status(instance_id, show_input=True)
        assert pending.runtime_status is S.Pending
        assert pending.input_ == gf.MID  # read through InputBlobName (Input is '')
        (listed,), _ = await hub.storage.instances.query(
            fetch_input=True, instance_id_prefix="golden-pending"
        )
        assert listed.input == f'"{gf.MID}"' and listed.tags == {"source": "dtfx-client"}

        await hub.start_worker(golden_app.app)
        status = await hub.client.wait_for_completion(instance_id, timeout=40)
        assert status.runtime_status is S.Completed and status.output == 35000
        history, row = await _rows(hub, instance_id)
        rules.check_history(history)
        assert rules.check_instance_row(row, blob_endpoint=_endpoint(hub)) == "Completed"
        # as a DTFx worker does, the first checkpoint wrote Input as a blob URL that every reader knows
        assert row["Input"][1].startswith(_endpoint(hub) + "/")
        assert row["Tags"][1] == '{"source":"dtfx-client"}'  # from the start message's tags
        again = await hub.client.get_status(instance_id, show_input=True)
        assert again.input_ == gf.MID


async def test_finished_dtfx_rows_read_through_status_and_http_payloads(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        await _load(hub, "instances_finished_rows.json")
        done = await hub.client.get_status("golden-done", show_input=True)
        assert done.runtime_status is S.Completed and done.output == ["Hello Tokyo!"]
        assert done.custom_status == {"step": 2} and done.input_ == ["Tokyo"]
        failed = await hub.client.get_status("golden-failed")
        assert failed.runtime_status is S.Failed
        # Durable Functions' ParseToJToken: text that is not JSON is returned as a string
        assert failed.output == 'System.InvalidOperationException: The order "42" has no lines.'
        assert failed.to_json()["output"] == failed.output
        record = await hub.storage.instances.get("golden-failed")
        assert record is not None and record.tags == {"owner": "golden"} and record.version == "1.0"


async def test_a_dtfx_start_run_before_its_row_is_written_keeps_its_large_input(
    azurite: str, hub_name: str
) -> None:
    # DTFx's client sends the start, then writes the row; a worker may checkpoint in between, and the
    # client's insert then fails (409, ignored by DTFx): the worker's row must hold the input itself.
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        fixture = gf.load("instances_pending_large_input.json", hub.name, _endpoint(hub))
        row = fixture.pop("instance")
        await gf.store(hub.raw, hub.name, fixture)
        await hub.start_worker(golden_app.app)
        status = await hub.client.wait_for_completion(fixture["instance_id"], timeout=40)
        assert status.runtime_status is S.Completed and status.output == 35000
        with pytest.raises(ResourceExistsError):
            await hub.raw.tables.get_table_client(f"{hub.name}Instances").create_entity(rules.sdk_entity(row))
        _, ours = await _rows(hub, fixture["instance_id"])
        assert ours["Input"][1].startswith(_endpoint(hub) + "/")
        again = await hub.client.get_status(fixture["instance_id"], show_input=True)
        assert again.input_ == gf.MID
