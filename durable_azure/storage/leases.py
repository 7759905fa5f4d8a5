"""Partition leases as blobs in ``{hub}-leases``: DTFx's "legacy" ``BlobPartitionLeaseManager`` layout.

* ``taskhub.json`` = ``{"TaskHubName","CreatedAt","PartitionCount"}``;
* one blob per control queue, ``default/{hub}-control-NN``, whose JSON is
  ``{"PartitionId","Owner","Token","Epoch"}`` (``Token`` = the holder's blob lease id, which is
  how DTFx steals: it *changes* the lease id from the token to its own);
* ownership = an Azure blob lease on that blob; ``Epoch`` grows by one on every acquire/steal.

We also mirror ``Owner``/``Epoch`` into blob metadata so :meth:`LeaseStore.list` is a single
``list_blobs`` request (blobs written by .NET workers, without the metadata, are downloaded).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobProperties, ContentSettings
from azure.storage.blob.aio import BlobLeaseClient

from .clients import StorageClients
from .naming import control_queue_name, leases_container_name, validate_partition_count
from .values import format_timestamp

log = logging.getLogger(__name__)

TASKHUB_INFO_BLOB = "taskhub.json"
LEASE_TYPE = "default"
MIN_LEASE_DURATION, MAX_LEASE_DURATION = 15, 60  # Azure's limits for a finite blob lease
_JSON = ContentSettings(content_type="application/json")
_LOST = (404, 409, 412)  # the lease is gone, held by someone else, or its id no longer matches
#: Lease requests fail fast (no SDK retries, whose back-off is 15 s and more): the partition manager
#: tries again at its next pass, and an outage must not hold a renewal past the lease's expiry.
LEASE_REQUEST: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10}


@dataclass(frozen=True, slots=True)
class PartitionLease:
    """A partition's lease blob as last seen."""

    partition_id: str  # control queue name, e.g. "myhub-control-02"
    owner: str | None  # owner recorded in the blob (None when released)
    epoch: int
    leased: bool  # the blob is leased right now (by anyone)
    token: str | None  # our lease id if WE hold it (set by acquire/steal), else None


def _lost(error: HttpResponseError) -> bool:
    return error.status_code in _LOST


