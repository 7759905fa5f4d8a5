"""The in-process inboxes of the partitions a worker runs: where this process hands itself messages.

A message this process just sent to a control queue it owns (an activity result, a short timer)
is kept invisible in the queue and also put in the partition's inbox, so its loop runs it without
a receive. If the worker dies first, the message reappears after its visibility timeout and the
partition's next owner processes it.

The orchestration dispatcher opens an inbox when it starts a partition's loop and closes it when
it stops that loop; the activity dispatcher, the entity dispatcher and the dispatcher's own timer
and message sends deliver to it and wake its poller. Both dispatchers are given this one object,
so neither needs the other to exist first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..storage.queues import ReceivedMessage
from .polling import Poller


@dataclass
class Inbox:
    """One open partition: the messages handed over in-process and the poller of its control queue."""

    poller: Poller
    messages: list[ReceivedMessage] = field(default_factory=list)


class PartitionInboxes:
    """The inboxes of the partitions whose loops run in this process, by partition index."""

    def __init__(self, partition_of: Callable[[str], int], poll_interval: float) -> None:
        self._partition_of = partition_of
        self._poll_interval = poll_interval
        self._open: dict[int, Inbox] = {}

    def open(self, index: int) -> Inbox:
        """Start accepting messages for partition ``index``; returns its (new) inbox."""
        inbox = Inbox(Poller(self._poll_interval))
        self._open[index] = inbox
        return inbox

    def close(self, index: int) -> Inbox | None:
        """Stop accepting messages for partition ``index``; returns its inbox (leftovers and poller)."""
        return self._open.pop(index, None)

    def owns(self, index: int) -> bool:
        """True while partition ``index`` is open in this process."""
        return index in self._open

    def owns_instance(self, instance_id: str) -> bool:
        """True while the partition of ``instance_id`` is open in this process."""
        return self._partition_of(instance_id) in self._open

    def deliver(self, received: ReceivedMessage) -> bool:
        """Hand a message this process just sent (kept invisible) to its partition loop.

        Returns False when the partition is not open here; the caller then leaves the message to
        the queue.
        """
        inbox = self._open.get(self._partition_of(received.message.instance_id))
        if inbox is None:
            return False
        inbox.messages.append(received)
        inbox.poller.nudge()
        return True

    def wake(self, index: int) -> None:
        """A message was just sent to partition ``index``'s queue: poll it now."""
        inbox = self._open.get(index)
        if inbox is not None:
            inbox.poller.wake()

    def wake_instance(self, instance_id: str) -> None:
        """A message was just sent to the control queue of ``instance_id``: poll it now."""
        self.wake(self._partition_of(instance_id))
