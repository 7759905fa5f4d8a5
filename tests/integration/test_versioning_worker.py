"""Versioning in the worker: an instance newer than the worker (CurrentOrOlder + Reject) is left as
it is, its messages are re-sent rather than retried, so they never become poison however often
they are rejected, and a worker of its version runs it later. Sub-orchestrations get the worker's
defaultVersion unless given one."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws
from entity_apps import entity_app

import durable_azure as df
from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.worker import orchestrations


async def test_rejected_instance_is_never_poison_and_a_newer_worker_runs_it(
    azurite: str, hub_name: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orchestrations, "VERSION_REJECT_DELAY_SECONDS", 0.1)
    caplog.set_level(logging.WARNING, logger="durable_azure.worker.orchestrations")
    async with ws.task_hub(azurite, hub_name, default_version="1.0", max_dequeue_count=2) as hub:
        instance_id = await hub.client.start_new("HelloCities", "newer", ["Oslo"], version="2.0")

        async def rejected_often() -> bool:
            rejections = [r for r in caplog.records if getattr(r, "event", None) == "VersionRejected"]
            return len(rejections) > 3  # more receives than max_dequeue_count allows a message

        await ws.wait_until(rejected_often, timeout=60, what="the instance to be rejected 4 times")
        status = await hub.client.get_status(instance_id)
        assert status.runtime_status is S.Pending and status.version == "2.0"
        assert await hub.storage.poison.list() == []

        await hub.stop_worker()
        await hub.start_worker(default_version="2.0")
        finished = await ws.completed(hub.client, instance_id, timeout=60)
        assert finished.output == ["Hello Oslo!"] and finished.version == "2.0"
        assert await hub.storage.poison.list() == []


async def test_client_and_sub_orchestrations_get_the_default_version(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, default_version="3.1") as hub:
        hub.client.default_version = "3.1"  # the app's client reads defaultVersion from host.json
        instance_id = await hub.client.start_new("HelloCities", None, ["Lima"])
        finished = await ws.completed(hub.client, instance_id)
        assert finished.version == "3.1"
        explicit = await hub.client.start_new("HelloCities", None, ["Rome"], version="1.2")
        assert (await ws.completed(hub.client, explicit)).version == "1.2"
        # Parent (version 1.2) starts two HelloCities children without a version: they get the
        # worker's defaultVersion, not the parent's.
        parent = await hub.client.start_new("Parent", "parent", ["Oslo", "Rome"], version="1.2")
        assert (await ws.completed(hub.client, parent)).output == ["Hello Oslo!", "Hello Rome!"]
        children = [await hub.client.get_status(i) for i in ("parent:0", "parent-child")]
        assert [c.version for c in children] == ["3.1", "3.1"]


async def test_an_instance_failed_for_its_version_releases_the_entity_locks_it_holds(
    azurite: str, hub_name: str
) -> None:
    """``versionFailureStrategy`` ``Fail`` ends an instance without running its code; the entities
    it locked are released as a failing orchestrator's would be, so others can use them."""
    account = df.EntityId("Account", "v")
    async with ws.task_hub(azurite, hub_name, app=entity_app.app, default_version="1.0") as hub:
        holder = await hub.client.start_new("hold_lock", "holder", ["v"], version="1.0")

        async def locked() -> bool:
            status = await hub.client.get_status(holder)
            return bool(status) and status.custom_status == "locked"

        await ws.wait_until(locked, timeout=30, what="the lock to be acquired")
        await hub.stop_worker()
        await hub.start_worker(
            entity_app.app,
            default_version="2.0",
            version_match_strategy="Strict",
            version_failure_strategy="Fail",
        )
        await hub.client.raise_event(holder, "release", "ok")  # wakes the instance: it fails
        await ws.wait_for_status(hub.client, holder, S.Failed)
        await hub.client.signal_entity(account, "deposit", 5)

        async def deposited() -> bool:
            state = await hub.client.read_entity_state(account)
            return state.entity_exists and state.entity_state == {"balance": 5}

        await ws.wait_until(deposited, timeout=30, what="the deposit behind the released lock")
