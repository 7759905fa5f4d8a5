"""Control and work-item queues (DTFx ``TaskHubQueue``) and the poison queue for corrupt messages.

* Sends use ``time_to_live=-1`` (never expire) and an optional visibility delay (timers,
  scheduled starts), at most 7 days. Bodies over 45 KiB go to a gzip blob (:mod:`.messages`).
* A receive is exactly one request; messages come back ordered by insertion time, then by
  ``MessageData.SequenceNumber``.
* A message that cannot be decoded is never returned and never silently dropped: it is copied
  to ``{hub}-poison`` with the reason and its original body, deleted from its queue, and logged
  at ERROR. (DTFx has no poison queue; it abandons such messages forever.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueMessage

from ..errors import CorruptMessageError
from .clients import StorageClients
from .messages import (
    TaskMessage,
    decode_message,
    encode_message,
    encode_wrapper,
    large_message_blob_name,
    next_sequence_number,
)
from .payloads import MAX_QUEUE_MESSAGE_UTF8_BYTES, PayloadStore
from .values import format_timestamp

log = logging.getLogger(__name__)

MAX_VISIBILITY_DELAY = 7 * 24 * 3600  # Azure Queues' limit, in seconds
MAX_RECEIVE = 32  # Azure Queues' per-request limit
# A poison record must fit the 64 KiB queue limit; a longer original body goes to a blob.
_MAX_POISON_BODY_CHARS = 40_000


def poison_queue_name(hub: str) -> str:
    """``{hub}-poison``: where undecodable messages are set aside (not a DTFx resource)."""
    return f"{hub.lower()}-poison"


def _is_gone(error: HttpResponseError) -> bool:
    """404 or ``PopReceiptMismatch``: the message was deleted or received again by someone else."""
    return isinstance(error, ResourceNotFoundError) or getattr(error, "error_code", None) in (
        "PopReceiptMismatch",
        "MessageNotFound",
    )


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A decoded message plus what is needed to delete or abandon it."""

    message: TaskMessage
    queue_name: str
    message_id: str
    pop_receipt: str
    dequeue_count: int
    inserted_on: datetime | None


class PoisonQueue:
    """``{hub}-poison``: JSON records ``{"queue","messageId","reason","body","dequeueCount","setAsideAt"}``."""

    def __init__(self, clients: StorageClients, hub: str, payloads: PayloadStore | None = None) -> None:
        self.name = poison_queue_name(hub)
        self._client = clients.queues.get_queue_client(self.name)
        self._payloads = payloads

    async def create(self) -> None:
        try:
            await self._client.create_queue()
        except ResourceExistsError:
            pass

    async def put(
        self, *, source_queue: str, message_id: str, reason: str, body: str, dequeue_count: int
    ) -> None:
        """Record one set-aside message. A body too long for a queue message is kept in a blob
        (``poison/{queue}/{message_id}.txt.gz`` in the large-message container, named by ``bodyBlobName``)."""
        record: dict[str, Any] = {
            "queue": source_queue,
            "messageId": message_id,
            "reason": reason,
            "body": body,
            "dequeueCount": dequeue_count,
            "setAsideAt": format_timestamp(datetime.now(timezone.utc)),
        }
        if len(body) > _MAX_POISON_BODY_CHARS and self._payloads is not None:
            blob_name = f"poison/{source_queue}/{message_id}.txt.gz"
            await self._payloads.upload(blob_name, body)
            record["body"] = body[:1000]
            record["bodyBlobName"] = blob_name
        text = json.dumps(record, ensure_ascii=True)
        try:
            await self._client.send_message(text, time_to_live=-1)
        except ResourceNotFoundError:
            await self.create()
            await self._client.send_message(text, time_to_live=-1)

    async def peek(self, max_messages: int = 32) -> list[dict[str, Any]]:
        try:
            peeked = await self._client.peek_messages(max_messages=min(max_messages, MAX_RECEIVE))
        except ResourceNotFoundError:
            return []
        return [json.loads(m.content) for m in peeked]

    async def count(self) -> int:
        try:
            props = await self._client.get_queue_properties()
        except ResourceNotFoundError:
            return 0
        return int(props.approximate_message_count or 0)


