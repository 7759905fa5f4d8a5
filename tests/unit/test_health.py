"""Storage reachability bookkeeping (worker/health.py): one line per outage, one per recovery."""

from __future__ import annotations

import asyncio
import logging

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from durable_azure.errors import StorageError
from durable_azure.worker.health import RepeatedFailure, StorageHealth, is_unreachable


def test_unreachable_means_no_answer_at_all() -> None:
    assert is_unreachable(ServiceRequestError("Cannot connect to host 127.0.0.1:10001"))
    assert is_unreachable(ConnectionResetError())
    try:
        try:
            raise ServiceRequestError("refused")
        except ServiceRequestError as inner:
            raise StorageError("History write failed") from inner
    except StorageError as wrapped:
        assert is_unreachable(wrapped)
    assert not is_unreachable(HttpResponseError("403 AuthorizationFailure"))
    assert not is_unreachable(ValueError("bad"))


async def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="durable_azure.worker.health")
    answers = asyncio.Event()

    async def probe() -> None:
        if not answers.is_set():
            raise ServiceRequestError("still down")

    recovered: list[str] = []

    async def listener() -> None:
        recovered.append("async")

    health = StorageHealth(probe, probe_interval=0.01)
    health.on_recovered(lambda: recovered.append("sync"))
    health.on_recovered(listener)
    for _ in range(5):
        assert health.failed(ServiceRequestError("Cannot connect"))
    assert not health.failed(HttpResponseError("500"))  # storage answered: not an outage
    assert not health.reachable
    answers.set()
    await asyncio.wait_for(health.wait_reachable(5), 5)
    await asyncio.sleep(0.05)
    assert health.reachable and sorted(recovered) == ["async", "sync"]
    outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert (
        len(outage) == 1 and outage[0].levelname == "WARNING" and "Cannot connect" in outage[0].getMessage()
    )
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(back) == 1 and back[0].levelname == "INFO"
    health.succeeded()  # already reachable: nothing more is logged
    assert len(caplog.records) == 2
    await health.stop()


def test_a_repeated_failure_is_logged_once_then_summarised(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.repeated")
    caplog.set_level(logging.INFO, logger="test.repeated")
    failure = RepeatedFailure(logger, "receive from q", every=3600)
    for _ in range(50):
        failure.failed(HttpResponseError("403 AuthorizationFailure"))
    failure.succeeded()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "receive from q failed; retrying"),
        ("INFO", "receive from q works again after 50 failures"),
    ]
    assert caplog.records[0].exc_info is not None
