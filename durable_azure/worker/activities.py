"""The activity dispatcher: work items → activity functions → results to the control queue.

Activities run at least once: a work item is deleted only after its result message was sent.
Sync activities run in a thread pool; ``async def`` activities are awaited on the loop.

A work item is hidden for ``work_item_visibility_timeout`` (30 s) and, while its activity runs,
hidden again every ``work_item_renew_interval`` (10 s): a worker that dies mid-activity leaves its
work to others within about the lease time, and a long activity is never started twice. A work
item received more than ``max_dequeue_count`` times (its worker kept dying on it) is set aside in
the poison store instead of being run again.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Protocol

from azure.storage.queue import QueueMessage

from ..config import Settings
from ..errors import EngineNotRunningError, FunctionNotFoundError
from ..orchestration import serialization
from ..orchestration.executor import failure_from_exception
from ..orchestration.history import HistoryEvent, TaskCompleted, TaskFailed, TaskScheduled
from ..registry import DurableRegistry
from ..storage.messages import TaskMessage
from ..storage.queues import ReceivedMessage
from ..storage.taskhub import FAST_FAIL, TaskHubStorage
from ..telemetry import hooks as telemetry
from .durable_http import BUILTIN_ACTIVITIES
from .health import RepeatedFailure, StorageHealth
from .polling import Poller
from .settle import MessageSettler

log = logging.getLogger(__name__)

#: How long the slot of an activity whose result was handed over in-process stays lent to that
#: result's episode, which may rewrite the work item into the next step's and run it in that slot
#: (worker/outbound.py ``SlotLoan``); unclaimed, it is given back.
SLOT_LEND_SECONDS = 0.1


class ResultSink(Protocol):
    """Where results go besides the queue: the partition inboxes of this process."""

    def deliver(self, received: ReceivedMessage) -> bool:
        """Hand a just-sent message to its partition loop in this process; False if it does not run here."""
        ...

    def wake_instance(self, instance_id: str) -> None:
        """A message was just sent to the control queue of ``instance_id``: poll it now."""
        ...


class ActivityDispatcher:
    """Receives work items and runs at most ``max_concurrent_activities`` activities at once."""

    def __init__(
        self,
        storage: TaskHubStorage,
        registry: DurableRegistry,
        settings: Settings,
        *,
        results: ResultSink,
        health: StorageHealth | None = None,
        receive: bool = True,
    ) -> None:
        self._storage = storage
        self._receive = receive
        self.delivered = 0
        self._health = health or StorageHealth(storage.ping)
        self._settler = MessageSettler(storage, max_dequeue_count=settings.max_dequeue_count)
        self._registry = registry
        self._settings = settings
        self._results = results
        self._capacity = max(1, settings.max_concurrent_activities)
        self._in_flight = 0
        self._lent: dict[str, asyncio.TimerHandle] = {}  # work-item message id -> its return
        self.local_runs = 0
        self._per_instance: dict[str, int] = {}
        self.local_results = 0
        self._pool = ThreadPoolExecutor(max_workers=self._capacity, thread_name_prefix="activity")
        self._running: set[asyncio.Task[None]] = set()
        self._poller = Poller(settings.max_queue_polling_interval)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.executed = 0

    def wake(self) -> None:
        self._poller.wake()

    async def start(self) -> None:
        if self._receive:  # else the Functions host receives work items (run_delivered)
            self._task = asyncio.create_task(self._loop(), name="work-items")

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving; let running activities finish (their results are still delivered)."""
        self._stop.set()
        self._poller.wake()
        if self._task is not None:
            await self._task
        if self._running:
            await asyncio.wait(self._running, timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _loop(self) -> None:
        queue = self._storage.workitems
        poller = self._poller
        receiving = RepeatedFailure(log, f"receive from {queue.name}")
        # After a full batch more work items are likely waiting: receive again as soon as half the
        # slots are free, instead of after the poll interval (which would cap a backlog's throughput
        # at one batch per interval); fewer free slots would cost a receive for every few items.
        refill = max(1, min(32, self._capacity) // 2)
        backlog = False
        while not self._stop.is_set():
            free = self._capacity - self._in_flight
            if free <= 0:
                await poller.wait_for_nudge()  # a slot frees (or stop) nudges; the poll may be overdue
                continue
            if not ((backlog and free >= refill) or poller.poll_due(have_local_work=True)):
                await poller.wait()
                continue
            asked = min(32, free)
            try:
                batch = await queue.receive(asked, self._settings.work_item_visibility_timeout, **FAST_FAIL)
                self._health.succeeded()
                receiving.succeeded()
                if batch and (tel := telemetry.active()) is not None:
                    tel.received(queue.name, None, [m.inserted_on for m in batch])
            except Exception as error:
                if not self._health.failed(error):
                    receiving.failed(error)
                await self._health.wait_reachable(1.0)
                continue
            poller.polled(len(batch))
            backlog = len(batch) == asked
            for received in batch:
                self._in_flight += 1
                self._start(received)
            if batch and len(batch) < free:
                await poller.wait()

    def reserve(self) -> bool:
        """Take a slot for a work item this process is about to send and run itself."""
        if self._stop.is_set() or self._in_flight >= self._capacity:
            return False
        self._in_flight += 1
        return True

    def release(self) -> None:
        """Give back a slot :meth:`reserve` (or :meth:`claim`) took for a work item not run here."""
        self._in_flight -= 1
        self._poller.nudge()

    def claim(self, message_id: str) -> bool:
        r"""Take over the slot lent to the result of work item ``message_id`` (see :meth:`_lend`);
        the caller then runs a work item in it or :meth:`release`\ s it. False if none is lent."""
        handle = self._lent.pop(message_id, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def _lend(self, message_id: str) -> None:
        """Keep the finishing activity's slot for its result's episode a little while: with recycled
        work items that episode rewrites this work item into the next step's and runs it here,
        which it could not do if the work-item loop had taken the slot meanwhile."""
        self._in_flight += 1  # ``_run`` gives back the activity's own hold
        self._lent[message_id] = asyncio.get_running_loop().call_later(
            SLOT_LEND_SECONDS, self._give_back, message_id
        )

    def _give_back(self, message_id: str) -> None:
        if self._lent.pop(message_id, None) is not None:
            self.release()

    def run(self, received: ReceivedMessage) -> None:
        """Run a reserved, just-sent work item without receiving it."""
        self.local_runs += 1
        self._start(received)

    def run_rewritten(
        self,
        message: TaskMessage,
        writing: Awaitable[ReceivedMessage | None],
        on_written: Callable[[bool], None],
    ) -> None:
        """Run a reserved work item while its message is still being written over the finished work
        item it replaces (``writing``: that Update Message; ``None`` when the old one was gone).
        Called only after the history that scheduled it is durable, so the activity starts at once;
        its result is handed over only with a queue message that holds the step, and dropped if the
        write failed (the old work item then comes back and re-sends the step: docs/architecture.md,
        "One activity step"). ``on_written`` is called once: True when the step's work item was
        written (rewritten, or sent anew because the old one was gone), else False."""
        self.local_runs += 1
        self._launch(message.instance_id, self._execute_rewritten(message, writing, on_written))

    async def run_delivered(self, qm: QueueMessage) -> None:
        """Run a work item the Functions host received (its queue trigger), as a received one.

        Returns once the result is on the instance's control queue and the work item deleted (the
        host's own delete then finds it gone, which it ignores). Raises when that could not be done;
        the host then makes the message visible again, and its dequeue count decides poison as here.
        """
        if self._stop.is_set():
            raise EngineNotRunningError(
                "the durable-azure worker is stopping; the host retries the work item"
            )
        received = await self._storage.workitems.decode_delivered(qm)
        if received is None:
            return  # undecodable: recorded in the poison store and deleted
        self.delivered += 1
        self._in_flight += 1
        await self._start(received, delivered=True)

    def pending_for(self, instance_id: str) -> int:
        """Activities of ``instance_id`` running in this process right now."""
        return self._per_instance.get(instance_id, 0)

    def _start(self, received: ReceivedMessage, *, delivered: bool = False) -> asyncio.Task[None]:
        return self._launch(
            received.message.instance_id,
            self._execute(received, delivered=delivered),
            message_id=received.message_id,
            delivered=delivered,
        )

    def _launch(
        self,
        instance_id: str,
        work: Coroutine[Any, Any, None],
        *,
        message_id: str = "(being written)",
        delivered: bool = False,
    ) -> asyncio.Task[None]:
        self._per_instance[instance_id] = self._per_instance.get(instance_id, 0) + 1
        task = asyncio.create_task(self._run(instance_id, work, message_id=message_id, delivered=delivered))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _run(
        self, instance_id: str, work: Coroutine[Any, Any, None], *, message_id: str, delivered: bool
    ) -> None:
        try:
            await work
        except Exception as error:
            if delivered:
                raise  # to the Functions host, which retries the message
            if self._health.failed(error):
                log.info("work item %s interrupted: storage is unreachable", message_id)
            else:
                log.exception("work item %s failed to complete; it will be retried", message_id)
        finally:
            self._in_flight -= 1
            left = self._per_instance.get(instance_id, 1) - 1
            if left > 0:
                self._per_instance[instance_id] = left
            else:
                self._per_instance.pop(instance_id, None)
            self._poller.nudge()

    async def _execute(self, received: ReceivedMessage, *, delivered: bool = False) -> None:
        message = received.message
        scheduled = message.event
        if not isinstance(scheduled, TaskScheduled):
            reason = f"work item holds a {type(scheduled).__name__}, not a TaskScheduled event"
            await self._settler.set_aside(received, reason)
            return
        if self._settler.exhausted(received):
            reason = (
                f"activity '{scheduled.name}' was started {received.dequeue_count} times without "
                "finishing (its worker stopped each time)"
            )
            await self._settler.set_aside(received, reason)
            return
        # A delivered work item is kept hidden by the Functions host while the function runs.
        received, result = await self._hidden_until(
            received, self._invoke_observed(scheduled, message.instance_id), renew=not delivered
        )
        await self._reply(received, result, delivered=delivered)

    async def _execute_rewritten(
        self,
        message: TaskMessage,
        writing: Awaitable[ReceivedMessage | None],
        on_written: Callable[[bool], None],
    ) -> None:
        scheduled = message.event
        assert isinstance(scheduled, TaskScheduled)
        invoking = asyncio.ensure_future(self._invoke_observed(scheduled, message.instance_id))
        written = False
        try:
            try:
                received = await writing
            except Exception as error:
                # Rewritten or not (the answer was lost): the result is dropped, as a crash would drop
                # it. Either the message is this work item already and runs again when it comes
                # back, or the old one comes back and its duplicate result re-sends this step.
                log.warning(
                    "could not rewrite a finished work item into task %d's (%s: %s); the step resumes "
                    "when it comes back",
                    scheduled.event_id,
                    type(error).__name__,
                    error,
                    extra={"instance_id": message.instance_id, "event": "WorkItemRewriteFailed"},
                )
                await asyncio.wait([invoking])
                return
            if received is None:
                # The old work item is gone (received again elsewhere): this one becomes a new message.
                received = await self._storage.workitems.send(
                    message, visibility_delay=self._settings.work_item_visibility_timeout
                )
            written = True
            on_written(True)  # the step's work item exists now, rewritten or sent
            received, result = await self._hidden_until(received, invoking, renew=True)
        finally:
            if not written:
                on_written(False)
            if not invoking.done():
                invoking.cancel()
        await self._reply(received, result, delivered=False)

    async def _hidden_until(
        self, received: ReceivedMessage, invoking: Awaitable[HistoryEvent], *, renew: bool
    ) -> tuple[ReceivedMessage, HistoryEvent]:
        """The result of ``invoking``, with ``received`` kept hidden meanwhile (renewed unless
        ``renew`` is False) and its latest pop receipt."""
        renewed = [received]
        keeper = asyncio.create_task(self._keep_hidden(renewed)) if renew else None
        try:
            result = await invoking
        finally:
            if keeper is not None:
                keeper.cancel()
        return renewed[0], result

    async def _invoke_observed(self, scheduled: TaskScheduled, instance_id: str) -> HistoryEvent:
        tel = telemetry.active()
        if tel is None:
            return await self._invoke(scheduled, instance_id)
        return await tel.run_activity(scheduled, instance_id, lambda: self._invoke(scheduled, instance_id))

    async def _reply(self, received: ReceivedMessage, result: HistoryEvent, *, delivered: bool) -> None:
        """Hand the result to the instance's owner: in-process when it runs here, else by its control queue."""
        message = received.message
        reply = TaskMessage(
            event=result,
            instance_id=message.instance_id,
            execution_id=message.execution_id,
            episode=message.episode,
            sender_instance_id=message.instance_id,
            sender_execution_id=message.execution_id or "",
        )
        # When this worker owns the instance, the result is handed over in-process. The work item
        # stays hidden and is deleted only after the history holding the result is durable, so a
        # crash before that re-runs the activity (at least once), never loses its result. Not for a
        # delivered work item: the Functions host deletes it as soon as the function returns.
        chain_like = (
            not delivered and self._settings.recycle_work_items and self.pending_for(message.instance_id) <= 1
        )
        if chain_like:  # lent before the hand-over, which may run the episode at once
            self._lend(received.message_id)
        if not delivered and self._results.deliver(
            dataclasses.replace(received, message=reply, carries_result=True)
        ):
            self.local_results += 1
            self.executed += 1
            return
        if chain_like:
            self._give_back(received.message_id)
        await self._storage.control_queue_for(message.instance_id).send(reply)
        self._results.wake_instance(message.instance_id)
        await self._storage.workitems.delete(received)
        self.executed += 1

    async def _keep_hidden(self, holder: list[ReceivedMessage]) -> None:
        """Renew a running activity's work item so no other worker starts it again meanwhile."""
        timeout = self._settings.work_item_visibility_timeout
        interval = min(self._settings.work_item_renew_interval, timeout / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self._storage.workitems.renew(holder[0], timeout)
            except Exception as error:
                if not self._health.failed(error):
                    log.warning("could not renew work item %s", holder[0].message_id, exc_info=True)
                continue
            if renewed is None:
                return
            holder[0] = renewed

    async def _invoke(self, scheduled: TaskScheduled, instance_id: str) -> HistoryEvent:
        """Run the activity; the result event is stamped when the activity finished."""
        fn = self._registry.activities.get(scheduled.name) or BUILTIN_ACTIVITIES.get(scheduled.name)
        try:
            if fn is None:
                raise FunctionNotFoundError(
                    f"No activity named '{scheduled.name}' is registered in this app (registered: "
                    f"{', '.join(sorted(self._registry.activities)) or 'none'}). Check the name given to "
                    "call_activity, and that the function is decorated with @app.activity_trigger."
                )
            argument = serialization.loads(scheduled.input)
            value = await self._call(fn, scheduled.name, argument)
            payload = serialization.dumps(value, what=f"return value of activity '{scheduled.name}'")
            finished = datetime.now(timezone.utc)
            return TaskCompleted(task_scheduled_id=scheduled.event_id, result=payload, timestamp=finished)
        except Exception as error:
            log.warning(
                "activity %s failed: %s: %s",
                scheduled.name,
                type(error).__name__,
                error,
                extra={"instance_id": instance_id, "event": "TaskFailed"},
            )
            failure = failure_from_exception(error)
            return TaskFailed(
                task_scheduled_id=scheduled.event_id,
                reason=f"{failure.error_type}: {failure.error_message}",
                details=failure.stack_trace,
                failure_details=failure,
                timestamp=datetime.now(timezone.utc),
            )

    async def _call(self, fn: Callable[..., Any], name: str, argument: Any) -> Any:
        param = self._registry.activity_input_names.get(name)
        kwargs = {param: argument} if param and _accepts(fn, param) else None
        if inspect.iscoroutinefunction(fn):
            return await (fn(**kwargs) if kwargs is not None else fn(argument))
        loop = asyncio.get_running_loop()
        if telemetry.active() is not None:  # the activity's span stays current in the pool thread
            fn = functools.partial(contextvars.copy_context().run, fn)
        if kwargs is not None:
            return await loop.run_in_executor(self._pool, lambda: fn(**kwargs))
        return await loop.run_in_executor(self._pool, fn, argument)


def _accepts(fn: Callable[..., Any], param: str) -> bool:
    try:
        return param in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
