"""Helpers shared by the queue and table fast paths: cached date parsing, XML fields, the error map."""

from __future__ import annotations

import email.utils
import functools
import xml.etree.ElementTree as ET
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)

from durable_azure.storage.fast_paths.sdk import sdk_internals


@functools.lru_cache(maxsize=512)
def rfc7231(text: str) -> Any:
    """The queue models' RFC 7231 datetime (``email.utils.parsedate_to_datetime``); cached: the same
    seconds recur across messages."""
    return email.utils.parsedate_to_datetime(text)


@functools.lru_cache(maxsize=512)
def rfc1123(text: str) -> Any:
    """The tables deserializer's ``rfc-1123`` datetime; cached."""
    return sdk_internals().deserialize_rfc(text)


def rfc7231_or_none(text: str | None) -> Any:
    return rfc7231(text) if text else None


def xml_text(element: ET.Element, tag: str) -> str | None:
    found = element.find(tag)
    return None if found is None else found.text or ""


def xml_datetime(element: ET.Element, tag: str) -> Any:
    found = element.find(tag)
    return rfc7231(found.text) if found is not None and found.text else None


# The error map of every generated queue and table operation the fast paths replace.
ERROR_MAP: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}
