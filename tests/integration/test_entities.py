"""Durable entities through a TaskHubWorker on Azurite: signals, calls, class entities, critical
sections, deletion, failures, listing, and a worker killed in the middle of a batch."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ENTITY_APPS = HERE / "entity_apps"
for _path in (str(HERE), str(ENTITY_APPS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import entity_app  # noqa: E402
import worker_support as ws  # noqa: E402

import durable_azure as df  # noqa: E402
from durable_azure import OrchestrationRuntimeStatus as S  # noqa: E402

RUNNER = ENTITY_APPS / "run_entity_worker.py"
KILL_SETTINGS: dict[str, Any] = {
    "lease_duration": 15,
    "lease_renew_interval": 2,
    "lease_acquire_interval": 2,
    "control_queue_visibility_timeout": 10,
    "max_queue_polling_interval": 0.5,
}


# ---------------------------------------------------------------------------------- helpers
def entity_hub(azurite: str, hub_name: str, **kwargs: Any) -> Any:
    return ws.task_hub(azurite, hub_name, app=entity_app.app, **kwargs)


async def read(client: df.DurableOrchestrationClient, entity: df.EntityId) -> df.EntityStateResponse:
    return await client.read_entity_state(entity)


async def wait_state(
    client: df.DurableOrchestrationClient,
    entity: df.EntityId,
    expected: Any,
    *,
    timeout: float = 30.0,
) -> df.EntityStateResponse:
    """Wait until the entity exists with state ``expected`` (fails with the last state on timeout)."""

    async def probe() -> df.EntityStateResponse | None:
        response = await read(client, entity)
        return response if response.entity_exists and response.entity_state == expected else None

    return await ws.wait_until(probe, timeout=timeout, interval=0.1, what=f"{entity} to hold {expected!r}")


async def run_orchestration(
    hub: ws.Hub, name: str, data: Any, *, instance_id: str | None = None, timeout: float = 30.0
) -> df.DurableOrchestrationStatus:
    instance_id = await hub.client.start_new(name, instance_id, data)
    return await hub.client.wait_for_completion(instance_id, timeout=timeout)


async def control_queues_empty(hub: ws.Hub) -> bool:
    """True when no message (visible or hidden) is left in any control queue."""
    lengths = [await hub.raw.queue_length(q.name) for q in hub.storage.control_queues]
    return sum(lengths) == 0


async def entity_status(hub: ws.Hub, entity: df.EntityId) -> dict[str, Any]:
    record = await hub.storage.instances.get(entity.instance_id, fetch_input=False, fetch_output=False)
    assert record is not None, f"no Instances row for {entity}"
    return json.loads(record.custom_status or "{}")


# ============================================================================ counter
async def test_counter_add_reset_get_from_client_and_orchestration(azurite: str, hub_name: str) -> None:
    counter = df.EntityId("Counter", "c1")
    async with entity_hub(azurite, hub_name) as hub:
        assert await read(hub.client, counter) == df.EntityStateResponse(False, None)

        await hub.client.signal_entity(counter, "add", 5)
        await hub.client.signal_entity(counter, "add", 7)
        await wait_state(hub.client, counter, 12)

        status = await run_orchestration(
            hub,
            "counter_script",
            {"key": "c1", "ops": [["add", 10], ["get", None], ["reset", None], ["get", None]]},
        )
        assert status.runtime_status is S.Completed, status.output
        assert status.output == [22, 22, None, 0]
        assert await read(hub.client, counter) == df.EntityStateResponse(True, 0)

        await hub.client.signal_entity(counter, "add", 3)
        status = await run_orchestration(hub, "counter_script", {"key": "c1", "ops": [["get", None]]})
        assert status.output == [3]

        # DTFx layout: state in the Instances row Input, existence in CustomStatus
        record = await hub.storage.instances.get(counter.instance_id, fetch_input=True, fetch_output=False)
        assert record is not None and record.name == "@counter@c1"
        assert json.loads(json.loads(record.input or "")["state"]) == 3
        # DTFx's EntityStatus: members at their default (queueSize 0, lockedBy null) are left out
        assert json.loads(record.custom_status or "") == {"entityExists": True}


async def test_entity_names_are_case_insensitive(azurite: str, hub_name: str) -> None:
    async with entity_hub(azurite, hub_name) as hub:
        await hub.client.signal_entity(df.EntityId("COUNTER", "k"), "add", 1)
        await hub.client.signal_entity(df.EntityId("counter", "k"), "add", 1)
        await wait_state(hub.client, df.EntityId("Counter", "k"), 2)


async def test_entity_keys_differing_only_in_case_are_separate_entities_to_one_orchestration(
    azurite: str, hub_name: str
) -> None:
    """Keys are case-sensitive: an orchestration that calls @account@K and then @account@k (here
    inside a critical section over both) must not stamp the second call with the first one's stamp
    as its ``Predecessor``: @account@k never received that request and held the call back, and the
    orchestration hung holding both locks."""
    async with entity_hub(azurite, hub_name) as hub:
        await hub.client.signal_entity(df.EntityId("Account", "K"), "deposit", 30)
        await wait_state(hub.client, df.EntityId("Account", "K"), {"balance": 30})
        status = await run_orchestration(hub, "transfer", {"from": "K", "to": "k", "amount": 10}, timeout=20)
        assert status.runtime_status is S.Completed, status
        assert status.output == 10
        await wait_state(hub.client, df.EntityId("Account", "K"), {"balance": 20})
        await wait_state(hub.client, df.EntityId("Account", "k"), {"balance": 10})


async def test_signals_from_an_orchestration(azurite: str, hub_name: str) -> None:
    async with entity_hub(azurite, hub_name) as hub:
        status = await run_orchestration(hub, "signal_from_orchestration", {"key": "o", "times": 5})
        assert status.runtime_status is S.Completed
        await wait_state(hub.client, df.EntityId("Counter", "o"), 5)


@pytest.mark.slow
async def test_1000_signals_from_10_concurrent_clients_are_counted_exactly_once(
    azurite: str, hub_name: str
) -> None:
    tally = df.EntityId("Tally", "shared")
    clients_count, per_client = 10, 100
    async with entity_hub(azurite, hub_name) as hub:

        async def send_all(index: int) -> None:
            client = df.DurableOrchestrationClient.from_connection_string(azurite, hub_name=hub_name)
            try:
                for i in range(per_client):
                    await client.signal_entity(tally, "add", index * per_client + i)
            finally:
                await client.close()

        await asyncio.gather(*(send_all(c) for c in range(clients_count)))
        total = clients_count * per_client
        expected = {"count": total, "sum": total * (total - 1) // 2}
        await wait_state(hub.client, tally, expected, timeout=120)
        # every message is deleted, so nothing can be redelivered and applied again later
        await ws.wait_until(lambda: control_queues_empty(hub), timeout=30, what="control queues to drain")
        assert (await read(hub.client, tally)).entity_state == expected
        assert hub.worker is not None
        entities = hub.worker.entities
        assert entities.operations >= total
        assert entities.batches < entities.operations  # operations were batched per checkpoint


# ============================================================================ class entity & entity-to-entity
async def test_class_entity(azurite: str, hub_name: str) -> None:
    account = df.EntityId("Account", "acc-1")
    async with entity_hub(azurite, hub_name) as hub:
        await hub.client.signal_entity(account, "deposit", 30)
        await wait_state(hub.client, account, {"balance": 30})
        status = await run_orchestration(hub, "account_class_calls", "acc-1")
        assert status.runtime_status is S.Completed, status.output
        assert status.output == [100, 80, 80]
        assert await read(hub.client, account) == df.EntityStateResponse(True, {"balance": 80})

        failed = await run_orchestration(
            hub, "call_and_catch", {"name": "Account", "key": "acc-1", "op": "withdraw", "input": 1000}
        )
        assert failed.output["error_type"] == "ValueError"
        assert failed.output["message"] == "insufficient funds: 80 < 1000"

        unknown = await run_orchestration(
            hub, "call_and_catch", {"name": "Account", "key": "acc-1", "op": "fly"}
        )
        assert unknown.output["error_type"] == "AttributeError"
        assert "no operation 'fly'" in unknown.output["message"]
        assert await read(hub.client, account) == df.EntityStateResponse(True, {"balance": 80})


async def test_entity_signals_another_entity(azurite: str, hub_name: str) -> None:
    async with entity_hub(azurite, hub_name) as hub:
        forwarder = df.EntityId("Forwarder", "f1")
        for amount in (5, 6, 7):
            await hub.client.signal_entity(forwarder, "forward", {"key": "target", "amount": amount})
        await wait_state(hub.client, df.EntityId("Counter", "target"), 18)
        assert await read(hub.client, forwarder) == df.EntityStateResponse(True, 3)


# ============================================================================ critical sections
@pytest.mark.slow
async def test_bank_transfers_with_critical_sections_conserve_the_total(azurite: str, hub_name: str) -> None:
    keys = [f"acct-{i}" for i in range(10)]
    accounts = [df.EntityId("Account", k) for k in keys]
    rng = random.Random(20240501)
    async with entity_hub(azurite, hub_name) as hub:
        await asyncio.gather(*(hub.client.signal_entity(a, "deposit", 100) for a in accounts))
        for account in accounts:
            await wait_state(hub.client, account, {"balance": 100})

        transfers = []
        for _ in range(20):
            source, target = rng.sample(keys, 2)
            transfers.append({"from": source, "to": target, "amount": rng.randint(30, 90)})
        ids = [f"transfer-{i:02d}" for i in range(20)]
        await asyncio.gather(
            *(hub.client.start_new("transfer", iid, t) for iid, t in zip(ids, transfers, strict=True))
        )
        # signals from outside arrive while accounts are locked: they must wait, not interleave
        for account in accounts:
            for _ in range(5):
                await hub.client.signal_entity(account, "deposit", 1)

        statuses = await asyncio.gather(*(hub.client.wait_for_completion(i, timeout=120) for i in ids))
        failed = [(s.instance_id, s.output) for s in statuses if s.runtime_status is not S.Completed]
        assert not failed, f"transfers did not complete: {failed}"
        moved = sum(s.output for s in statuses)
        assert moved > 0

        async def balances() -> list[int] | None:
            states = [await read(hub.client, a) for a in accounts]
            values = [s.entity_state["balance"] for s in states]
            return values if sum(values) == 1050 else None

        values = await ws.wait_until(balances, timeout=30, what="all deposits to be applied")
        assert all(v >= 0 for v in values), values
        # every lock was released and no request is left waiting
        for account in accounts:

            async def unlocked(account: df.EntityId = account) -> bool:
                status = await entity_status(hub, account)
                return status.get("lockedBy") is None and status.get("queueSize", 0) == 0

            await ws.wait_until(unlocked, timeout=15, what=f"{account} to be unlocked")


async def test_a_failing_orchestration_releases_its_locks(azurite: str, hub_name: str) -> None:
    account = df.EntityId("Account", "x")
    async with entity_hub(azurite, hub_name) as hub:
        holder = await hub.client.start_new("hold_lock", "holder", ["x"])
        await ws.wait_until(
            lambda: _custom_status_is(hub, holder, "locked"), timeout=20, what="the lock to be acquired"
        )
        assert (await entity_status(hub, account))["lockedBy"] == "holder"
        await hub.client.signal_entity(account, "deposit", 5)  # waits for the lock
        await ws.wait_until(
            lambda: _queue_size(hub, account, 1), timeout=20, what="the deposit to be queued behind the lock"
        )
        await hub.client.raise_event(holder, "release", "explode")
        status = await hub.client.wait_for_completion(holder, timeout=20)
        assert status.runtime_status is S.Failed
        assert "exploded inside the critical section" in str(status.output)
        await wait_state(hub.client, account, {"balance": 5})
        assert (await entity_status(hub, account)).get("lockedBy") is None


async def test_terminating_an_orchestration_releases_its_locks(azurite: str, hub_name: str) -> None:
    account = df.EntityId("Account", "y")
    async with entity_hub(azurite, hub_name) as hub:
        holder = await hub.client.start_new("hold_lock", "holder", ["y"])
        await ws.wait_until(
            lambda: _custom_status_is(hub, holder, "locked"), timeout=20, what="the lock to be acquired"
        )
        await hub.client.signal_entity(account, "deposit", 5)
        await hub.client.terminate(holder, "stop")
        await ws.wait_for_status(hub.client, holder, S.Terminated)
        await wait_state(hub.client, account, {"balance": 5})
        assert (await entity_status(hub, account)).get("lockedBy") is None


async def test_terminating_an_orchestration_waiting_for_a_lock_does_not_leave_the_entity_locked(
    azurite: str, hub_name: str
) -> None:
    account = df.EntityId("Account", "z")
    async with entity_hub(azurite, hub_name) as hub:
        first = await hub.client.start_new("hold_lock", "first", ["z"])
        await ws.wait_until(lambda: _custom_status_is(hub, first, "locked"), timeout=20, what="first's lock")
        waiting = await hub.client.start_new("hold_lock", "waiting", ["z"])
        await ws.wait_until(
            lambda: _queue_size(hub, account, 1), timeout=20, what="the second lock request to queue"
        )
        await hub.client.terminate(waiting, "give up")
        await ws.wait_for_status(hub.client, waiting, S.Terminated)
        await hub.client.raise_event(first, "release", "ok")
        assert (await hub.client.wait_for_completion(first, timeout=20)).runtime_status is S.Completed
        await hub.client.signal_entity(account, "deposit", 5)
        await wait_state(hub.client, account, {"balance": 5}, timeout=20)


async def _custom_status_is(hub: ws.Hub, instance_id: str, value: Any) -> bool:
    status = await hub.client.get_status(instance_id)
    return bool(status) and status.custom_status == value


async def _queue_size(hub: ws.Hub, entity: df.EntityId, size: int) -> bool:
    record = await hub.storage.instances.get(entity.instance_id, fetch_input=False, fetch_output=False)
    return record is not None and json.loads(record.custom_status or "{}").get("queueSize", 0) == size


# ============================================================================ delete, failures, unknown
async def test_delete_then_read_returns_does_not_exist(azurite: str, hub_name: str) -> None:
    counter = df.EntityId("Counter", "doomed")
    async with entity_hub(azurite, hub_name) as hub:
        await hub.client.signal_entity(counter, "add", 3)
        await wait_state(hub.client, counter, 3)
        await hub.client.delete_entity(counter)

        async def gone() -> bool:
            return not (await read(hub.client, counter)).entity_exists

        await ws.wait_until(gone, timeout=20, what=f"{counter} to be deleted")
        assert await read(hub.client, counter) == df.EntityStateResponse(False, None)
        listed, _ = await hub.client.list_entities(entity_name="Counter")
        assert listed == []
        # it can be used again and starts from scratch
        await hub.client.signal_entity(counter, "add", 2)
        await wait_state(hub.client, counter, 2)


async def test_failing_operation_leaves_state_unchanged_and_the_entity_keeps_serving(
    azurite: str, hub_name: str
) -> None:
    counter = df.EntityId("Counter", "f")
    async with entity_hub(azurite, hub_name) as hub:
        await hub.client.signal_entity(counter, "add", 5)
        await wait_state(hub.client, counter, 5)

        status = await run_orchestration(hub, "call_and_catch", {"name": "Counter", "key": "f", "op": "fail"})
        assert status.runtime_status is S.Completed, status.output
        assert status.output["error_type"] == "ValueError"
        assert status.output["message"] == "Counter refuses: state is 5"
        assert "fail on @counter@f" in status.output["text"]
        assert await read(hub.client, counter) == df.EntityStateResponse(True, 5)

        # a failing signal, too, leaves the state alone; later operations still apply
        await hub.client.signal_entity(counter, "fail")
        await hub.client.signal_entity(counter, "add", 1)
        await wait_state(hub.client, counter, 6)
        status = await run_orchestration(
            hub, "counter_script", {"key": "f", "ops": [["add", 4], ["get", None]]}
        )
        assert status.output == [10, 10]

        # uncaught, the failure fails the orchestration with the original type and message
        status = await run_orchestration(hub, "call_unchecked", {"name": "Counter", "key": "f", "op": "fail"})
        assert status.runtime_status is S.Failed
        assert "ValueError" in str(status.output) and "Counter refuses: state is 10" in str(status.output)
        assert await read(hub.client, counter) == df.EntityStateResponse(True, 10)


async def test_unknown_entity_name_fails_the_call_with_a_clear_error(azurite: str, hub_name: str) -> None:
    async with entity_hub(azurite, hub_name) as hub:
        status = await run_orchestration(
            hub, "call_and_catch", {"name": "NoSuchEntity", "key": "k", "op": "get"}, timeout=20
        )
        assert status.runtime_status is S.Completed, status.output
        assert status.output["error_type"] == "FunctionNotFoundError"
        assert "nosuchentity" in status.output["message"].lower()
        assert "registered" in status.output["message"]

        status = await run_orchestration(
            hub, "call_unchecked", {"name": "NoSuchEntity", "key": "k", "op": "get"}, timeout=20
        )
        assert status.runtime_status is S.Failed
        assert "FunctionNotFoundError" in str(status.output)
        assert not (await read(hub.client, df.EntityId("NoSuchEntity", "k"))).entity_exists


# ============================================================================ listing
async def test_list_entities_pages(azurite: str, hub_name: str) -> None:
    async with entity_hub(azurite, hub_name) as hub:
        counters = {f"k{i}": i + 1 for i in range(7)}
        for key, value in counters.items():
            await hub.client.signal_entity(df.EntityId("Counter", key), "add", value)
        await hub.client.signal_entity(df.EntityId("Account", "a1"), "deposit", 9)
        await hub.client.signal_entity(df.EntityId("Counter", "deleted"), "add", 1)
        await hub.client.signal_entity(df.EntityId("Counter", "deleted"), "delete")
        for key, value in counters.items():
            await wait_state(hub.client, df.EntityId("Counter", key), value)
        await wait_state(hub.client, df.EntityId("Account", "a1"), {"balance": 9})
        await ws.wait_until(
            lambda: _deleted(hub, df.EntityId("Counter", "deleted")), timeout=20, what="the deleted entity"
        )

        pages: list[list[dict[str, Any]]] = []
        token: str | None = None
        while True:
            page, token = await hub.client.list_entities(
                entity_name="Counter", page_size=3, continuation_token=token
            )
            pages.append(page)
            assert len(page) <= 3
            if not token:
                break
        assert len(pages) >= 3
        listed = {item["entityId"]["key"]: item["state"] for page in pages for item in page}
        assert listed == counters
        for item in (i for page in pages for i in page):
            assert item["entityId"]["name"] == "counter"
            assert item["lastOperationTime"].endswith("Z")

        everything: list[dict[str, Any]] = []
        token = None
        while True:
            page, token = await hub.client.list_entities(
                page_size=4, continuation_token=token, fetch_state=False
            )
            everything.extend(page)
            if not token:
                break
        names = sorted((i["entityId"]["name"], i["entityId"]["key"]) for i in everything)
        assert names == sorted([("account", "a1")] + [("counter", k) for k in counters])
        assert all("state" not in i for i in everything)

        # orchestrations are not listed as entities, entities are not listed as orchestrations
        await run_orchestration(hub, "counter_script", {"key": "k0", "ops": [["get", None]]})
        listed_again, _ = await hub.client.list_entities(entity_name="Counter", page_size=100)
        assert len(listed_again) == 7
        instances = await hub.client.get_status_all()
        assert all(not s.instance_id.startswith("@") for s in instances)


async def _deleted(hub: ws.Hub, entity: df.EntityId) -> bool:
    record = await hub.storage.instances.get(entity.instance_id, fetch_input=True, fetch_output=False)
    return record is not None and not (await read(hub.client, entity)).entity_exists


# ============================================================================ crash recovery
def spawn_entity_worker(
    hub: str, worker_id: str, log_dir: Path, connection: str, *extra: str
) -> ws.WorkerProcess:
    log_path = log_dir / f"{worker_id}.log"
    out = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER),
            "--hub",
            hub,
            "--connection",
            connection,
            "--worker-id",
            worker_id,
            "--settings",
            json.dumps(KILL_SETTINGS),
            *extra,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "ENTITY_APP_TRACE": "1"},
    )
    out.close()
    return ws.WorkerProcess(worker_id, process, log_path)


def applied_in_log(worker: ws.WorkerProcess) -> int:
    """The highest ``APPLY <count>`` the worker printed (operations applied in memory so far)."""
    counts = [int(line.split()[1]) for line in worker.log().splitlines() if line.startswith("APPLY ")]
    return max(counts, default=0)


def kill(worker: ws.WorkerProcess) -> None:
    os.kill(worker.pid, signal.SIGKILL)  # our own child, by pid
    worker.process.wait(timeout=10)


async def stored_count(hub: ws.Hub, entity: df.EntityId) -> int:
    state = (await read(hub.client, entity)).entity_state
    return int(state["count"]) if state else 0


async def recover_and_check(hub: ws.Hub, entity: df.EntityId, total: int) -> None:
    """Start a new worker; the count must reach ``total`` exactly and stay there once every message is gone."""
    expected = {"count": total, "sum": total * (total - 1) // 2}
    await hub.start_worker(entity_app.app, worker_id="survivor", **KILL_SETTINGS)

    async def settled() -> bool:
        return await control_queues_empty(hub) and (await stored_count(hub, entity)) >= total

    await ws.wait_until(settled, timeout=120, interval=0.2, what="all operations applied and deleted")
    assert await read(hub.client, entity) == df.EntityStateResponse(True, expected)


@pytest.mark.slow
async def test_worker_killed_mid_batch_loses_no_operation_and_applies_none_twice(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    """SIGKILL while a batch runs (after an earlier batch was checkpointed, before this one is)."""
    slow = df.EntityId("SlowCounter", "crash")
    total = 300
    async with entity_hub(azurite, hub_name, worker=False) as hub:
        for i in range(total):  # one message each (concurrent signals would share messages), so many batches
            await hub.client.signal_entity(slow, "add", i)

        doomed = spawn_entity_worker(hub_name, "doomed", tmp_path, azurite)
        try:
            await ws.wait_ready(doomed)

            async def checkpointed() -> int | None:
                count = await stored_count(hub, slow)
                return count if count > 0 else None

            first = await ws.wait_until(checkpointed, timeout=60, interval=0.05, what="a first checkpoint")

            async def mid_next_batch() -> bool:
                return applied_in_log(doomed) >= first + 5

            await ws.wait_until(
                mid_next_batch, timeout=30, interval=0.01, what="the next batch to be running"
            )
            kill(doomed)
        finally:
            ws.stop_worker_process(doomed)
        at_kill = await stored_count(hub, slow)
        assert at_kill < applied_in_log(doomed), "the batch in progress was checkpointed before the kill"
        assert at_kill < total

        await recover_and_check(hub, slow, total)


@pytest.mark.slow
async def test_worker_killed_between_checkpoint_and_message_deletes_applies_none_twice(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    """SIGKILL after a batch's checkpoint but before its messages are deleted: they are redelivered."""
    slow = df.EntityId("SlowCounter", "redelivered")
    total = 300
    async with entity_hub(azurite, hub_name, worker=False) as hub:
        for i in range(total):  # one message each (concurrent signals would share messages), so many batches
            await hub.client.signal_entity(slow, "add", i)

        doomed = spawn_entity_worker(hub_name, "doomed", tmp_path, azurite, "--delay-deletes", "60")
        try:
            await ws.wait_ready(doomed)

            async def checkpointed_not_deleted() -> int | None:
                count = await stored_count(hub, slow)
                return count if count > 0 and "DELETE-PENDING" in doomed.log() else None

            await ws.wait_until(checkpointed_not_deleted, timeout=60, interval=0.05, what="a checkpoint")
            kill(doomed)
        finally:
            ws.stop_worker_process(doomed)
        assert 0 < await stored_count(hub, slow) < total

        await recover_and_check(hub, slow, total)


