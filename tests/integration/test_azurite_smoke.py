"""Azurite is reachable through StorageClients, and every request is counted."""

from __future__ import annotations

from durable_azure.storage.clients import StorageClients


async def test_queue_table_blob_round_trip(azurite: str, hub_name: str) -> None:
    name = hub_name.lower()
    async with StorageClients(azurite) as clients:
        queue = clients.queues.get_queue_client(f"{name}-smoke")
        table = clients.tables.get_table_client(f"{hub_name}Smoke")
        container = clients.blobs.get_container_client(f"{name}-smoke")
        await queue.create_queue()
        await clients.tables.create_table(f"{hub_name}Smoke")
        await container.create_container()
        try:
            # queue: send, receive, delete
            await queue.send_message("hello")
            received = [m async for m in queue.receive_messages(max_messages=1)]
            assert [m.content for m in received] == ["hello"]
            await queue.delete_message(received[0])

            # table: insert, point read
            await table.create_entity({"PartitionKey": "p", "RowKey": "r", "Value": 42})
            entity = await table.get_entity("p", "r")
            assert entity["Value"] == 42

            # blob: upload, download
            blob = container.get_blob_client("item.txt")
            await blob.upload_blob(b"payload")
            downloaded = await (await blob.download_blob()).readall()
            assert downloaded == b"payload"

            counts = clients.counter.snapshot()
            for op in (
                "queue.create",
                "queue.send",
                "queue.receive",
                "queue.delete",
                "table.create_table",
                "table.insert",
                "table.get",
                "blob.create_container",
                "blob.upload",
                "blob.download",
            ):
                assert counts.get(op, 0) >= 1, (op, counts)
            assert counts["queue.send"] == 1
            assert clients.counter.total == sum(counts.values())
        finally:
            await queue.delete_queue()
            await clients.tables.delete_table(f"{hub_name}Smoke")
            await container.delete_container()

        names = [q.name async for q in clients.queues.list_queues(name_starts_with=name)]
        assert names == []
