"""Which start messages begin an execution: each start is matched to the execution it asks for.

A start message (``ExecutionStarted``) can arrive more than once: its delete was lost (a worker died
after the checkpoint that consumed it), a parent's episode ran again after a crash and sent its
child's start a second time, or an old execution's start comes back after the instance moved on
(continue-as-new, a restart). The rules, checked against the instance's history as stored (a cached
history is re-read before a start for another execution is judged):

1. The history is this very execution (same ``ExecutionId``): a duplicate. It is deleted, whether
   the execution is still running (the duplicate is swallowed) or finished.
2. A sub-orchestration start for the parent request the current execution was started by (same
   parent instance, parent execution and ``TaskScheduledId``): a duplicate, even under another
   execution id (the child may have continued as new). A child's execution id is derived from that
   request (:func:`child_execution_id`), so a re-sent child start is also caught by rule 1. DTFx
   has no such check (research-13 §1): there a re-sent child start runs the child again.
3. A client start whose ``Generation`` is not newer than the stored execution's: an old start (a
   client start always carries the generation after the one it replaced; continue-as-new keeps it).
   It is not run; the dispatcher records it in the poison store, so nothing is lost if this is wrong.
4. A sub-orchestration start for another request while the child runs: it waits (retried later,
   a bounded number of times).
5. Otherwise a new execution: it replaces a finished one, or starts a fresh (or purged) instance.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from ..orchestration.history import ExecutionStarted, ParentInstance

#: Namespace of child execution ids (uuid5 over the parent's request).
_CHILD_EXECUTION_NAMESPACE = uuid.UUID("6b1f3c52-0f4e-4c8e-9d54-3f1a2b7c9e01")


def child_execution_id(parent_instance: str, parent_execution: str, task_scheduled_id: int) -> str:
    """The execution id of the child a parent execution starts with its ``TaskScheduledId``:
    32 hex digits, like any DTFx execution id, the same every time that request is sent."""
    key = f"{parent_instance}\n{parent_execution}\n{task_scheduled_id}"
    return uuid.uuid5(_CHILD_EXECUTION_NAMESPACE, key).hex


class Verdict(enum.Enum):
    RUN = "run"
    DUPLICATE = "duplicate"  # delete: this execution already ran (or runs)
    STALE = "stale"  # set aside: an older start than the stored execution
    WAIT = "wait"  # retry later: another execution of the instance is running


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: str


def _same_request(a: ParentInstance | None, b: ParentInstance | None) -> bool:
    return (
        a is not None
        and b is not None
        and a.instance_id == b.instance_id
        and a.execution_id == b.execution_id
        and a.task_schedule_id == b.task_schedule_id
    )


def judge_start(start: ExecutionStarted, current: ExecutionStarted | None, *, running: bool) -> Judgement:
    """What to do with ``start`` given the stored execution's start event (``None``: no history)."""
    if current is None:
        return Judgement(Verdict.RUN, "a new instance")
    if start.execution_id == current.execution_id:
        state = "is running" if running else "has finished"
        return Judgement(Verdict.DUPLICATE, f"execution {start.execution_id} {state}")
    if start.parent is not None:
        if _same_request(start.parent, current.parent):
            parent = start.parent
            return Judgement(
                Verdict.DUPLICATE,
                f"execution {current.execution_id} was started by the same request of "
                f"{parent.instance_id} (task {parent.task_schedule_id})",
            )
        if running:
            return Judgement(
                Verdict.WAIT,
                f"another execution ({current.execution_id}) of the sub-orchestration is running",
            )
        return Judgement(Verdict.RUN, f"replaces finished execution {current.execution_id}")
    generation, stored = start.generation or 0, current.generation or 0
    if generation <= stored:
        return Judgement(
            Verdict.STALE,
            f"start of execution {start.execution_id} (generation {generation}) is not newer than "
            f"the stored execution {current.execution_id} (generation {stored})",
        )
    return Judgement(Verdict.RUN, f"replaces execution {current.execution_id}")


__all__ = ["Judgement", "Verdict", "child_execution_id", "judge_start"]
