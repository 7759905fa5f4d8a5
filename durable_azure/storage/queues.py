"""Control and work-item queues (DTFx ``TaskHubQueue``).

* Sends use ``time_to_live=-1`` (never expire) and an optional visibility delay (timers,
  scheduled starts), at most 7 days. Bodies over 45 KiB go to a gzip blob (:mod:`.messages`).
* A receive is exactly one request; messages come back ordered by insertion time, then by
  ``MessageData.SequenceNumber``.
* A message that cannot be decoded is never returned and never silently dropped: it is recorded in
  the poison store (:mod:`.poison`) with the reason and its original body, deleted from its queue,
  and logged at ERROR. Undecodable means anything :func:`~.messages.decode_message` rejects or
  raises on (JSON nested too deep included), a large-message reference that is not a plain blob
  name, or a blob that is missing or refused as invalid. A blob that cannot be read for another
  reason is retried, ``max_dequeue_count`` times at most. (DTFx abandons such messages forever.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from dataclasses import dataclass
from datetime import datetime
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
from .poison import PoisonStore, is_permanent_error

log = logging.getLogger(__name__)

MAX_VISIBILITY_DELAY = 7 * 24 * 3600  # Azure Queues' limit, in seconds
MAX_RECEIVE = 32  # Azure Queues' per-request limit
#: The longest blob name Azure accepts.
_MAX_BLOB_NAME = 1024


def check_blob_name(name: str) -> str | None:
    """Why ``name`` cannot be the name of a large-message blob (``None`` when it can): DTFx writes
    ``{instanceId}/message-{activityId}-{EventType}.json.gz``, never an absolute name, a ``.`` or
    ``..`` segment (which a URL would resolve outside the container) or a backslash."""
    if not name or len(name) > _MAX_BLOB_NAME:
        return "empty or longer than 1024 characters"
    if name.startswith("/") or "\\" in name:
        return "an absolute path or a backslash"
    if any(segment in (".", "..") for segment in name.split("/")):
        return "a '.' or '..' path segment"
    if any(ord(c) < 32 for c in name):
        return "a control character"
    return None


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
    #: An activity's result handed over in-process: ``message`` is the result, while the queue
    #: entry (id, pop receipt, ``queue_name``) is still the activity's hidden work item.
    carries_result: bool = False


class TaskHubQueue:
    """One storage queue of a task hub carrying DTFx ``MessageData`` bodies."""

    def __init__(
        self,
        clients: StorageClients,
        queue_name: str,
        payloads: PayloadStore,
        poison: PoisonStore | None,
        *,
        max_dequeue_count: int = 10,
    ) -> None:
        self.name = queue_name
        self._client = clients.queues.get_queue_client(queue_name)
        self._payloads = payloads
        self._poison = poison
        self.max_dequeue_count = max_dequeue_count

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
        text = await self._encode(msg)
        delay = math.ceil(visibility_delay) if visibility_delay > 0 else None
        try:
            sent = await self._client.send_message(text, visibility_timeout=delay, time_to_live=-1)
        except ResourceNotFoundError:  # the queue was never created (or deleted): create once, retry
            await self.create()
            sent = await self._client.send_message(text, visibility_timeout=delay, time_to_live=-1)
        return ReceivedMessage(msg, self.name, sent.id, sent.pop_receipt or "", 0, sent.inserted_on)

    async def _encode(self, msg: TaskMessage) -> str:
        """The queue text of ``msg``: its JSON, or — past the 64 KB limit — a wrapper naming the blob
        its compressed JSON is uploaded to first (DTFx's large-message layout)."""
        text = encode_message(msg)
        if len(text) * 4 > MAX_QUEUE_MESSAGE_UTF8_BYTES and (
            len(text.encode("utf-8", "surrogatepass")) > MAX_QUEUE_MESSAGE_UTF8_BYTES
        ):
            blob_name = large_message_blob_name(msg)
            await self._payloads.upload(blob_name, encode_message(msg, compressed_blob_name=blob_name))
            text = encode_wrapper(blob_name)
        return text

    async def replace(
        self, msg: ReceivedMessage, new: TaskMessage, *, visibility_timeout: float
    ) -> ReceivedMessage | None:
        """Turn the hidden message ``msg`` into ``new`` (one Update Message request: its content and
        visibility), keeping its id and dequeue count; ``None`` if it is gone (deleted, or received
        again elsewhere, so its pop receipt no longer holds). A large ``new`` goes to a blob first."""
        if new.sequence_number == 0:
            new = dataclasses.replace(new, sequence_number=next_sequence_number())
        text = await self._encode(new)
        delay = min(max(0, math.ceil(visibility_timeout)), MAX_VISIBILITY_DELAY)
        try:
            updated = await self._client.update_message(
                msg.message_id, msg.pop_receipt, content=text, visibility_timeout=delay
            )
        except HttpResponseError as e:
            if not _is_gone(e):
                raise
            return None
        return ReceivedMessage(
            new,
            self.name,
            msg.message_id,
            updated.pop_receipt or msg.pop_receipt,
            msg.dequeue_count,
            msg.inserted_on,
        )

    async def send_text(self, text: str) -> str:
        """Enqueue a body exactly as given (a poison message put back); returns the new message id."""
        try:
            sent = await self._client.send_message(text, time_to_live=-1)
        except ResourceNotFoundError:
            await self.create()
            sent = await self._client.send_message(text, time_to_live=-1)
        return str(sent.id)

    async def receive(
        self, max_messages: int = 32, visibility_timeout: int = 300, **request_options: Any
    ) -> list[ReceivedMessage]:
        """Receive up to ``max_messages`` (<= 32) in one request, hiding them for ``visibility_timeout`` s.

        ``request_options`` go to the SDK request (a polling loop passes ``retry_total=0`` and short
        timeouts, so an outage is noticed in seconds rather than after the SDK's minute of retries).
        """
        count = max(1, min(max_messages, MAX_RECEIVE))
        pages = self._client.receive_messages(
            messages_per_page=count,
            max_messages=count,
            visibility_timeout=visibility_timeout,
            **request_options,
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

    async def decode_delivered(self, qm: QueueMessage) -> ReceivedMessage | None:
        """Decode a message someone else received (the Functions host's queue trigger).

        ``None`` when it was set aside (recorded as poison and deleted); a large message whose blob
        cannot be read yet raises, so the deliverer makes it visible again instead of deleting it.
        """
        return await self._decode(qm, raise_transient=True)

    async def _decode(self, qm: QueueMessage, *, raise_transient: bool = False) -> ReceivedMessage | None:
        body = (
            qm.content if isinstance(qm.content, str) else bytes(qm.content or b"").decode("utf-8", "replace")
        )
        try:
            decoded = _decode_body(body)
            if isinstance(decoded, str):
                decoded = await self._download(decoded)
        except CorruptMessageError as e:
            await self._set_aside(qm, body, str(e))
            return None
        except Exception as e:  # the blob could not be read: it reappears after the visibility timeout
            dequeues = int(qm.dequeue_count or 0)
            if dequeues >= self.max_dequeue_count:
                reason = f"large message could not be read in {dequeues} attempts: {type(e).__name__}: {e}"
                await self._set_aside(qm, body, reason)
            elif raise_transient:
                raise
            else:
                log.warning(
                    "could not read large message %s on %s (attempt %d of %d); will retry: %s",
                    qm.id,
                    self.name,
                    dequeues,
                    self.max_dequeue_count,
                    e,
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

    async def _download(self, blob_name: str) -> TaskMessage:
        """The message a large-message wrapper points at; :class:`CorruptMessageError` when the
        reference is not a blob name, the blob is missing, refused as invalid, or holds no message."""
        problem = check_blob_name(blob_name)
        if problem:
            raise CorruptMessageError(f"large-message reference {blob_name[:200]!r} has {problem}")
        try:
            text = await self._payloads.download(blob_name)
        except ResourceNotFoundError:
            raise CorruptMessageError(f"large-message blob {blob_name!r} does not exist") from None
        except HttpResponseError as e:
            if is_permanent_error(e):
                raise CorruptMessageError(
                    f"large-message blob {blob_name!r} cannot be read: {e.status_code} {e.reason}"
                ) from None
            raise
        except (OSError, EOFError, UnicodeDecodeError) as e:  # not gzip, or not UTF-8
            raise CorruptMessageError(f"large-message blob {blob_name!r} is not gzip'd UTF-8: {e}") from None
        decoded = _decode_body(text)
        if isinstance(decoded, str):
            raise CorruptMessageError(f"large-message blob {blob_name!r} holds another wrapper")
        return decoded

    async def _set_aside(self, qm: QueueMessage, body: str, reason: str) -> None:
        """Record a message that cannot be processed in the poison store, then delete it here. If
        either step fails the message stays on this queue and is tried again after its visibility timeout."""
        log.error(
            "message %s on %s (dequeue count %s) set aside: %s",
            qm.id,
            self.name,
            qm.dequeue_count,
            reason,
            extra={"event": "PoisonMessage"},
        )
        if self._poison is None:
            log.error("no poison store configured; message %s is left on %s", qm.id, self.name)
            return
        try:
            await self._poison.put(
                queue=self.name,
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

    async def approximate_count(self, **request_options: Any) -> int:
        props = await self._client.get_queue_properties(**request_options)
        return int(props.approximate_message_count or 0)


def _decode_body(body: str) -> TaskMessage | str:
    """:func:`decode_message`, with every way it can fail reported as :class:`CorruptMessageError`
    (a body nested too deep raises ``RecursionError``, a malformed event ``KeyError``, …)."""
    try:
        return decode_message(body)
    except CorruptMessageError:
        raise
    except Exception as e:
        raise CorruptMessageError(f"body cannot be decoded: {type(e).__name__}: {str(e)[:300]}") from None


def _order_key(r: ReceivedMessage) -> tuple[float, int]:
    return (r.inserted_on.timestamp() if r.inserted_on else 0.0, r.message.sequence_number)
