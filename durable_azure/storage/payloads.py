"""Large values in ``{hub}-largemessages``: gzip-compressed UTF-8 blobs, as DurableTask.AzureStorage stores them."""

from __future__ import annotations

import gzip
import random
from urllib.parse import quote, unquote, urlsplit

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from .clients import StorageClients
from .naming import large_messages_container_name

# DTFx thresholds: table properties are measured in UTF-16 bytes, queue bodies in UTF-8 bytes.
MAX_TABLE_PROPERTY_UTF16_BYTES = 60 * 1024
MAX_QUEUE_MESSAGE_UTF8_BYTES = 45 * 1024


def table_property_too_large(value: str) -> bool:
    """True when DTFx would move this table property into a blob (> 61,440 UTF-16 bytes)."""
    # Fast path: a string of n code points is at most 4n UTF-16 bytes and at least 2n.
    if len(value) * 2 <= MAX_TABLE_PROPERTY_UTF16_BYTES:
        return False
    return len(value.encode("utf-16-le")) > MAX_TABLE_PROPERTY_UTF16_BYTES


def random_suffix() -> str:
    """The 8 upper-case hex digits DTFx adds to history blob names to avoid split-brain collisions."""
    return f"{random.getrandbits(32):08X}"


class PayloadStore:
    """Reads and writes gzip blobs in the task hub's large-message container."""

    def __init__(self, clients: StorageClients, hub: str) -> None:
        self.container_name = large_messages_container_name(hub)
        self._container = clients.blobs.get_container_client(self.container_name)
        self._container_ready = False

    @property
    def container_url(self) -> str:
        return str(self._container.url).rstrip("/")

    async def ensure_container(self) -> None:
        if self._container_ready:
            return
        try:
            await self._container.create_container()
        except ResourceExistsError:
            pass
        self._container_ready = True

    async def upload(self, blob_name: str, text: str) -> None:
        """Gzip ``text`` (UTF-8) into ``blob_name``, creating the container on first use."""
        data = gzip.compress(text.encode("utf-8"), compresslevel=6)
        try:
            await self._container.upload_blob(blob_name, data, overwrite=True)
        except ResourceNotFoundError:
            self._container_ready = False
            await self.ensure_container()
            await self._container.upload_blob(blob_name, data, overwrite=True)

    async def download(self, blob_name: str) -> str:
        stream = await self._container.download_blob(blob_name)
        return gzip.decompress(await stream.readall()).decode("utf-8")

    def blob_url(self, blob_name: str) -> str:
        """Absolute URL of a blob, each path segment escaped (DTFx ``MessageManager.GetBlobUrl``)."""
        return self.container_url + "/" + "/".join(quote(seg, safe="-_.~") for seg in blob_name.split("/"))

    def blob_name_from_url(self, value: str) -> str | None:
        """The blob name if ``value`` is a URL into this container, else ``None``."""
        if not value.startswith(("http://", "https://")):
            return None
        prefix = urlsplit(self.container_url).path + "/"
        path = urlsplit(value).path
        if not path.startswith(prefix):
            return None
        return unquote(path[len(prefix) :])

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every blob whose name starts with ``prefix``; returns how many."""
        deleted = 0
        try:
            async for blob in self._container.list_blobs(name_starts_with=prefix):
                try:
                    await self._container.delete_blob(blob.name)
                    deleted += 1
                except ResourceNotFoundError:
                    pass
        except ResourceNotFoundError:
            return 0
        return deleted