class LeaseStore:
    """Reads, acquires, renews, steals and releases the partition lease blobs of one task hub."""

    def __init__(
        self, clients: StorageClients, hub: str, partition_count: int, lease_duration: int = 30
    ) -> None:
        if not MIN_LEASE_DURATION <= lease_duration <= MAX_LEASE_DURATION:
            raise ValueError(
                f"lease duration must be {MIN_LEASE_DURATION}..{MAX_LEASE_DURATION} s, got {lease_duration!r}"
            )
        self.hub = hub
        self.partition_count = validate_partition_count(partition_count)
        self.lease_duration = lease_duration
        self.container_name = leases_container_name(hub)
        self.partition_ids = [control_queue_name(hub, i) for i in range(partition_count)]
        self._container = clients.blobs.get_container_client(self.container_name)

    # ------------------------------------------------------------------ blobs

    @staticmethod
    def _blob_name(partition_id: str) -> str:
        return f"{LEASE_TYPE}/{partition_id}"

    async def _read(self, partition_id: str) -> dict[str, Any]:
        stream = await self._container.download_blob(self._blob_name(partition_id), **LEASE_REQUEST)
        data: dict[str, Any] = json.loads(await stream.readall())
        return data

    async def _write(
        self,
        partition_id: str,
        owner: str | None,
        token: str | None,
        epoch: int,
        *,
        lease_id: str | None = None,
        overwrite: bool = True,
        **options: Any,
    ) -> None:
        body = json.dumps({"PartitionId": partition_id, "Owner": owner, "Token": token, "Epoch": epoch})
        await self._container.upload_blob(
            self._blob_name(partition_id),
            body,
            overwrite=overwrite,
            metadata={"owner": quote(owner or "", safe=""), "epoch": str(epoch)},
            content_settings=_JSON,
            lease=lease_id,
            **options,
        )

    async def _create_lease_blob(self, partition_id: str) -> None:
        try:
            await self._write(partition_id, None, None, 0, overwrite=False)
        except ResourceExistsError:
            pass
        except HttpResponseError as e:  # exists and is leased
            if e.status_code not in (409, 412):
                raise

    def _blob(self, partition_id: str) -> Any:
        return self._container.get_blob_client(self._blob_name(partition_id))

    # ------------------------------------------------------------------ hub

    async def create_if_not_exists(self) -> None:
        """Create the container, ``taskhub.json`` and one lease blob per partition (if missing)."""
        try:
            await self._container.create_container()
            existing: set[str] = set()
        except ResourceExistsError:
            existing = {b.name async for b in self._container.list_blobs()}
        tasks = [
            self._create_lease_blob(pid) for pid in self.partition_ids if self._blob_name(pid) not in existing
        ]
        tasks.append(self._ensure_taskhub_info(TASKHUB_INFO_BLOB in existing))
        await asyncio.gather(*tasks)

    async def _ensure_taskhub_info(self, exists: bool) -> None:
        info = {
            "TaskHubName": self.hub,
            "CreatedAt": format_timestamp(datetime.now(timezone.utc)),
            "PartitionCount": self.partition_count,
        }
        if exists:
            current = await self.read_taskhub_info()
            if current is not None:
                if (
                    current.get("TaskHubName") == self.hub
                    and current.get("PartitionCount") == self.partition_count
                ):
                    return
                log.warning(
                    "task hub %s: taskhub.json says %s; rewriting with partition count %d "
                    "(instances may now route to different control queues)",
                    self.hub,
                    current,
                    self.partition_count,
                )
                info["CreatedAt"] = current.get("CreatedAt") or info["CreatedAt"]
        try:
            await self._container.upload_blob(
                TASKHUB_INFO_BLOB, json.dumps(info), overwrite=exists, content_settings=_JSON
            )
        except ResourceExistsError:
            pass

    async def read_taskhub_info(self, **request_options: Any) -> dict[str, Any] | None:
        """The ``taskhub.json`` document, or ``None`` if it (or the container) does not exist."""
        try:
            stream = await self._container.download_blob(TASKHUB_INFO_BLOB, **request_options)
        except ResourceNotFoundError:
            return None
        info: dict[str, Any] | None = json.loads(await stream.readall())
        return info

    # ------------------------------------------------------------------ leases

    async def list(self) -> list[PartitionLease]:
        """Every configured partition's lease, in partition order (one ``list_blobs`` request)."""
        return (await self.list_types(LEASE_TYPE))[LEASE_TYPE]

    async def list_types(self, *lease_types: str) -> dict[str, builtins.list[PartitionLease]]:
        """The leases of each of ``lease_types``, in partition order, from one ``list_blobs`` request.

        ``"ownership"`` (or ``"intent"``) reads, without taking anything, the leases of DTFx's
        two-level "safe" blob manager, Durable Functions 2.x's default (for ``hub info``).
        """
        found: dict[str, dict[str, BlobProperties]] = {t: {} for t in lease_types}
        prefix = lease_types[0] + "/" if len(lease_types) == 1 else None
        async for props in self._container.list_blobs(
            name_starts_with=prefix, include=["metadata"], **LEASE_REQUEST
        ):
            lease_type, _, partition_id = props.name.partition("/")
            if lease_type in found:
                found[lease_type][partition_id] = props
        result: dict[str, builtins.list[PartitionLease]] = {}
        for lease_type, blobs in found.items():
            result[lease_type] = list(
                await asyncio.gather(
                    *(
                        self._from_props(pid, blobs[pid], lease_type)
                        for pid in self.partition_ids
                        if pid in blobs
                    )
                )
            )
        return result

    async def _from_props(
        self, partition_id: str, props: BlobProperties, lease_type: str = LEASE_TYPE
    ) -> PartitionLease:
        leased = str(props.lease.state or "") in ("leased", "breaking")
        meta = props.metadata or {}
        if "epoch" in meta:
            owner = unquote(meta.get("owner") or "") or None
            epoch = int(meta["epoch"])
        else:  # written by a .NET worker: read the JSON
            stream = await self._container.download_blob(f"{lease_type}/{partition_id}", **LEASE_REQUEST)
            data = json.loads(await stream.readall())
            owner, epoch = data.get("Owner") or None, int(data.get("Epoch") or 0)
        return PartitionLease(partition_id, owner, epoch, leased, None)

    async def acquire(self, partition_id: str, owner: str) -> PartitionLease | None:
        """Take an unleased partition; ``None`` if someone holds it. Writes ``Owner``, ``Epoch + 1``."""
        lease_id = str(uuid.uuid4())
        lease = BlobLeaseClient(self._blob(partition_id), lease_id=lease_id)
        try:
            try:
                await lease.acquire(lease_duration=self.lease_duration, **LEASE_REQUEST)
            except ResourceNotFoundError:  # the lease blob is missing: create it, try once more
                await self._create_lease_blob(partition_id)
                await lease.acquire(lease_duration=self.lease_duration, **LEASE_REQUEST)
        except HttpResponseError as e:
            if e.status_code == 409:
                return None
            raise
        return await self._take(partition_id, owner, lease)

    async def steal(self, partition_id: str, owner: str, current: PartitionLease) -> PartitionLease | None:
        """Take a partition leased by another owner by changing its lease id (DTFx steal).

        ``None`` when the lease changed since ``current`` was read or the change is refused.
        """
        if not current.leased:
            return await self.acquire(partition_id, owner)
        try:
            data = await self._read(partition_id)
        except ResourceNotFoundError:
            return None
        their_token = data.get("Token")
        if (
            not their_token
            or (data.get("Owner") or None) != current.owner
            or data.get("Epoch") != current.epoch
        ):
            return None
        lease = BlobLeaseClient(self._blob(partition_id), lease_id=their_token)
        try:
            await lease.change(proposed_lease_id=str(uuid.uuid4()), **LEASE_REQUEST)
        except HttpResponseError as e:
            if e.status_code in (400, *_LOST):
                return None
            raise
        log.info("stole partition %s from %s (epoch %s)", partition_id, current.owner, current.epoch)
        return await self._take(partition_id, owner, lease, epoch=current.epoch)

    async def _take(
        self, partition_id: str, owner: str, lease: BlobLeaseClient, *, epoch: int | None = None
    ) -> PartitionLease:
        """Record a freshly obtained lease in the blob; give the lease back if that fails."""
        try:
            if epoch is None:
                epoch = int((await self._read(partition_id)).get("Epoch") or 0)
            await self._write(partition_id, owner, lease.id, epoch + 1, lease_id=lease.id, **LEASE_REQUEST)
        except Exception:
            try:
                await lease.release()
            except Exception:
                pass
            raise
        return PartitionLease(partition_id, owner, epoch + 1, True, lease.id)

    async def renew(self, lease: PartitionLease) -> bool:
        """Renew a lease we hold; ``False`` if it is lost (expired and taken, stolen, or deleted)."""
        if not lease.token:
            return False
        try:
            await BlobLeaseClient(self._blob(lease.partition_id), lease_id=lease.token).renew(**LEASE_REQUEST)
        except HttpResponseError as e:
            if _lost(e):
                return False
            raise
        return True

    async def release(self, lease: PartitionLease) -> None:
        """Record ``Owner = null`` and release the lease; a lease already lost is fine."""
        if not lease.token:
            return
        try:
            await self._write(
                lease.partition_id, None, None, lease.epoch, lease_id=lease.token, **LEASE_REQUEST
            )
            await BlobLeaseClient(self._blob(lease.partition_id), lease_id=lease.token).release(
                **LEASE_REQUEST
            )
        except HttpResponseError as e:
            if not _lost(e):
                raise
            log.debug("release of %s: lease already lost", lease.partition_id)