@pytest.mark.slow
async def test_worker_killed_between_entity_signals_and_checkpoint_sends_none_twice(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    """SIGKILL after a Forwarder batch sent its signals but before its checkpoint: the batch runs again."""
    forwarder = df.EntityId("Forwarder", "fw")
    target = df.EntityId("Counter", "forwarded")
    total = 40
    async with entity_hub(azurite, hub_name, worker=False) as hub:
        await asyncio.gather(
            *(
                hub.client.signal_entity(forwarder, "forward", {"key": "forwarded", "amount": 1})
                for _ in range(total)
            )
        )
        doomed = spawn_entity_worker(
            hub_name, "doomed", tmp_path, azurite, "--stall-checkpoint", "@forwarder@"
        )
        try:
            await ws.wait_ready(doomed)

            async def sent_not_checkpointed() -> bool:
                return "CHECKPOINT-STALLED @forwarder@fw" in doomed.log()

            await ws.wait_until(sent_not_checkpointed, timeout=60, interval=0.05, what="a stalled checkpoint")
            kill(doomed)
        finally:
            ws.stop_worker_process(doomed)
        assert not (await read(hub.client, forwarder)).entity_exists  # nothing checkpointed

        await hub.start_worker(entity_app.app, worker_id="survivor", **KILL_SETTINGS)
        await wait_state(hub.client, forwarder, total, timeout=90)

        async def settled() -> bool:
            return await control_queues_empty(hub) and (await read(hub.client, target)).entity_exists

        await ws.wait_until(settled, timeout=60, interval=0.2, what="all signals applied and deleted")
        assert await read(hub.client, target) == df.EntityStateResponse(True, total)


async def test_a_failed_response_send_is_retried_not_lost(azurite: str, hub_name: str) -> None:
    """Storage fails once while the entity sends a call's response: the call must still complete, once."""
    async with entity_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        orchestration_id = "call-with-flaky-send"
        queue = hub.worker.storage.control_queue_for(orchestration_id)
        original_send = queue.send
        failures: list[str] = []

        async def flaky_send(msg: Any, **kwargs: Any) -> Any:
            if not failures and (msg.sender_instance_id or "").startswith("@counter@"):
                failures.append(msg.event.name)
                raise df.StorageError("injected: the queue is unavailable for a moment")
            return await original_send(msg, **kwargs)

        queue.send = flaky_send  # type: ignore[method-assign]  # this worker's queue client only
        # a first batch, so the worker has the entity's state cached when the call arrives
        await hub.client.signal_entity(df.EntityId("Counter", "flaky"), "add", 1)
        await wait_state(hub.client, df.EntityId("Counter", "flaky"), 1)

        status = await run_orchestration(
            hub,
            "counter_script",
            {"key": "flaky", "ops": [["add", 5]]},
            instance_id=orchestration_id,
            timeout=30,
        )
        assert failures, "the fault was never injected"
        assert status.runtime_status is S.Completed and status.output == [6]
        assert await read(hub.client, df.EntityId("Counter", "flaky")) == df.EntityStateResponse(True, 6)


async def test_large_entity_state_is_offloaded_and_read_back(azurite: str, hub_name: str) -> None:
    """State far beyond a table property (64 KB) goes to a blob, as DTFx does, and survives a worker restart."""
    document = df.EntityId("Document", "big")
    big = "".join(chr(ord("a") + i % 26) for i in range(300_000))
    async with entity_hub(azurite, hub_name) as hub:
        await hub.client.signal_entity(document, "set", big)
        await hub.client.signal_entity(document, "append", "!")
        await wait_state(hub.client, document, big + "!", timeout=30)
        record = await hub.storage.instances.get(document.instance_id, fetch_input=False, fetch_output=False)
        assert record is not None
        blobs = await hub.raw.blob_names(f"{hub_name.lower()}-largemessages")
        assert blobs, "a 300 KB state must be offloaded to the large-message container"

        await hub.stop_worker()  # a new worker loads the state from storage, not from its cache
        await hub.start_worker(entity_app.app)
        status = await run_orchestration(
            hub, "call_and_catch", {"name": "Document", "key": "big", "op": "length"}
        )
        assert status.output == {"result": len(big) + 1}
