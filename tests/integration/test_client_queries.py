"""Paged instance queries over 250 instances: pages and tokens, status, created-time and prefix filters."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

import durable_azure as df
from durable_azure import OrchestrationRuntimeStatus as S

A_IDS = [f"a-{i:03d}" for i in range(100)]  # run to completion by a worker
B_IDS = [f"b-{i:03d}" for i in range(150)]  # started while no worker runs: stay Pending


async def start_all(
    client: df.DurableOrchestrationClient, name: str, ids: list[str], client_input: object
) -> None:
    limit = asyncio.Semaphore(16)

    async def start(instance_id: str) -> None:
        async with limit:
            await client.start_new(name, instance_id, client_input)

    await asyncio.gather(*(start(i) for i in ids))


async def all_pages(
    client: df.DurableOrchestrationClient, **query: object
) -> list[list[df.DurableOrchestrationStatus]]:
    pages, token = [], None
    while True:
        page, token = await client.list_instances(page_size=100, continuation_token=token, **query)  # type: ignore[arg-type]
        assert len(page) <= 100
        pages.append(page)
        if token is None:
            return pages
        assert isinstance(token, str) and token


def ids_of(pages: list[list[df.DurableOrchestrationStatus]]) -> list[str]:
    return [status.instance_id for page in pages for status in page]


async def test_paged_queries_over_250_instances(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        client = hub.client
        await start_all(client, "Noop", A_IDS, "done")

        async def a_done() -> bool:
            return len(await client.get_status_by(runtime_status=[S.Completed])) == 100

        await ws.wait_until(a_done, timeout=60, interval=0.3, what="100 Completed instances")
        await hub.stop_worker()
        boundary = datetime.now(timezone.utc)
        await asyncio.sleep(0.05)  # keep the two batches' CreatedTime apart
        await start_all(client, "WaitForEvent", B_IDS, None)

        # pages of at most 100 whose tokens cover all 250 exactly once
        pages = await all_pages(client)
        assert len(pages) >= 3
        assert Counter(ids_of(pages)) == Counter(A_IDS + B_IDS)
        statuses = Counter(s.runtime_status for page in pages for s in page)
        assert statuses == {S.Completed: 100, S.Pending: 150}

        pending_pages = await all_pages(client, runtime_status=[S.Pending])
        assert Counter(ids_of(pending_pages)) == Counter(B_IDS)
        assert len(pending_pages) >= 2
        completed_ids = ids_of(await all_pages(client, runtime_status=[S.Completed]))
        assert Counter(completed_ids) == Counter(A_IDS)
        both = ids_of(await all_pages(client, runtime_status=[S.Completed, S.Pending]))
        assert Counter(both) == Counter(A_IDS + B_IDS)
        assert ids_of(await all_pages(client, runtime_status=[S.Running, S.Failed])) == []

        assert Counter(ids_of(await all_pages(client, created_time_from=boundary))) == Counter(B_IDS)
        assert Counter(ids_of(await all_pages(client, created_time_to=boundary))) == Counter(A_IDS)
        assert ids_of(await all_pages(client, created_time_from=boundary, runtime_status=[S.Completed])) == []

        assert Counter(ids_of(await all_pages(client, instance_id_prefix="a-"))) == Counter(A_IDS)
        assert sorted(ids_of(await all_pages(client, instance_id_prefix="b-14"))) == [
            f"b-14{i}" for i in range(10)
        ]

        everything = await client.get_status_all()
        assert Counter(s.instance_id for s in everything) == Counter(A_IDS + B_IDS)
        assert all(s.output == "done" for s in everything if s.runtime_status is S.Completed)
