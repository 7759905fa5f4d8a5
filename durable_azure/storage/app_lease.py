"""The app lease: one app's workers at a time process a task hub (DTFx ``AppLeaseManager``).

Read from Azure/durabletask ``src/DurableTask.AzureStorage/Partitioning/AppLeaseManager.cs``,
``AppLeaseOptions.cs`` and ``AzureStorageOrchestrationService.cs`` (commit
``5217032961abf45846f462732a5e2813316e3747``):

* container ``{hub}-applease`` (hub lower-cased) and, inside it, blob ``{hub}-appleaseinfo`` whose
  text is ``{}`` when created, later Newtonsoft JSON ``{"OwnerId":…,"DesiredSwapId":…}``;
* the app holds a **container lease** whose id is a pure function of the app name: a GUID whose
  first four bytes are the little-endian FNV-1a hash of ``AppName`` (UTF-8) and the other twelve
  zero, i.e. ``"{hash:08x}-0000-0000-0000-000000000000"``. Every worker of one app presents the
  same id, so all of them "hold" the lease together; a worker of another app cannot acquire it
  and does not start its partition manager;
* ``AppName`` = env ``WEBSITE_SITE_NAME``, else ``DTFX_APP_NAME``, else ``""`` (DF passes
  ``WEBSITE_SITE_NAME`` or ``""``);
* an app that finds ``DesiredSwapId`` equal to its own id takes the lease over by *changing* the
  lease id from ``OwnerId`` to its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobLeaseClient

from .clients import StorageClients
from .naming import fnv1a_32

#: App lease requests fail fast: the manager tries again at its next interval.
APP_LEASE_REQUEST: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10}


def app_lease_container_name(hub: str) -> str:
    return f"{hub.lower()}-applease"


def app_lease_info_blob_name(hub: str) -> str:
    return f"{hub.lower()}-appleaseinfo"


def app_name_from_env(env: Mapping[str, str] | None = None) -> str:
    """``DurableTask.Core.Common.Utils.AppName``: ``WEBSITE_SITE_NAME``, else ``DTFX_APP_NAME``, else ``""``."""
    source = os.environ if env is None else env
    return source.get("WEBSITE_SITE_NAME") or source.get("DTFX_APP_NAME") or ""


def app_lease_id(app_name: str) -> str:
    """``new Guid(BitConverter.GetBytes(Fnv1aHashHelper.ComputeHash(appName)) resized to 16)``."""
    return f"{fnv1a_32(app_name.encode('utf-8')):08x}-0000-0000-0000-000000000000"


class AppLeaseStore:
    """The ``{hub}-applease`` container lease and its ``{hub}-appleaseinfo`` blob, for one app."""

    def __init__(self, clients: StorageClients, hub: str, app_name: str, lease_duration: int = 60) -> None:
        self.container_name = app_lease_container_name(hub)
        self.info_blob_name = app_lease_info_blob_name(hub)
        self.app_name = app_name
        self.lease_id = app_lease_id(app_name)
        self.lease_duration = lease_duration
        self._container = clients.blobs.get_container_client(self.container_name)
        self._lease = BlobLeaseClient(self._container, lease_id=self.lease_id)

    async def create_if_not_exists(self) -> None:
        """``CreateContainerIfNotExistsAsync``: the container and an info blob holding ``{}``."""
        try:
            await self._container.create_container()
        except ResourceExistsError:
            pass
        try:
            await self._container.upload_blob(self.info_blob_name, "{}", overwrite=False)
        except (ResourceExistsError, HttpResponseError):
            pass  # DTFx eats any storage error here (the blob already exists)

    async def read_info(self) -> dict[str, Any] | None:
        """The ``{hub}-appleaseinfo`` document, or ``None`` when it does not exist."""
        try:
            stream = await self._container.download_blob(self.info_blob_name, **APP_LEASE_REQUEST)
        except ResourceNotFoundError:
            return None
        text = (await stream.readall()).decode("utf-8-sig")
        info = json.loads(text) if text.strip() else {}
        return info if isinstance(info, dict) else {}

    async def _write_info(self, info: dict[str, Any]) -> None:
        body = json.dumps(  # Newtonsoft's defaults: compact, nulls written
            {"OwnerId": info.get("OwnerId"), "DesiredSwapId": info.get("DesiredSwapId")},
            separators=(",", ":"),
        )
        try:
            await self._container.upload_blob(self.info_blob_name, body, overwrite=True, **APP_LEASE_REQUEST)
        except HttpResponseError:
            pass  # DTFx: UpdateAppLeaseInfoBlob eats storage errors

    async def try_acquire(self) -> bool:
        """``TryAcquireAppLeaseAsync``: change the lease over if we are the desired swap, else acquire it."""
        info = await self.read_info() or {}
        try:
            if info.get("DesiredSwapId") == self.lease_id and info.get("OwnerId"):
                await BlobLeaseClient(self._container, lease_id=str(info["OwnerId"])).change(
                    proposed_lease_id=self.lease_id, **APP_LEASE_REQUEST
                )
                await self._write_info({"OwnerId": self.lease_id})
                return True
            await self._lease.acquire(lease_duration=self.lease_duration, **APP_LEASE_REQUEST)
        except HttpResponseError as e:
            if e.status_code in (400, 404, 409, 412):
                return False
            raise
        if info.get("OwnerId") != self.lease_id:
            await self._write_info({**info, "OwnerId": self.lease_id})
        return True

    async def renew(self) -> bool:
        """``RenewLeaseAsync``: ``False`` when another app holds the lease now (409/412).

        Other errors (an outage) raise; DTFx counts them as renewed and keeps going.
        """
        try:
            await self._lease.renew(**APP_LEASE_REQUEST)
        except HttpResponseError as e:
            if e.status_code in (404, 409, 412):
                return False
            raise
        return True

    async def release(self) -> None:
        """Give the lease back (a clean stop), so another app need not wait for it to expire."""
        try:
            await self._lease.release(**APP_LEASE_REQUEST)
        except HttpResponseError:
            pass

    async def request_swap(self) -> None:
        """``UpdateDesiredSwapAppIdToCurrentApp``: ask the app holding the lease to hand it to us."""
        info = await self.read_info() or {}
        if info.get("DesiredSwapId") != self.lease_id:
            await self._write_info({**info, "DesiredSwapId": self.lease_id})

    async def holder(self) -> tuple[str | None, bool]:
        """(``OwnerId`` recorded in the info blob, whether the container is leased right now)."""
        try:
            props = await self._container.get_container_properties(**APP_LEASE_REQUEST)
        except ResourceNotFoundError:
            return None, False
        info = await self.read_info() or {}
        leased = str(props.lease.state or "") in ("leased", "breaking")
        owner = info.get("OwnerId")
        return (str(owner) if owner else None), leased

    async def delete(self, *, break_foreign: bool = False) -> None:
        """``DeleteContainerAsync``: with our lease id, else plainly. A lease another app holds makes
        DTFx keep the container; ``break_foreign`` breaks that lease first (``hub delete``)."""
        for lease in (self.lease_id, None):
            try:
                await self._container.delete_container(lease=lease)
                return
            except ResourceNotFoundError:
                return
            except HttpResponseError:
                continue
        if break_foreign:
            await BlobLeaseClient(self._container).break_lease(lease_break_period=0)
            try:
                await self._container.delete_container()
            except ResourceNotFoundError:
                pass
