"""Holding back activity results an orchestrator awaiting task_all cannot use yet (pure: a cached
live orchestrator built from a plain history list, no storage)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # history_factory, importable under --import-mode=importlib

from history_factory import (  # noqa: E402
    INSTANCE_ID,
    execution_started,
    orchestrator_completed,
    orchestrator_started,
    task_completed,
    task_failed,
    task_scheduled,
)

from durable_azure.orchestration.context import DurableOrchestrationContext  # noqa: E402
from durable_azure.orchestration.executor import ReplaySession  # noqa: E402
from durable_azure.orchestration.history import HistoryEvent  # noqa: E402
from durable_azure.storage.messages import TaskMessage  # noqa: E402
from durable_azure.storage.queues import ReceivedMessage  # noqa: E402
from durable_azure.worker.instance_state import InstanceCache, InstanceState  # noqa: E402
from durable_azure.worker.result_hold import ResultHold  # noqa: E402

HOLD = 0.5
BATCH = 32


def fan_out(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    results = yield context.task_all([context.call_activity("Square", n) for n in range(4)])
    return sum(results)


def chain(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield context.call_activity("Square", 1)
    second = yield context.call_activity("Square", first)
    return second


def first_episode(scheduled: int) -> list[HistoryEvent]:
    return [
        orchestrator_started(),
        execution_started(),
        *(task_scheduled(n, "Square", n) for n in range(scheduled)),
        orchestrator_completed(),
    ]


def cached(orchestrator: Callable[..., Any], history: list[HistoryEvent]) -> InstanceCache:
    state = InstanceState.from_history(history, "etag", "exec")
    state.session = ReplaySession(orchestrator, history)
    cache = InstanceCache()
    cache.put(INSTANCE_ID, state)
    return cache


def received(event: HistoryEvent, instance_id: str = INSTANCE_ID) -> ReceivedMessage:
    message = TaskMessage(event=event, instance_id=instance_id, execution_id="exec")
    return ReceivedMessage(message, "hub-workitems", f"m-{id(event)}", "receipt", 1, None)


def results(*task_ids: int) -> list[ReceivedMessage]:
    return [received(task_completed(n, n * n)) for n in task_ids]


def test_the_session_knows_how_many_results_its_task_all_still_needs() -> None:
    history = first_episode(4)
    assert ReplaySession(fan_out, history).successes_needed() == 4
    history += [orchestrator_started(), task_completed(2, 4), orchestrator_completed()]
    assert ReplaySession(fan_out, history).successes_needed() == 3
    assert ReplaySession(chain, first_episode(1)).successes_needed() == 1


def test_fewer_results_than_the_task_all_needs_are_held_until_the_rest_arrive() -> None:
    hold = ResultHold(cached(fan_out, first_episode(4)), BATCH, HOLD)
    ready, kept = hold.take_ready(results(0, 1), now=10.0)
    assert ready == [] and len(kept) == 2
    assert INSTANCE_ID in hold and hold.deadline == 10.0 + HOLD

    everything = [*kept, *results(2, 3)]
    ready, kept = hold.take_ready(everything, now=10.1)
    assert ready == everything and kept == []
    assert not hold and hold.deadline is None


def test_a_hold_ends_when_it_is_too_old() -> None:
    hold = ResultHold(cached(fan_out, first_episode(4)), BATCH, HOLD)
    _, kept = hold.take_ready(results(0), now=10.0)
    _, kept = hold.take_ready([*kept, *results(1)], now=10.0 + HOLD / 2)
    assert len(kept) == 2  # still held: the clock runs from the oldest result
    ready, kept = hold.take_ready(kept, now=10.0 + HOLD)
    assert len(ready) == 2 and kept == []


def test_a_failure_wakes_the_orchestrator_at_once() -> None:
    hold = ResultHold(cached(fan_out, first_episode(4)), BATCH, HOLD)
    messages = [*results(0), received(task_failed(1))]
    ready, kept = hold.take_ready(messages, now=10.0)
    assert ready == messages and kept == []


def test_a_chain_step_and_an_uncached_instance_are_never_held() -> None:
    hold = ResultHold(cached(chain, first_episode(1)), BATCH, HOLD)
    chain_result = results(0)
    ready, kept = hold.take_ready(chain_result, now=1.0)
    assert ready == chain_result and kept == []
    stranger = [received(task_completed(0, 1), instance_id="not-cached")]
    ready, kept = hold.take_ready(stranger, now=1.0)
    assert ready == stranger and kept == []


def test_a_full_batch_is_not_held() -> None:
    hold = ResultHold(cached(fan_out, first_episode(4)), batch_size=2, max_hold=HOLD)
    ready, kept = hold.take_ready(results(0, 1), now=1.0)
    assert len(ready) == 2 and kept == []


def test_release_ends_a_hold() -> None:
    hold = ResultHold(cached(fan_out, first_episode(4)), BATCH, HOLD)
    hold.take_ready(results(0), now=1.0)
    assert hold.release({INSTANCE_ID, "other"}) == {INSTANCE_ID}
    assert INSTANCE_ID not in hold and not hold
