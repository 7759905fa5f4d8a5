"""Known azure-functions-durable pain points (reference §8) that the replay core must not repeat."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # history_factory, importable under --import-mode=importlib

from history_factory import (  # noqa: E402
    Episodes,
    at,
    event_raised,
    failure_details,
    orchestrator_started,
    sub_orchestration_failed,
    task_completed,
    task_failed,
    timer_fired,
)

import durable_azure as df  # noqa: E402
from durable_azure.orchestration.executor import execute  # noqa: E402
from durable_azure.orchestration.history import (  # noqa: E402
    OrchestrationStatus,
    TaskFailed,
    TimerCreated,
)

STACK = 'Traceback (most recent call last):\n  File "activities.py", line 12, in charge\nPaymentDeclined: card expired\n'


def _output(result: Any) -> Any:
    assert result.completion is not None, "orchestration did not complete"
    assert result.completion.status is OrchestrationStatus.Completed, result.completion
    return json.loads(result.completion.output) if result.completion.output is not None else None


# ============================================================ #496 / EXT #2990: typed task failures
class TestTypedFailures:
    def test_activity_failure_keeps_type_message_and_stack(self) -> None:
        caught: list[Any] = []

        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_activity("Charge", {"amount": 10})
            except df.ActivityFailedError as error:
                caught.append(error)
                return "handled"

        eps = Episodes(orch)
        eps.start()
        result = eps.step(
            task_failed(0, failure_details("PaymentDeclined", "card expired", STACK)), timestamp=at(1)
        )
        assert _output(result) == "handled"
        (error,) = caught
        assert isinstance(error, df.TaskFailedError) and isinstance(error, df.DurableError)
        assert error.error_type == "PaymentDeclined"
        assert error.message == "card expired"
        assert error.stack_trace == STACK
        assert error.name == "Charge"
        assert str(error) == "Activity 'Charge' failed: PaymentDeclined: card expired"
        assert error.failure_details.error_type == "PaymentDeclined"

    def test_legacy_task_failed_without_failure_details_uses_reason_and_details(self) -> None:
        caught: list[Any] = []

        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_activity("Old")
            except df.ActivityFailedError as error:
                caught.append(error)

        eps = Episodes(orch)
        eps.start()
        eps.step(
            TaskFailed(task_scheduled_id=0, reason="it broke", details="stack text", timestamp=at(1)),
            timestamp=at(1),
        )
        (error,) = caught
        assert (error.error_type, error.message, error.stack_trace) == ("Exception", "it broke", "stack text")

    def test_sub_orchestration_failure_keeps_type_message_and_stack(self) -> None:
        caught: list[Any] = []

        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_sub_orchestrator("Checkout")
            except df.SubOrchestrationFailedError as error:
                caught.append(error)
                return error.error_type

        eps = Episodes(orch)
        eps.start()
        details = failure_details(
            "ActivityFailedError", "Activity 'Charge' failed: PaymentDeclined: card expired", STACK
        )
        assert (
            _output(eps.step(sub_orchestration_failed(0, details), timestamp=at(1))) == "ActivityFailedError"
        )
        (error,) = caught
        assert not isinstance(error, df.ActivityFailedError)
        assert error.message == "Activity 'Charge' failed: PaymentDeclined: card expired"
        assert error.stack_trace == STACK
        assert str(error) == (
            "Sub-orchestration 'Checkout' failed: ActivityFailedError: Activity 'Charge' failed: PaymentDeclined: card expired"
        )

    def test_uncaught_activity_failure_fails_the_orchestration_with_the_original_as_inner_failure(
        self,
    ) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("Charge")

        eps = Episodes(orch)
        eps.start()
        result = eps.step(
            task_failed(0, failure_details("PaymentDeclined", "card expired", STACK)), timestamp=at(1)
        )
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Failed
        failure = result.completion.failure
        assert failure is not None
        assert failure.error_type == "ActivityFailedError"
        assert "PaymentDeclined: card expired" in failure.error_message
        assert failure.inner_failure is not None
        assert failure.inner_failure.error_type == "PaymentDeclined"
        assert failure.inner_failure.stack_trace == STACK


# ============================================================ #354, #573, EXT #906: timers never hold an instance
class TestCancelledTimers:
    def test_event_beats_a_72_hour_timer_and_the_orchestration_completes_at_once(self) -> None:
        def orch(ctx: Any) -> Any:
            timeout = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=72))
            approval = ctx.wait_for_external_event("Approval")
            winner = yield ctx.task_any([approval, timeout])
            if winner is approval:
                timeout.cancel()
                return {"approved": approval.result}
            return "timed out"

        eps = Episodes(orch)
        first = eps.start()
        assert first.actions == [TimerCreated(event_id=0, timestamp=at(0), fire_at=at(72 * 3600))]
        result = eps.step(event_raised("Approval", True), timestamp=at(60))
        assert _output(result) == {"approved": True}
        # the timer fires 72 h later: the instance is already complete, nothing happens
        late = execute(
            orch, eps.history, [orchestrator_started(at(72 * 3600)), timer_fired(0, at(72 * 3600))]
        )
        assert late.new_events == []
        assert late.completion == result.completion

    def test_orchestration_completes_even_without_cancelling_the_timer(self) -> None:
        def orch(ctx: Any) -> Any:
            winner = yield ctx.task_any([ctx.wait_for_external_event("go"), ctx.create_timer(at(72 * 3600))])
            return winner.result

        eps = Episodes(orch)
        eps.start()
        assert _output(eps.step(event_raised("go", "now"), timestamp=at(1))) == "now"

    def test_a_cancelled_timer_firing_later_does_not_resume_anything(self) -> None:
        resumed: list[str] = []

        def orch(ctx: Any) -> Any:
            timer = ctx.create_timer(at(3600))
            winner = yield ctx.task_any([ctx.wait_for_external_event("go"), timer])
            timer.cancel()
            resumed.append(f"winner is timer: {winner is timer}")
            result = yield ctx.call_activity("Next")
            # the firing was recorded in between, but a cancelled timer never completes
            return [result, timer.is_cancelled, timer.is_completed]

        eps = Episodes(orch)
        eps.start()
        eps.step(event_raised("go"), timestamp=at(1))  # schedules Next (id 1)
        fired = eps.step(timer_fired(0, at(3600)), timestamp=at(3600))
        assert fired.completion is None and fired.actions == []
        assert [type(e).__name__ for e in fired.new_events] == [
            "OrchestratorStarted",
            "TimerFired",
            "OrchestratorCompleted",
        ]
        assert _output(eps.step(task_completed(1, "next"), timestamp=at(3601))) == ["next", True, False]
        assert set(resumed) == {"winner is timer: False"}


# ============================================================ #507: early events are delivered once
class TestBufferedEvents:
    def test_event_raised_before_waiting_goes_to_the_first_waiter_only(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("Prepare")
            first = yield ctx.wait_for_external_event("Approval")
            second = yield ctx.wait_for_external_event("Approval")
            return [first, second]

        eps = Episodes(orch)
        eps.start()
        early = eps.step(event_raised("Approval", "yes-1"), timestamp=at(1))  # nobody waits yet
        assert early.completion is None and early.actions == []
        waiting = eps.step(task_completed(0), timestamp=at(2))
        assert waiting.completion is None  # the first wait got the buffered event, the second still waits
        assert _output(eps.step(event_raised("Approval", "yes-2"), timestamp=at(3))) == ["yes-1", "yes-2"]

    def test_one_buffered_event_completes_exactly_one_of_two_waiters(self) -> None:
        seen: list[Any] = []

        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("Prepare")
            a = ctx.wait_for_external_event("e")
            b = ctx.wait_for_external_event("e")
            seen.append((a.is_completed, b.is_completed, a.result))
            return (yield ctx.task_all([a, b]))

        eps = Episodes(orch)
        eps.start()
        eps.step(event_raised("e", 1), timestamp=at(1))
        assert eps.step(task_completed(0), timestamp=at(2)).completion is None
        assert seen[-1] == (True, False, 1)
        assert _output(eps.step(event_raised("e", 2), timestamp=at(3))) == [1, 2]

    def test_multiple_buffered_events_are_delivered_in_order(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("Prepare")
            values = []
            for _ in range(3):
                values.append((yield ctx.wait_for_external_event("n")))
            return values

        eps = Episodes(orch)
        eps.start()
        eps.step(
            event_raised("n", 1),
            event_raised("n", 2),
            event_raised("other", 0),
            event_raised("n", 3),
            timestamp=at(1),
        )
        assert _output(eps.step(task_completed(0), timestamp=at(2))) == [1, 2, 3]

    def test_event_after_a_timed_out_wait_reaches_the_current_waiter(self) -> None:
        def orch(ctx: Any) -> Any:
            for attempt in range(3):
                approval = ctx.wait_for_external_event("Approval")
                timeout = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=1))
                winner = yield ctx.task_any([approval, timeout])
                if winner is approval:
                    timeout.cancel()
                    return {"approved": approval.result, "attempt": attempt}
                yield ctx.call_activity("SendReminder", attempt)
            return "gave up"

        eps = Episodes(orch)
        eps.start()  # timer 0
        eps.step(timer_fired(0, at(3600)), timestamp=at(3600))  # timed out: reminder 1
        eps.step(task_completed(1), timestamp=at(3601))  # waits again, timer 2
        result = eps.step(event_raised("Approval", True), timestamp=at(3700))
        assert _output(result) == {"approved": True, "attempt": 1}


# ============================================================ #389, #427, #171: exact is_replaying
class TestIsReplaying:
    def test_is_replaying_is_exact_at_every_resume(self) -> None:
        log: list[tuple[int, bool]] = []

        def orch(ctx: Any) -> Any:
            log.append((0, ctx.is_replaying))
            yield ctx.call_activity("A")
            log.append((1, ctx.is_replaying))
            yield ctx.create_timer(at(100))
            log.append((2, ctx.is_replaying))
            yield ctx.wait_for_external_event("go")
            log.append((3, ctx.is_replaying))
            yield ctx.task_all([ctx.call_activity("B"), ctx.call_activity("C")])
            log.append((4, ctx.is_replaying))
            return "done"

        eps = Episodes(orch)
        episodes = [
            lambda: eps.start(),
            lambda: eps.step(task_completed(0), timestamp=at(1)),
            lambda: eps.step(timer_fired(1, at(100)), timestamp=at(100)),
            lambda: eps.step(event_raised("go"), timestamp=at(101)),
            lambda: eps.step(task_completed(2), timestamp=at(102)),  # B done, C not yet: no resume
            lambda: eps.step(task_completed(3), timestamp=at(103)),
        ]
        per_episode = []
        for run in episodes:
            log.clear()
            run()
            per_episode.append(list(log))
        assert per_episode == [
            [(0, False)],
            [(0, True), (1, False)],
            [(0, True), (1, True), (2, False)],
            [(0, True), (1, True), (2, True), (3, False)],
            [(0, True), (1, True), (2, True), (3, True)],
            [(0, True), (1, True), (2, True), (3, True), (4, False)],
        ]
        assert _output(eps.results[-1]) == "done"

        # replaying the complete history: every step is a replay
        log.clear()
        execute(orch, eps.history, [])
        assert log == [(0, True), (1, True), (2, True), (3, True), (4, True)]

    def test_several_resumes_in_one_live_episode_are_all_live(self) -> None:
        log: list[tuple[str, bool]] = []

        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("A")
            log.append(("a", ctx.is_replaying))
            yield ctx.wait_for_external_event("x")
            log.append(("x", ctx.is_replaying))
            yield ctx.wait_for_external_event("y")
            log.append(("y", ctx.is_replaying))

        eps = Episodes(orch)
        eps.start()
        log.clear()
        eps.step(task_completed(0), event_raised("x"), event_raised("y"), timestamp=at(1))
        assert log == [("a", False), ("x", False), ("y", False)]


# ============================================================ #295: payloads decoded exactly once
class TestPayloadDecoding:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ('"quoted"', "quoted"),
            ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}),
            ("[1, 2]", [1, 2]),
            ("3.5", 3.5),
            ('"{\\"looks\\": \\"like json\\"}"', '{"looks": "like json"}'),
        ],
    )
    def test_event_payload_decoded_once(self, raw: str, expected: Any) -> None:
        received: list[Any] = []

        def orch(ctx: Any) -> Any:
            received.append((yield ctx.wait_for_external_event("e")))

        eps = Episodes(orch)
        eps.start()
        eps.step(event_raised("e", raw=raw), timestamp=at(1))
        assert received == [expected]
        assert type(received[0]) is type(expected)

    def test_buffered_event_payload_decoded_once(self) -> None:
        received: list[Any] = []

        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("A")
            received.append((yield ctx.wait_for_external_event("e")))
            received.append((yield ctx.wait_for_external_event("f")))

        eps = Episodes(orch)
        eps.start()
        eps.step(event_raised("e", raw='"quoted"'), event_raised("f", raw='{"k": "v"}'), timestamp=at(1))
        eps.step(task_completed(0), timestamp=at(2))
        assert received == ["quoted", {"k": "v"}]

    def test_event_without_payload_is_none(self) -> None:
        def orch(ctx: Any) -> Any:
            return (yield ctx.wait_for_external_event("e"))

        eps = Episodes(orch)
        eps.start()
        result = eps.step(event_raised("e"), timestamp=at(1))
        assert result.completion is not None and result.completion.output is None

    def test_activity_result_string_decoded_once(self) -> None:
        def orch(ctx: Any) -> Any:
            value = yield ctx.call_activity("A")
            return [value, len(value)]

        eps = Episodes(orch)
        eps.start()
        assert _output(eps.step(task_completed(0, raw='"quoted"'), timestamp=at(1))) == ["quoted", 6]


# ============================================================ task_all([])
def test_task_all_of_nothing_is_an_empty_list() -> None:
    def orch(ctx: Any) -> Any:
        results = yield ctx.task_all([])
        return {"results": results, "type": type(results).__name__}

    result = Episodes(orch).start()
    assert _output(result) == {"results": [], "type": "list"}
    assert result.actions == []
