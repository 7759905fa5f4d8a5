"""``QueueClient`` with fast ``send_message``, ``receive_messages`` and ``delete_message``."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, cast
from xml.sax.saxutils import escape as xml_escape

from azure.core.async_paging import AsyncItemPaged
from azure.core.exceptions import HttpResponseError, map_error
from azure.core.rest import HttpRequest
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from durable_azure.storage.fast_paths.common import (
    ERROR_MAP,
    rfc7231_or_none,
    xml_datetime,
    xml_text,
)
from durable_azure.storage.fast_paths.pipeline import FastPipeline
from durable_azure.storage.fast_paths.sdk import sdk_internals, sdk_path_needed


class _ReceivedItem:
    """What ``QueueMessage._from_generated`` reads from a generated ``ReceivedMessage``."""

    __slots__ = (
        "dequeue_count",
        "expiration_time",
        "insertion_time",
        "message_id",
        "message_text",
        "pop_receipt",
        "time_next_visible",
    )

    def __init__(self, element: ET.Element) -> None:
        fields: dict[str, str] = {}
        for child in element:  # the first of each tag, as ``find`` (the generated models) would take
            fields.setdefault(child.tag, child.text or "")
        self.message_id = fields.get("MessageId")
        self.insertion_time = rfc7231_or_none(fields.get("InsertionTime"))
        self.expiration_time = rfc7231_or_none(fields.get("ExpirationTime"))
        self.pop_receipt = fields.get("PopReceipt")
        self.time_next_visible = rfc7231_or_none(fields.get("TimeNextVisible"))
        count = fields.get("DequeueCount")
        self.dequeue_count = int(count) if count else None
        self.message_text = fields.get("MessageText")


class _ReceivedItems:
    __slots__ = ("items_property",)

    def __init__(self, items: list[_ReceivedItem]) -> None:
        self.items_property = items


def _generated_queue_error(response: Any) -> HttpResponseError:
    """What a generated queue operation raises for an unexpected status."""
    try:
        map_error(status_code=response.status_code, response=response, error_map=ERROR_MAP)
    except HttpResponseError as error:
        return error
    sdk = sdk_internals()
    return HttpResponseError(response=response, model=sdk.failsafe_deserialize_xml(sdk.QueueError, response))


def _raise_queue_error(response: Any) -> None:
    """Exactly what a queue client method raises: the generated error, through ``process_storage_error``."""
    sdk_internals().process_storage_error(_generated_queue_error(response))


class FastQueueClient(QueueClient):
    """``QueueClient`` with fast ``send_message``, ``receive_messages``, ``delete_message`` and
    ``update_message``."""

    _fast: FastPipeline | None = None  # set per instance by FastQueueServiceClient

    def _fast_for(self, kwargs: Mapping[str, Any]) -> FastPipeline | None:
        fast = self._fast
        if fast is None or sdk_path_needed(kwargs):
            return None
        if (
            self.key_encryption_key is not None
            or self.key_resolver_function is not None
            or self.require_encryption
        ):
            return None
        return fast

    async def _run(self, fast: FastPipeline, request: HttpRequest, kwargs: dict[str, Any]) -> Any:
        """Send a request made by the SDK's request builder (a path relative to the queue), with its
        URL completed as the generated operation does (``format_url``)."""
        generated = self._client
        request.url = generated._client.format_url(request.url, url=generated._config.url)
        return (await fast.pipeline.run(request, **kwargs)).http_response

    async def send_message(
        self,
        content: object | None,
        *,
        visibility_timeout: int | None = None,
        time_to_live: int | None = None,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> QueueMessage:
        fast = self._fast_for(kwargs)
        if (
            fast is None
            or not isinstance(content, str)
            or not content
            or type(self._message_encode_policy) is not sdk_internals().NoEncodePolicy
            or any(v is not None and type(v) is not int for v in (visibility_timeout, time_to_live, timeout))
        ):
            return await super().send_message(
                content,
                visibility_timeout=visibility_timeout,
                time_to_live=time_to_live,
                timeout=timeout,
                **kwargs,
            )
        # The SDK's own request builder; the body is the XML its model serializer writes for
        # ``QueueMessage(message_text=content)`` (same bytes, checked by bench/verify_fast_paths.py).
        request = sdk_internals().build_send(
            visibility_timeout=visibility_timeout,
            message_time_to_live=time_to_live,
            timeout=timeout,
            content_type="application/xml",
            version=self._client._config.version,
            content=b"<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage><MessageText>"
            + xml_escape(content).encode("utf-8")
            + b"</MessageText></QueueMessage>",
        )
        response = await self._run(fast, request, kwargs)
        if response.status_code != 201:
            _raise_queue_error(response)
        sent = ET.fromstring(response.body()).find("QueueMessage")
        if sent is None:  # not the documented answer: let the SDK's parser say what is wrong
            raise HttpResponseError(message="Unexpected send_message response", response=response)
        return QueueMessage(
            content=content,
            id=xml_text(sent, "MessageId"),
            inserted_on=xml_datetime(sent, "InsertionTime"),
            expires_on=xml_datetime(sent, "ExpirationTime"),
            pop_receipt=xml_text(sent, "PopReceipt"),
            next_visible_on=xml_datetime(sent, "TimeNextVisible"),
        )

    def receive_messages(
        self,
        *,
        messages_per_page: int | None = None,
        visibility_timeout: int | None = None,
        max_messages: int | None = None,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> AsyncItemPaged[QueueMessage]:
        fast = self._fast_for(kwargs)
        if (
            fast is None
            or type(self._message_decode_policy) is not sdk_internals().NoDecodePolicy
            or any(
                v is not None and type(v) is not int for v in (visibility_timeout, timeout, messages_per_page)
            )
        ):
            return super().receive_messages(
                messages_per_page=messages_per_page,
                visibility_timeout=visibility_timeout,
                max_messages=max_messages,
                timeout=timeout,
                **kwargs,
            )
        if max_messages is not None and messages_per_page is not None and max_messages < messages_per_page:
            raise ValueError("max_messages must be greater or equal to messages_per_page")
        command = functools.partial(self._receive_page, fast, visibility_timeout, timeout, kwargs)
        return AsyncItemPaged(
            command,
            results_per_page=messages_per_page,
            page_iterator_class=sdk_internals().MessagesPaged,
            max_messages=max_messages,
        )

    async def _receive_page(
        self,
        fast: FastPipeline,
        visibility_timeout: int | None,
        timeout: int | None,
        kwargs: dict[str, Any],
        number_of_messages: int | None = None,
    ) -> _ReceivedItems:
        """The generated ``receive_messages`` operation as ``MessagesPaged`` calls it."""
        request = sdk_internals().build_receive(
            number_of_messages=number_of_messages,
            visibility_timeout=visibility_timeout,
            timeout=timeout,
            version=self._client._config.version,
        )
        response = await self._run(fast, request, dict(kwargs))
        if response.status_code != 200:  # MessagesPaged passes it through process_storage_error
            raise _generated_queue_error(response)
        root = ET.fromstring(response.body())
        return _ReceivedItems([_ReceivedItem(e) for e in root.iterfind("QueueMessage")])

    async def delete_message(
        self,
        message: str | QueueMessage,
        pop_receipt: str | None = None,
        *,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> None:
        fast = self._fast_for(kwargs)
        if fast is None or (timeout is not None and type(timeout) is not int):
            return await super().delete_message(message, pop_receipt, timeout=timeout, **kwargs)
        if isinstance(message, QueueMessage):
            message_id = message.id
            receipt = pop_receipt or message.pop_receipt
        else:
            message_id = message
            receipt = pop_receipt
        if receipt is None:
            raise ValueError("pop_receipt must be present")
        if not isinstance(message_id, str) or not isinstance(receipt, str):
            return await super().delete_message(message, pop_receipt, timeout=timeout, **kwargs)
        request = sdk_internals().build_delete(
            message_id, pop_receipt=receipt, timeout=timeout, version=self._client._config.version
        )
        response = await self._run(fast, request, kwargs)
        if response.status_code != 204:
            _raise_queue_error(response)
        return None

    async def update_message(
        self,
        message: str | QueueMessage,
        pop_receipt: str | None = None,
        content: object | None = None,
        *,
        visibility_timeout: int | None = None,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> QueueMessage:
        fast = self._fast_for(kwargs)
        if (
            fast is None
            or not isinstance(message, str)
            or not isinstance(pop_receipt, str)
            or not (content is None or (isinstance(content, str) and content))
            or type(self._message_encode_policy) is not sdk_internals().NoEncodePolicy
            or any(v is not None and type(v) is not int for v in (visibility_timeout, timeout))
        ):
            return await super().update_message(
                message,
                pop_receipt,
                content,
                visibility_timeout=visibility_timeout,
                timeout=timeout,
                **kwargs,
            )
        sdk = sdk_internals()
        # The SDK's request builder; the body (with content) is the XML of QueueMessage(message_text),
        # as for send_message (bench/verify_fast_paths.py compares both).
        body = (
            None
            if content is None
            else b"<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage><MessageText>"
            + xml_escape(content).encode("utf-8")
            + b"</MessageText></QueueMessage>"
        )
        request = sdk.build_update_message(
            message,
            pop_receipt=pop_receipt,
            visibility_timeout=visibility_timeout or 0,
            timeout=timeout,
            content_type="application/xml" if body is not None else None,
            version=self._client._config.version,
            content=body,
        )
        response = await self._run(fast, request, kwargs)
        if response.status_code != 204:
            _raise_queue_error(response)
        headers = response.headers
        visible = headers.get("x-ms-time-next-visible")
        return QueueMessage(
            content=content,
            id=message,
            inserted_on=None,
            dequeue_count=None,
            expires_on=None,
            pop_receipt=headers.get("x-ms-popreceipt"),
            next_visible_on=sdk.queue_deserialize_rfc(visible) if visible is not None else None,
        )


class FastQueueServiceClient(QueueServiceClient):
    """``QueueServiceClient`` whose queue clients have the fast paths."""

    _fast: FastPipeline | None = None

    def get_queue_client(self, queue: Any, **kwargs: Any) -> QueueClient:
        client = super().get_queue_client(queue, **kwargs)
        if self._fast is not None and type(client) is QueueClient:
            client.__class__ = FastQueueClient
            cast(FastQueueClient, client)._fast = self._fast
        return client