class TaskHubQueue:
    """One storage queue of a task hub carrying DTFx ``MessageData`` bodies."""

    def __init__(
        self,
        clients: StorageClients,
        queue_name: str,
        payloads: PayloadStore,
        poison: PoisonQueue | None,
    ) -> None:
        self.name = queue_name
        self._client = clients.queues.get_queue_client(queue_name)
        self._payloads = payloads
        self._poison = poison

    def __repr__(self) -> str:
        return f"TaskHubQueue({self.name!r})"

    async def create(self) -> None:
        """Create the queue if it does not exist."""
        try:
            await self._client.create_queue()
        except ResourceExistsError:
            pass

    async def send(self, msg: TaskMessage, *, visibility_delay: float = 0.0) -> ReceivedMessage:
        """Enqueue ``msg``, invisible for ``visibility_delay`` seconds (rounded up, at most 7 days).

        A ``sequence_number`` of 0 is replaced by the next per-process number. One queue request
        for a small message; a large one first uploads its gzip blob. Returns the message with the
        pop receipt Azure gave for it, so a sender that keeps it hidden can process and delete it
        without receiving it (the worker's in-process hand-off).
        """
        if visibility_delay > MAX_VISIBILITY_DELAY:
            raise ValueError(
                f"visibility delay {visibility_delay:.0f} s exceeds Azure's 7-day limit; split long timers"
            )
        if msg.sequence_number == 0:
            msg = dataclasses.replace(msg, sequence_number=next_sequence_number())
        text = encode_message(msg)
        if len(text) * 4 > MAX_QUEUE_MESSAGE_UTF8_BYTES and (
            len(text.encode("utf-8", "surrogatepass")) > MAX_QUEUE_MESSAGE_UTF8_BYTES
        ):
            blob_name = large_message_blob_name(msg)
            await self._payloads.upload(blob_name, encode_message(msg, compressed_blob_name=blob_name))
            text = encode_wrapper(blob_name)
        delay = math.ceil(visibility_delay) if visibility_delay > 0 else None
        try:
            sent = await self._client.send_message(text, visibility_timeout=delay, time_to_live=-1)
        except ResourceNotFoundError:  # the queue was never created (or deleted): create once, retry
            await self.create()
            sent = await self._client.send_message(text, visibility_timeout=delay, time_to_live=-1)
        return ReceivedMessage(msg, self.name, sent.id, sent.pop_receipt or "", 0, sent.inserted_on)

    async def receive(self, max_messages: int = 32, visibility_timeout: int = 300) -> list[ReceivedMessage]:
        """Receive up to ``max_messages`` (<= 32) in one request, hiding them for ``visibility_timeout`` s."""
        count = max(1, min(max_messages, MAX_RECEIVE))
        pages = self._client.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=visibility_timeout
        ).by_page()
        try:
            page = await pages.__anext__()
        except StopAsyncIteration:
            return []
        raw = [m async for m in page]
        if not raw:
            return []
        decoded = await asyncio.gather(*(self._decode(m) for m in raw))
        received = [r for r in decoded if r is not None]
        received.sort(key=_order_key)
        return received

    async def _decode(self, qm: QueueMessage) -> ReceivedMessage | None:
        body = (
            qm.content if isinstance(qm.content, str) else bytes(qm.content or b"").decode("utf-8", "replace")
        )
        try:
            decoded = decode_message(body)
            if isinstance(decoded, str):
                blob_name = decoded
                try:
                    decoded = decode_message(await self._payloads.download(blob_name))
                except ResourceNotFoundError:
                    raise CorruptMessageError(f"large-message blob {blob_name!r} does not exist") from None
                if isinstance(decoded, str):
                    raise CorruptMessageError(f"large-message blob {blob_name!r} holds another wrapper")
        except CorruptMessageError as e:
            await self._set_aside(qm, body, str(e))
            return None
        except Exception:  # a transient failure reading the blob: it reappears after the visibility timeout
            log.warning(
                "could not resolve large message %s on %s; will retry", qm.id, self.name, exc_info=True
            )
            return None
        return ReceivedMessage(
            message=decoded,
            queue_name=self.name,
            message_id=qm.id,
            pop_receipt=qm.pop_receipt or "",
            dequeue_count=int(qm.dequeue_count or 0),
            inserted_on=qm.inserted_on,
        )

    async def _set_aside(self, qm: QueueMessage, body: str, reason: str) -> None:
        """Copy a corrupt message to the poison queue, then delete it here. If either step fails
        the message stays on this queue and is retried after its visibility timeout."""
        log.error(
            "corrupt message %s on %s (dequeue count %s) set aside: %s",
            qm.id,
            self.name,
            qm.dequeue_count,
            reason,
        )
        if self._poison is None:
            log.error("no poison queue configured; message %s is left on %s", qm.id, self.name)
            return
        try:
            await self._poison.put(
                source_queue=self.name,
                message_id=qm.id,
                reason=reason,
                body=body,
                dequeue_count=int(qm.dequeue_count or 0),
            )
            await self._client.delete_message(qm.id, qm.pop_receipt)
        except Exception as e:
            if not (isinstance(e, HttpResponseError) and _is_gone(e)):
                log.exception("could not set aside message %s on %s; it stays there", qm.id, self.name)

    async def delete(self, msg: ReceivedMessage) -> bool:
        """Delete a received message; ``False`` if it was already gone or received again elsewhere."""
        try:
            await self._client.delete_message(msg.message_id, msg.pop_receipt)
        except HttpResponseError as e:
            if _is_gone(e):
                return False
            raise
        return True

    async def abandon(self, msg: ReceivedMessage, delay_seconds: float) -> None:
        """Make a received message visible again after ``delay_seconds`` (rounded up, <= 7 days)."""
        delay = min(max(0, math.ceil(delay_seconds)), MAX_VISIBILITY_DELAY)
        try:
            await self._client.update_message(msg.message_id, msg.pop_receipt, visibility_timeout=delay)
        except HttpResponseError as e:
            if not _is_gone(e):
                raise
            log.debug("abandon of %s on %s: message already gone", msg.message_id, self.name)

    async def renew(self, msg: ReceivedMessage, visibility_timeout: float) -> ReceivedMessage | None:
        """Keep a message hidden for another ``visibility_timeout`` seconds; returns it with its new
        pop receipt, or ``None`` if it is gone (deleted, or its receipt expired)."""
        delay = min(max(1, math.ceil(visibility_timeout)), MAX_VISIBILITY_DELAY)
        try:
            updated = await self._client.update_message(
                msg.message_id, msg.pop_receipt, visibility_timeout=delay
            )
        except HttpResponseError as e:
            if not _is_gone(e):
                raise
            return None
        return dataclasses.replace(msg, pop_receipt=updated.pop_receipt or msg.pop_receipt)

    async def approximate_count(self) -> int:
        props = await self._client.get_queue_properties()
        return int(props.approximate_message_count or 0)


def _order_key(r: ReceivedMessage) -> tuple[float, int]:
    return (r.inserted_on.timestamp() if r.inserted_on else 0.0, r.message.sequence_number)
