"""Durable tasks: what an orchestrator ``yield``s.

Names and observable behaviour follow Durable Functions for Python (``TaskBase.result``,
``is_completed``, ``task_any`` returning the winning task, ``TimerTask.cancel()``), with one
addition, ``is_faulted``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any, Protocol

from . import serialization
from .retry import RetryOptions


class TaskState(IntEnum):
    RUNNING = 0
    SUCCEEDED = 1
    FAILED = 2


class TimerSource(Protocol):
    """Where a :class:`RetryableTask` gets the deterministic time and its durable timers."""

    @property
    def now(self) -> datetime: ...

    def create_timer(self, fire_at: datetime) -> TimerTask: ...


class TaskBase:
    """A unit of durable work. ``result`` holds the value, or the exception if it failed."""

    __slots__ = ("_parents", "id", "result", "state")

    def __init__(self, id_: int | str) -> None:
        self.id = id_
        self.state = TaskState.RUNNING
        self.result: Any = None
        self._parents: list[CompoundTask] | None = None

    @property
    def is_completed(self) -> bool:
        """True once the task succeeded or failed."""
        return self.state is not TaskState.RUNNING

    @property
    def is_faulted(self) -> bool:
        """True if the task failed."""
        return self.state is TaskState.FAILED

    def _add_parent(self, parent: CompoundTask) -> None:
        if self._parents is None:
            self._parents = [parent]
        else:
            self._parents.append(parent)

    def _succeed(self, value: Any) -> None:
        if self.state is not TaskState.RUNNING:
            return
        self.state = TaskState.SUCCEEDED
        self.result = value
        self._notify()

    def _fail(self, error: BaseException) -> None:
        if self.state is not TaskState.RUNNING:
            return
        self.state = TaskState.FAILED
        self.result = error
        self._notify()

    def _notify(self) -> None:
        if self._parents:
            for parent in self._parents:
                parent._child_done(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} state={self.state.name}>"


class AtomicTask(TaskBase):
    """One activity, sub-orchestration, external event or entity call."""

    __slots__ = ("_decode", "name")

    def __init__(self, id_: int | str, decode: Callable[[Any], Any] | None = None, name: str = "") -> None:
        super().__init__(id_)
        self._decode = decode
        self.name = name

    def _complete_with(self, value: Any) -> None:
        try:
            decoded = self._decode(value) if self._decode is not None else value
        except Exception as error:  # an expected_type's from_json raised: the awaiting code sees it
            self._fail(error)
            return
        self._succeed(decoded)

    def _complete_with_json(self, text: str | None) -> None:
        """Complete with the value JSON ``text`` holds. A custom object whose class cannot read it
        (its ``from_json`` raises) fails the task with that error where the orchestrator awaits it,
        the same in every replay, instead of failing the episode again and again."""
        try:
            value = serialization.loads(text)
        except RecursionError:
            # JSON nested too deep to decode is not the orchestrator's error but a message that can never
            # succeed: it fails the episode, and the poison policy sets that message aside.
            raise
        except Exception as error:
            self._fail(error)
            return
        self._complete_with(value)


class TimerTask(AtomicTask):
    """A durable timer. ``cancel()`` it when it lost a race; it never keeps an orchestration alive."""

    __slots__ = ("_cancelled", "fire_at")

    def __init__(self, id_: int, fire_at: datetime) -> None:
        super().__init__(id_)
        self.fire_at = fire_at
        self._cancelled = False

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Cancel the timer; its firing is then ignored."""
        if self.is_completed:
            raise ValueError("Cannot cancel a timer that has already fired.")
        self._cancelled = True


class CompoundTask(TaskBase):
    """A task made of other tasks."""

    __slots__ = ("children",)

    def __init__(self, children: Sequence[TaskBase]) -> None:
        super().__init__(-1)
        self.children = list(children)
        for child in self.children:
            if not isinstance(child, TaskBase):
                raise TypeError(f"Expected durable tasks, got {type(child).__name__}: {child!r}")
            child._add_parent(self)

    def _child_done(self, child: TaskBase) -> None:
        raise NotImplementedError


class WhenAllTask(CompoundTask):
    """Completes with every child's result (in order), or fails with the first failure."""

    __slots__ = ("_pending",)

    def __init__(self, children: Sequence[TaskBase]) -> None:
        super().__init__(children)
        self._pending = sum(1 for c in self.children if not c.is_completed)
        for child in self.children:
            if child.is_faulted:
                self._fail(child.result)
                return
        if self._pending == 0:
            self._succeed([c.result for c in self.children])

    @property
    def open_children(self) -> int:
        """Children still running: the fewest completions this task needs to succeed."""
        return self._pending

    def _child_done(self, child: TaskBase) -> None:
        if self.is_completed:
            return
        if child.is_faulted:
            self._fail(child.result)
            return
        self._pending -= 1
        if self._pending == 0:
            self._succeed([c.result for c in self.children])


class WhenAnyTask(CompoundTask):
    """Completes with the first child task to finish (successfully or not)."""

    __slots__ = ()

    def __init__(self, children: Sequence[TaskBase]) -> None:
        if not children:
            raise ValueError("task_any() needs at least one task")
        super().__init__(children)
        for child in self.children:
            if child.is_completed:
                self._succeed(child)
                return

    def _child_done(self, child: TaskBase) -> None:
        self._succeed(child)


class RetryableTask(CompoundTask):
    """An activity or sub-orchestration retried on failure, with durable timers between attempts."""

    __slots__ = ("_attempt", "_options", "_schedule", "_started_at", "_timers")

    def __init__(self, timers: TimerSource, options: RetryOptions, schedule: Callable[[], TaskBase]) -> None:
        super().__init__([])
        self._timers = timers
        self._options = options
        self._schedule = schedule
        self._attempt = 1
        self._started_at = timers.now
        self._start_attempt()

    def _start_attempt(self) -> None:
        task = self._schedule()
        self.children.append(task)
        task._add_parent(self)

    def _child_done(self, child: TaskBase) -> None:
        if isinstance(child, TimerTask):
            self._attempt += 1
            self._start_attempt()
            return
        if not child.is_faulted:
            self._succeed(child.result)
            return
        now = self._timers.now
        delay = self._options.delay_after(self._attempt)
        timeout = self._options.retry_timeout_in_milliseconds
        out_of_time = (
            timeout is not None and (now + delay - self._started_at).total_seconds() * 1000 > timeout
        )
        details = getattr(child.result, "failure_details", None)
        non_retriable = details is not None and details.is_non_retriable
        if self._attempt >= self._options.max_number_of_attempts or out_of_time or non_retriable:
            self._fail(child.result)
            return
        timer = self._timers.create_timer(now + delay)
        self.children.append(timer)
        timer._add_parent(self)
