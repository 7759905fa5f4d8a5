"""One episode of an orchestration instance: replay it with the new events, then checkpoint it.

Checkpoint order (ARCHITECTURE.md): send the outbound messages, append history guarded by the
sentinel ETag, then write the Instances row when something users see changed. The caller deletes
the inbound messages afterwards: nothing is deleted before the history that consumed it is durable.
One exception to "send first" (recycled work items, on by default: ``recycle_work_items``; the
dispatcher then passes ``spent``): when the episode records the result of an activity this process
ran, its first work item is written over that activity's hidden work item right after the append
(one request instead of a send and a delete); a crash between the two is repaired from the duplicate
result the old work item produces when it comes back (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ..errors import FunctionNotFoundError, SplitBrainError, VersionMismatchError
from ..orchestration.context import DurableOrchestrationContext
from ..orchestration.executor import Completion, OrchestrationResult, ReplaySession, failure_from_exception
from ..orchestration.history import (
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCreated,
)
from ..orchestration.long_timers import TimerLimits
from ..orchestration.serialization import dumps
from ..orchestration.versioning import VersionPolicy
from ..registry import DurableRegistry
from ..storage.instance_table import InstanceUpdate, RowState, status_output
from ..storage.payloads import table_property_too_large
from ..storage.queues import ReceivedMessage
from ..storage.status_rows import write_status_row
from ..storage.taskhub import TaskHubStorage
from ..telemetry import hooks as telemetry
from ..telemetry.context import continued_trace
from .instance_state import InstanceCache, InstanceState, completion_id, execution_update
from .orphans import held_lock_releases
from .outbound import (
    Outbound,
    OutboundSender,
    SlotLoan,
    new_execution_id,
    outbound_messages,
    parent_notification,
)

log = logging.getLogger(__name__)

MAX_CONTINUE_AS_NEW_PER_EPISODE = 20


def _stamp_end(result: OrchestrationResult) -> OrchestrationResult:
    """Stamp the episode's OrchestratorCompleted with the wall-clock end (the pure core has no clock)."""
    events = result.new_events
    if events and isinstance(events[-1], OrchestratorCompleted):
        events[-1] = replace(events[-1], timestamp=datetime.now(timezone.utc))
    return result


class VersionRejected(Exception):
    """This worker may not run the instance's version and rejects it (``versionFailureStrategy``
    ``Reject``): nothing was written; its messages go back to the queue for a later attempt."""


def _stamp_sub_versions(
    result: OrchestrationResult, version: str, tags: dict[str, str] | None = None
) -> OrchestrationResult:
    """Sub-orchestrations started without a version get ``version`` (``defaultVersion``), and the
    parent's ``tags`` (DTFx ``OrchestrationTags.MergeTags``, without ``FireAndForget``), in the
    actions sent and in the history recorded."""
    child_tags = None if tags is None else {k: v for k, v in tags.items() if k != "FireAndForget"}
    if not any(
        isinstance(a, SubOrchestrationInstanceCreated) and ((version and not a.version) or child_tags)
        for a in result.actions
    ):
        return result
    stamped: dict[int, HistoryEvent] = {}
    for action in result.actions:
        if isinstance(action, SubOrchestrationInstanceCreated):
            stamped[id(action)] = replace(
                action, version=action.version or version, tags=action.tags or child_tags
            )
    actions = [stamped.get(id(a), a) for a in result.actions]
    events = [stamped.get(id(e), e) for e in result.new_events]
    return replace(result, new_events=events, actions=actions)


def _version_failure(
    past: list[HistoryEvent], new_events: list[HistoryEvent], message: str, now: datetime, instance_id: str
) -> OrchestrationResult:
    """The episode of an instance failed for its version (``versionFailureStrategy`` ``Fail``): the
    orchestrator does not run; the new events are recorded, then the release of any entity locks it
    holds (as a failing orchestrator's would be), then the failure."""
    failure = failure_from_exception(VersionMismatchError(message))
    completion = Completion(
        OrchestrationStatus.Failed,
        dumps(f"{failure.error_type}: {failure.error_message}"),
        failure=failure,
    )
    done = ExecutionCompleted(
        event_id=-1,
        timestamp=now,
        orchestration_status=OrchestrationStatus.Failed,
        result=completion.output,
        failure_details=failure,
    )
    releases: list[HistoryEvent] = list(held_lock_releases([*past, *new_events], instance_id, now))
    events = [*new_events, *releases, done, OrchestratorCompleted(timestamp=now)]
    return OrchestrationResult(events, completion, None, releases)


