"""The one poison policy: every message the worker reads is deleted, retried later, or set aside.

Control-queue messages, work items and entity messages all end one of three ways:

* **deleted** once what they asked for is durable (or they are known duplicates);
* **retried later**: made visible again after a back-off of ``min(2 ** dequeue count, 300)`` s
  (DTFx's curve, capped lower), for at most ``max_dequeue_count`` receives, whatever the error;
* **set aside**: recorded in the poison store (:mod:`durable_azure.storage.poison`) with the reason
  and the original body, *then* deleted. An error that cannot go away by retrying
  (:func:`~durable_azure.storage.poison.is_permanent_error`) sets the message aside at once, and so
  does a message received more than ``max_dequeue_count`` times (its worker kept dying on it).

An activity result this process handed to its own partition loop is, on the queue, still the
activity's work item (kept hidden until the result is durable). Retrying it later must not run the
activity again, so the result is sent to the instance's control queue (with the back-off as its
delay) and the work item deleted; its poison record names the control queue, where a retry puts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..storage.messages import encode_message
from ..storage.poison import is_permanent_error
from ..storage.queues import ReceivedMessage, TaskHubQueue
from ..storage.taskhub import TaskHubStorage
from ..telemetry import hooks as telemetry

log = logging.getLogger(__name__)

#: Longest wait before a message is tried again (seconds).
MAX_BACKOFF_SECONDS = 300


def backoff(dequeue_count: int) -> float:
    """Seconds before the next attempt after ``dequeue_count`` receives: 1, 2, 4, … 300."""
    return float(min(2 ** max(0, dequeue_count), MAX_BACKOFF_SECONDS))


@dataclass
class Disposal:
    """How a group of messages ends: deleted, retried later (reason, limit) or set aside (reason)."""

    delete: list[ReceivedMessage] = field(default_factory=list)
    retry: list[tuple[ReceivedMessage, str, int | None]] = field(default_factory=list)
    aside: list[tuple[ReceivedMessage, str]] = field(default_factory=list)
    #: Not for this worker (another version): sent again as new messages after the delay (seconds).
    requeue: list[tuple[ReceivedMessage, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.delete or self.retry or self.aside or self.requeue)

    def handled(self, received: ReceivedMessage) -> bool:
        return (
            received in self.delete
            or any(m is received for m, _, _ in self.retry)
            or any(m is received for m, _ in self.aside)
            or any(m is received for m, _ in self.requeue)
        )


class MessageSettler:
    """Deletes, retries (bounded, with back-off) and sets aside the messages of one task hub."""

    def __init__(self, storage: TaskHubStorage, *, max_dequeue_count: int) -> None:
        self._storage = storage
        self.max_dequeue_count = max(1, max_dequeue_count)

    def is_local_result(self, received: ReceivedMessage) -> bool:
        """A result handed over in-process: the message is a reply, the queue entry its work item."""
        return received.carries_result

    def queue_of(self, received: ReceivedMessage) -> TaskHubQueue:
        """The queue ``received`` is on (a local result's is the work-item queue)."""
        return self._storage.queue_by_name(received.queue_name)

    def home_queue(self, received: ReceivedMessage) -> TaskHubQueue:
        """The queue the message belongs to: where it is retried and where a poison retry puts it."""
        if self.is_local_result(received):
            return self._storage.control_queue_for(received.message.instance_id)
        return self.queue_of(received)

    def exhausted(self, received: ReceivedMessage) -> bool:
        """True when the message was received more often than any message may be."""
        return received.dequeue_count > self.max_dequeue_count

    async def delete(self, received: ReceivedMessage) -> bool:
        return await self.queue_of(received).delete(received)

    async def retry_later(
        self,
        received: ReceivedMessage,
        reason: str,
        *,
        error: BaseException | None = None,
        limit: int | None = None,
        delay: float | None = None,
    ) -> None:
        """Try ``received`` again after a back-off, or set it aside when ``error`` is permanent or
        the message has had ``limit`` (default and at most ``max_dequeue_count``) receives."""
        attempts = received.dequeue_count
        bound = min(limit or self.max_dequeue_count, self.max_dequeue_count)
        if error is not None and is_permanent_error(error):
            await self.set_aside(received, f"{reason} (this cannot succeed by retrying)")
            return
        if attempts >= bound:
            await self.set_aside(received, f"{reason} (gave up after {attempts} attempts)")
            return
        wait = backoff(attempts) if delay is None else delay
        log.info(
            "retrying a %s in %.0f s (attempt %d of %d): %s",
            type(received.message.event).__name__,
            wait,
            attempts,
            bound,
            reason,
            extra={"instance_id": received.message.instance_id, "event": "MessageDeferred"},
        )
        await self._put_back(received, wait)

    async def hand_back(self, received: ReceivedMessage) -> None:
        """Make a message this worker will not process (it lost the partition) visible again now."""
        await self._put_back(received, 0.0)

    async def _put_back(self, received: ReceivedMessage, delay: float) -> None:
        if self.is_local_result(received):
            # The activity ran: keep its result, not its work item (which would run it again).
            home = self.home_queue(received)
            await home.send(received.message, visibility_delay=delay)
            await self.queue_of(received).delete(received)
        else:
            await self.queue_of(received).abandon(received, delay)

    async def requeue(self, received: ReceivedMessage, delay: float) -> None:
        """Send ``received`` again as a new message, visible after ``delay`` seconds, then delete it.

        For messages that are fine but not for this worker (an instance of a version it may not
        run): unlike a retry, the new message starts with no receives, so it never becomes poison.
        A crash between the two steps leaves a duplicate, which the worker drops (starts are matched
        by execution id, completions by task id).
        """
        await self.home_queue(received).send(received.message, visibility_delay=delay)
        await self.queue_of(received).delete(received)

    async def set_aside(self, received: ReceivedMessage, reason: str) -> None:
        """Record ``received`` in the poison store, then delete it from its queue.

        If the record cannot be written the message stays where it is (it comes back after its
        visibility timeout): nothing is deleted without being recorded.
        """
        message = received.message
        log.error(
            "message %s (%s for %s) set aside in the poison store: %s",
            received.message_id,
            type(message.event).__name__,
            message.instance_id,
            reason,
            extra={"instance_id": message.instance_id, "event": "PoisonMessage"},
        )
        tel = telemetry.active()
        if tel is not None:
            tel.poisoned(self.home_queue(received).name)
        await self._storage.poison.put(
            queue=self.home_queue(received).name,
            message_id=received.message_id,
            reason=reason,
            body=encode_message(message),
            dequeue_count=received.dequeue_count,
            instance_id=message.instance_id,
            event_type=type(message.event).__name__,
        )
        await self.queue_of(received).delete(received)

    async def apply(self, disposal: Disposal) -> None:
        """Carry out ``disposal``; a failure is logged (the message comes back by itself)."""
        await self.quietly(
            [self.delete(m) for m in disposal.delete]
            + [self.retry_later(m, reason, limit=limit) for m, reason, limit in disposal.retry]
            + [self.set_aside(m, reason) for m, reason in disposal.aside]
            + [self.requeue(m, delay) for m, delay in disposal.requeue]
        )

    @staticmethod
    async def quietly(calls: Sequence[Awaitable[Any]]) -> None:
        """Await settle calls together; failures are logged, the messages come back on their own."""
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning(
                    "could not settle a message (it comes back after its visibility timeout): %s: %s",
                    type(result).__name__,
                    result,
                )


__all__ = ["MAX_BACKOFF_SECONDS", "Disposal", "MessageSettler", "backoff"]
