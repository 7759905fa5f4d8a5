"""Large inputs and outputs through the worker: queue bodies and table values offloaded to gzip blobs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure.orchestration import history as h

FIVE_MB = 5 * 1024 * 1024


async def test_5mb_input_and_output_round_trip(azurite: str, hub_name: str) -> None:
    data = os.urandom(FIVE_MB // 2).hex()  # 5 MiB of text that gzip cannot shrink much
    assert len(data) == FIVE_MB
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("BigPayload", "big-5mb", data)
        status = await ws.completed(hub.client, instance_id, timeout=60)
        assert status.output == data[::-1]

        with_input = await hub.client.get_status(instance_id, show_input=True)
        assert with_input.input_ == data

        events = await hub.client.get_history(instance_id)
        started = next(e for e in events if isinstance(e, h.ExecutionStarted))
        scheduled = next(e for e in events if isinstance(e, h.TaskScheduled))
        done = next(e for e in events if isinstance(e, h.TaskCompleted))
        finished = next(e for e in events if isinstance(e, h.ExecutionCompleted))
        assert json.loads(started.input) == data
        assert json.loads(scheduled.input) == data
        assert json.loads(done.result) == data[::-1]
        assert json.loads(finished.result) == data[::-1]

        # what is in storage: blob references, not 5 MB table properties
        rows = {r["EventType"]: r for r in await hub.raw.current_history_rows(hub_name, instance_id)}
        assert rows["ExecutionStarted"]["Input"] == "" and rows["ExecutionStarted"]["InputBlobName"]
        assert rows["TaskCompleted"]["Result"] == "" and rows["TaskCompleted"]["ResultBlobName"]
        instance_row = (await hub.raw.rows(f"{hub_name}Instances", f"PartitionKey eq '{instance_id}'"))[0]
        assert instance_row["Input"].startswith("http://127.0.0.1:10000/devstoreaccount1/")
        assert instance_row["Output"].startswith("http://127.0.0.1:10000/devstoreaccount1/")
        blobs = await hub.raw.blob_names(f"{hub_name.lower()}-largemessages")
        # the client's start message went through the queue as a blob (activity traffic may be
        # handed over in-process, so only the client's message is certain to have one)
        assert any(
            b.startswith(f"{instance_id}/message-") and b.endswith("-ExecutionStarted.json.gz") for b in blobs
        )
        for row in rows.values():
            for column, value in row.items():
                if column.endswith("BlobName"):
                    assert value in blobs, (column, value)
        assert rows["ExecutionStarted"]["InputBlobName"] in blobs

        # purge removes every blob of the instance
        assert (await hub.client.purge_instance_history(instance_id)).instances_deleted == 1
        assert [
            b
            for b in await hub.raw.blob_names(f"{hub_name.lower()}-largemessages")
            if b.startswith(instance_id)
        ] == []


async def test_purge_leaves_blobs_of_ids_sharing_the_prefix(azurite: str, hub_name: str) -> None:
    big = "x" * 100_000  # > 60 KiB UTF-16: offloaded in history, Instances and queue messages
    async with ws.task_hub(azurite, hub_name) as hub:
        for instance_id in ("big-1", "big-10"):
            await hub.client.start_new("Noop", instance_id, big)
        for instance_id in ("big-1", "big-10"):
            await ws.completed(hub.client, instance_id)

        assert (await hub.client.purge_instance_history("big-1")).instances_deleted == 1

        status = await hub.client.get_status("big-10", show_input=True)
        assert status.input_ == big and status.output == big
        events = await hub.client.get_history("big-10")
        assert json.loads(next(e for e in events if isinstance(e, h.ExecutionStarted)).input) == big


async def test_purge_deletes_blobs_of_an_id_that_needs_key_escaping(azurite: str, hub_name: str) -> None:
    instance_id = "caret^id"
    async with ws.task_hub(azurite, hub_name) as hub:
        await hub.client.start_new("Noop", instance_id, "x" * 100_000)
        await ws.completed(hub.client, instance_id)
        container = f"{hub_name.lower()}-largemessages"
        assert any(b.startswith("caret^^id/history-") for b in await hub.raw.blob_names(container))

        assert (await hub.client.purge_instance_history(instance_id)).instances_deleted == 1
        left = [b for b in await hub.raw.blob_names(container) if b.startswith(("caret^id/", "caret^^id/"))]
        assert left == []


async def test_a_large_start_input_is_stored_once_for_the_instances_row(azurite: str, hub_name: str) -> None:
    data = "y" * 100_000  # > 60 KiB UTF-16: the Instances row holds a blob URL
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("BigPayload", "big-once", data)
        await ws.completed(hub.client, instance_id, timeout=60)
        with_input = await hub.client.get_status(instance_id, show_input=True)
        assert with_input.input_ == data

        container = hub.raw.blobs.get_container_client(f"{hub_name.lower()}-largemessages")
        names = [b.name async for b in container.list_blobs(name_starts_with=f"{instance_id}/")]
        instance_inputs = [n for n in names if n.startswith(f"{instance_id}/Input-")]
        assert len(instance_inputs) == 1, names