def _missing_orchestrator(name: str, known: list[str]) -> Callable[[DurableOrchestrationContext], Any]:
    def orchestrator(context: DurableOrchestrationContext) -> Any:
        raise FunctionNotFoundError(
            f"No orchestrator named '{name}' is registered in this app "
            f"(registered: {', '.join(sorted(known)) or 'none'}). Check the name given to start_new or "
            "call_sub_orchestrator, and that the function is decorated with @app.orchestration_trigger."
        )

    return orchestrator


class EpisodeRunner:
    """Runs and checkpoints episodes, keeping the instance cache in step with what is durable."""

    def __init__(
        self,
        storage: TaskHubStorage,
        registry: DurableRegistry,
        cache: InstanceCache,
        sender: OutboundSender,
        versioning: VersionPolicy | None = None,
        timer_limits: TimerLimits | None = None,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._cache = cache
        self._sender = sender
        self._versioning = versioning or VersionPolicy()
        self._timer_limits = timer_limits or TimerLimits()
        self.episodes = 0

    async def run(
        self,
        index: int,
        instance_id: str,
        state: InstanceState,
        new_start: ExecutionStarted | None,
        incoming: list[HistoryEvent],
        now: datetime,
        spent: ReceivedMessage | None = None,
        loan: SlotLoan | None = None,
    ) -> bool:
        """Run one episode of ``instance_id`` on ``incoming`` events and checkpoint it.

        ``spent``: the hidden work item of a local activity whose result is among ``incoming``; the
        episode's first work item, if any, is written over it after the history append instead of
        being sent before it (:meth:`OutboundSender.recycle`). Returns True when ``spent`` was
        recycled (the caller must not delete it). ``loan``: ``spent``'s activity slot, for the
        rewritten work item (the caller gives it back if unused).

        ``new_start`` begins a new execution (its history replaces the cached one). Raises
        :class:`SplitBrainError` when another worker appended history first, and
        :class:`VersionRejected` (before writing anything) when this worker may not run the
        instance's version and the failure strategy is ``Reject``.
        """
        started = new_start or state.started
        assert started is not None
        mismatch = self._versioning.mismatch(started.version)
        if mismatch is not None and self._versioning.rejects:
            raise VersionRejected(mismatch)
        past: list[HistoryEvent] = [] if new_start else state.history
        start_index = 0 if new_start else len(state.history)
        execution_id = started.execution_id
        episode = 1 if new_start else state.episodes + 1
        orchestrator = self._orchestrator(started.name)
        new_events: list[HistoryEvent] = [OrchestratorStarted(timestamp=now), *incoming]
        outbound: list[Outbound] = []
        continued = False
        session = None if new_start else state.session
        tel = telemetry.active()
        began = time.perf_counter() if tel is not None else 0.0
        replayed = session is None and bool(past)
        generations: list[telemetry.Generation] = []  # executions that continued as new (telemetry)
        for _ in range(MAX_CONTINUE_AS_NEW_PER_EPISODE):
            if mismatch is not None:  # versionFailureStrategy Fail: the code does not run
                session = None
                result = _version_failure(past, new_events, mismatch, now, instance_id)
            else:
                if session is None:
                    # replay once; cached sessions skip this
                    session = ReplaySession(orchestrator, past, timer_limits=self._timer_limits)
                result = _stamp_sub_versions(
                    _stamp_end(session.run_episode(new_events)),
                    self._versioning.default_version,
                    started.tags,
                )
                if tel is not None:
                    started = tel.stamp_episode(result, started, now)
            self.episodes += 1
            outbound += outbound_messages(
                result.actions,
                instance_id=instance_id,
                execution_id=execution_id,
                name=started.name,
                episode=episode,
                now=now,
            )
            completion = result.completion
            if completion is None or completion.status is not OrchestrationStatus.ContinuedAsNew:
                break
            continued = True
            if tel is not None:
                generations.append(telemetry.Generation(started, past, replayed, result, new_events))
                replayed = False
            session = None
            started = ExecutionStarted(
                name=started.name,
                instance_id=instance_id,
                execution_id=new_execution_id(),
                input=completion.output,
                version=started.version,
                parent=started.parent,
                generation=started.generation,
                tags=started.tags,  # DTFx carries the tags into the new execution
                timestamp=now,
                trace_context=continued_trace(started.trace_context),
            )
            execution_id = started.execution_id
            past, start_index, episode = [], 0, 1
            new_events = [OrchestratorStarted(timestamp=now), started, *completion.carryover_events]
        if completion is not None:
            notice = parent_notification(
                started, completion, execution_id=execution_id, episode=episode, now=now
            )
            if notice is not None:
                outbound.append(notice)
        if tel is not None:
            outbound = tel.stamp_outbound(outbound, started, result.actions)

        log.debug(
            "episode %d of %s: %d new event(s), %d message(s) out%s",
            episode,
            started.name,
            len(result.new_events),
            len(outbound),
            f", {completion.status.name}" if completion else "",
            extra={
                "instance_id": instance_id,
                "execution_id": execution_id,
                "event": "Episode",
                "partition": index,
            },
        )
        # 1. outbound messages (but the work item that will be written over ``spent``, after 2.)
        checkpoint_began = time.perf_counter() if tel is not None else 0.0
        recycled_item = None
        if spent is not None and not continued:  # (a new generation's work must be sent before)
            first = next((i for i, item in enumerate(outbound) if item.to_work_items), None)
            if first is not None:
                recycled_item = outbound.pop(first)
        await self._sender.send_all(outbound)
        # 2. history, guarded by the sentinel ETag
        try:
            etag = await self._storage.history.append(
                instance_id, execution_id, result.new_events, start_index=start_index, etag=state.etag
            )
        except SplitBrainError:
            log.warning(
                "another worker wrote this instance; abandoning the episode",
                extra={"instance_id": instance_id},
            )
            self._cache.drop(instance_id)
            raise
        # 2b. the activity whose result this history records becomes the next one (its work item is
        # rewritten): a crash before this leaves the old work item, whose duplicate result re-sends it
        recycled = False
        if recycled_item is not None and spent is not None:
            answered = completion_id(spent.message.event)
            outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            in_doubt = state.rewrites_in_doubt
            if answered is not None:  # a duplicate result meanwhile waits for this (orchestrations.py)
                in_doubt[answered] = outcome

            def written(ok: bool) -> None:
                if not outcome.done():
                    outcome.set_result(ok)
                if ok and answered is not None and in_doubt.get(answered) is outcome:
                    del in_doubt[answered]  # the step's work item exists: duplicates re-send nothing

            try:
                recycled = await self._sender.recycle(spent, recycled_item, written, loan)
            except BaseException:
                written(False)
                raise
            if not recycled:
                written(True)  # no free slot: the step's work item was sent as a new message
        # 3. the Instances row, only when something users see changed (or a lost write is repaired)
        update = status_update(
            state.row_repair if not new_start else InstanceUpdate(),
            state,
            started,
            result.new_events,
            completion,
            result.custom_status,
            now,
            new_execution=bool(new_start) or continued,
            client_started=new_start is not None and not continued and new_start.parent is None,
        )
        row_etag = state.row_etag
        if update:
            row_etag = await write_status_row(
                self._storage, instance_id, update, row_etag=state.row_etag, history_etag=etag
            )
            if row_etag is None:  # a newer owner has the instance; our cached state is stale
                self._cache.drop(instance_id)
                return recycled
        # update the cached state (4. the caller deletes the inbound messages)
        if new_start or continued:
            fresh = InstanceState(etag=etag, row_etag=row_etag)
            fresh.extend(result.new_events)
            fresh.custom_status = result.custom_status
            fresh.session = session
            self._cache.put(instance_id, fresh)
        else:
            state.etag = etag
            state.row_etag = row_etag
            state.row_repair = InstanceUpdate()
            state.extend(result.new_events)
            state.custom_status = result.custom_status
            state.session = session
        if tel is not None:
            ended = time.perf_counter()
            tel.episode_done(
                instance_id=instance_id,
                started=started,
                past=past,
                replayed=replayed,
                result=result,
                incoming=new_events,
                episode_seconds=ended - began,
                checkpoint_seconds=ended - checkpoint_began,
                waiting_for=session.waiting_for() if session is not None else (),
                ended=generations,
            )
        return recycled

    async def repair_row(self, instance_id: str, state: InstanceState) -> None:
        """Bring the Instances row of a finished instance in line with its history, if a worker
        died (or stalled and was replaced) between the final checkpoint and its row write."""
        if not state.row_repair or state.etag is None:
            return
        log.warning(
            "the status row of %s missed its last update; repairing it from history",
            instance_id,
            extra={"instance_id": instance_id, "event": "StatusRowRepaired"},
        )
        row_etag = await write_status_row(
            self._storage, instance_id, state.row_repair, row_etag=state.row_etag, history_etag=state.etag
        )
        if row_etag is None:
            self._cache.drop(instance_id)
        else:
            state.row_etag, state.row_repair = row_etag, InstanceUpdate()

    def _orchestrator(self, name: str) -> Callable[[DurableOrchestrationContext], Any]:
        fn = self._registry.orchestrators.get(name)
        return fn if fn is not None else _missing_orchestrator(name, list(self._registry.orchestrators))


def status_update(
    base: InstanceUpdate,
    state: InstanceState,
    started: ExecutionStarted,
    new_events: list[HistoryEvent],
    completion: Completion | None,
    custom_status: str | None,
    now: datetime,
    *,
    new_execution: bool,
    client_started: bool = False,
) -> InstanceUpdate:
    """``base`` (a pending row repair, or nothing) with what this episode changed that users see.

    A field the episode sets replaces the one in ``base`` even when set to ``None`` (not written): a
    continued-as-new execution without input must not get the old execution's. Unchanged: ``base``.
    """
    update = base
    changed = False
    if new_execution:
        update = replace(execution_update(started, update), custom_status=custom_status or "null")
        if (
            client_started
            and started.input
            and table_property_too_large(started.input)
            and _row_has_input_url(state.row, started)
        ):
            # the client's start already stored it (as a blob); do not upload it twice
            update = replace(update, input=None)
        changed = True
    for event in new_events:
        # DTFx UpdateStateAsync also sets Output to the suspend/resume reason (when there is one)
        if isinstance(event, ExecutionSuspended):
            update = replace(
                update, status=OrchestrationStatus.Suspended, output=event.reason or update.output
            )
            changed = True
        elif isinstance(event, ExecutionResumed):
            update = replace(update, status=OrchestrationStatus.Running, output=event.reason or update.output)
            changed = True
    if completion is not None and completion.status is not OrchestrationStatus.ContinuedAsNew:
        log.info(
            "%s %s",
            started.name,
            completion.status.name,
            extra={
                "instance_id": started.instance_id,
                "execution_id": started.execution_id,
                "event": "ExecutionCompleted",
            },
        )
        output = status_output(completion.output, completion.failure)
        update = replace(update, status=completion.status, output=output, completed_time=now)
        changed = True
    if custom_status != state.custom_status or (new_execution and custom_status):
        update, changed = replace(update, custom_status=custom_status or "null"), True
    if changed:
        update = replace(update, last_updated_time=now, execution_id=started.execution_id)
    return update


def _row_has_input_url(row: RowState | None, started: ExecutionStarted) -> bool:
    """True when the client already wrote this start's row with its large input as a blob URL.

    Otherwise the first checkpoint writes ``Input`` (as a URL), as a DTFx worker always does: the
    row holds the input only as ``InputBlobName`` (DTFx's client, §3.3), which readers that know
    only the URL form do not follow, or the row is not written yet (a DTFx client's insert then
    fails on our row and leaves it without input)."""
    return row is not None and row.execution_id == started.execution_id and row.input_blob_name is None
