"""The storage operations bench/profile_requests.py measures: one :class:`Operation` per request type,
made through a :class:`~durable_azure.storage.clients.StorageClients` with the same SDK calls and
arguments as our storage layer, on a :class:`Fixture` (a queue, a table, a container)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from azure.data.tables import UpdateMode

from durable_azure.storage.clients import StorageClients

log = logging.getLogger("profile_requests")

# ------------------------------------------------------------------------------ operations

MESSAGE = json.dumps(
    {
        "$type": "DurableTask.AzureStorage.MessageData",
        "TaskMessage": {
            "Event": {"EventType": 4, "Name": "Echo", "Input": '"Hello Tokyo!"', "EventId": 0},
            "OrchestrationInstance": {"InstanceId": "hello5-00001-abcdef", "ExecutionId": uuid.uuid4().hex},
        },
        "SequenceNumber": 42,
        "Episode": 1,
    }
)
PAYLOAD = "x" * 300


def history_row(pk: str, rk: str) -> dict[str, Any]:
    return {
        "PartitionKey": pk,
        "RowKey": rk,
        "EventType": "TaskScheduled",
        "Name": "Echo",
        "Input": '"Hello Tokyo!"',
        "EventId": 3,
        "IsPlayed": False,
        "ExecutionId": "0123456789abcdef",
        "Payload": PAYLOAD,
    }


@dataclass
class Operation:
    """One kind of request: ``prepare(n)`` readies state for ``n`` calls (not measured); ``call(i)``
    makes the i-th request."""

    name: str
    hot: bool
    call: Callable[[int], Awaitable[Any]]
    prepare: Callable[[int], Awaitable[None]] | None = None
    note: str = ""
    divisor: int = 1  # requests per pass = max(10, n // divisor) (receive32 needs 32 messages a request)

    def count(self, n: int) -> int:
        return n if self.divisor == 1 else max(10, n // self.divisor)


@dataclass
class Fixture:
    """A queue, a table and a container of one run (deleted at the end)."""

    clients: StorageClients
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    received: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queue_name = f"prof{self.suffix}"
        self.empty_queue_name = f"prof{self.suffix}-empty"
        self.table_name = f"prof{self.suffix}"
        self.container_name = f"prof{self.suffix}"
        self.queue = self.clients.queues.get_queue_client(self.queue_name)
        self.empty_queue = self.clients.queues.get_queue_client(self.empty_queue_name)
        self.table = self.clients.tables.get_table_client(self.table_name)
        self.container = self.clients.blobs.get_container_client(self.container_name)
        self.blob = self.container.get_blob_client("payload-0001.json.gz")
        self.batch_counter = 0

    async def create(self) -> None:
        await self.queue.create_queue()
        await self.empty_queue.create_queue()
        await self.clients.tables.create_table(self.table_name)
        await self.container.create_container()
        await self.table.upsert_entity(history_row("point", "sentinel"))
        # a 20-row partition for the query
        await self.table.submit_transaction(
            [("upsert", history_row("query", f"{i:016X}")) for i in range(20)]
        )
        await self.blob.upload_blob(PAYLOAD.encode() * 4, overwrite=True)

    async def delete(self) -> None:
        for step in (
            self.queue.delete_queue(),
            self.empty_queue.delete_queue(),
            self.clients.tables.delete_table(self.table_name),
            self.container.delete_container(),
        ):
            try:
                await step
            except Exception as error:  # report, keep cleaning
                log.warning("cleanup: %s: %s", type(error).__name__, error)

    async def fill(self, n: int) -> None:
        """``n`` messages on the queue (sent 16 at a time; not measured)."""
        for start in range(0, n, 32):
            await asyncio.gather(
                *(self.queue.send_message(MESSAGE, time_to_live=-1) for _ in range(min(32, n - start)))
            )

    async def drain(self) -> None:
        await self.queue.clear_messages()

    async def receive(self, count: int) -> list[Any]:
        pages = self.queue.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=300
        ).by_page()
        page = await pages.__anext__()
        return [m async for m in page]

    # the operations ------------------------------------------------------------------

    def operations(self, batch_rows: int) -> list[Operation]:
        async def send(_i: int) -> Any:
            return await self.queue.send_message(MESSAGE, time_to_live=-1)

        async def prepare_send(_n: int) -> None:
            # Azurite slows down with every message it holds (in any queue), and a slower answer
            # also costs the client more CPU (colder caches): start each pass from an empty queue.
            await self.drain()

        async def prepare_receive(n: int) -> None:
            await self.drain()
            await self.fill(n)

        async def receive1(_i: int) -> Any:
            got = await self.receive(1)
            assert len(got) == 1, got
            return got

        async def prepare_receive32(n: int) -> None:
            await self.drain()
            await self.fill(32 * n)

        async def receive32(_i: int) -> Any:
            got = await self.receive(32)
            assert len(got) == 32, len(got)
            return got

        async def receive_empty(_i: int) -> Any:
            pages = self.empty_queue.receive_messages(
                messages_per_page=32, max_messages=32, visibility_timeout=300
            ).by_page()
            try:
                page = await pages.__anext__()
            except StopAsyncIteration:  # how the SDK reports an empty first page
                return []
            got = [m async for m in page]
            assert not got
            return got

        async def prepare_delete(n: int) -> None:
            await self.drain()
            await self.fill(n)
            self.received = []
            while len(self.received) < n:
                self.received += await self.receive(min(32, n - len(self.received)))

        async def delete(i: int) -> Any:
            m = self.received[i]
            return await self.queue.delete_message(m.id, m.pop_receipt)

        async def batch(_i: int) -> Any:
            self.batch_counter += 1
            pk = f"batch-{self.batch_counter % 50}"
            ops = [
                ("upsert", history_row(pk, f"{self.batch_counter:08X}-{j}")) for j in range(batch_rows - 1)
            ]
            ops.append(("upsert", {"PartitionKey": pk, "RowKey": "sentinel", "Counter": self.batch_counter}))
            return await self.table.submit_transaction(ops)

        async def get(_i: int) -> Any:
            return await self.table.get_entity("point", "sentinel")

        async def merge(i: int) -> Any:
            entity = {"PartitionKey": "merge", "RowKey": "instance", "RuntimeStatus": "Running", "N": i}
            return await self.table.upsert_entity(entity, mode=UpdateMode.MERGE)

        async def query(_i: int) -> Any:
            rows = [r async for r in self.table.query_entities("PartitionKey eq 'query'")]
            assert len(rows) == 20, len(rows)
            return rows

        async def upload(_i: int) -> Any:
            return await self.blob.upload_blob(PAYLOAD.encode() * 4, overwrite=True)

        async def download(_i: int) -> Any:
            return await (await self.blob.download_blob()).readall()

        return [
            Operation(
                "queue.send", True, send, prepare_send, note="~300 B DTFx-style message, time_to_live=-1"
            ),
            Operation(
                "queue.receive", True, receive1, prepare_receive, note="receive_messages, 1 message returned"
            ),
            Operation(
                "queue.receive32",
                True,
                receive32,
                prepare_receive32,
                note="receive_messages(max 32), 32 messages returned; n/8 requests a pass",
                divisor=8,
            ),
            Operation(
                "queue.receive_empty", True, receive_empty, note="receive_messages(max 32) on an empty queue"
            ),
            Operation("queue.delete", True, delete, prepare_delete, note="delete_message(id, pop_receipt)"),
            Operation(
                "table.batch", True, batch, note=f"submit_transaction of {batch_rows} upserts (~400 B rows)"
            ),
            Operation("table.get", True, get, note="get_entity point read"),
            Operation("table.merge", True, merge, note="upsert_entity(MERGE), the Instances row write"),
            Operation("table.query", False, query, note="query_entities of one 20-row partition"),
            Operation("blob.upload", False, upload, note="upload_blob 1.2 KB, overwrite"),
            Operation("blob.download", False, download, note="download_blob 1.2 KB + readall"),
        ]
