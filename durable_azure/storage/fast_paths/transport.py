"""One aiohttp session for every SDK client of a :class:`~durable_azure.storage.clients.StorageClients`."""

from __future__ import annotations

from typing import Any

import aiohttp
from azure.core.pipeline.transport._aiohttp import AioHttpTransport

# The storage SDKs' own transport defaults (azure.storage.*._shared.constants); azure-data-tables
# uses azure-core's defaults. Kept per service on the shared session.
STORAGE_CONNECTION_CONFIG: dict[str, Any] = {
    "connection_timeout": 20,
    "read_timeout": 60,
    "connection_data_block_size": 256 * 1024,
}
# Each SDK client used to own an aiohttp session with aiohttp's default limit of 100 connections;
# one session for the three services keeps 100 per service endpoint.
_CONNECTIONS_PER_HOST = 100
_CONNECTIONS_TOTAL = 3 * _CONNECTIONS_PER_HOST


# ------------------------------------------------------------------------------ transport


class SharedSession:
    """One aiohttp session (cookie-less, no auto-decompression: as azure-core's own) for every client
    of a :class:`StorageClients`, created on first use inside the running event loop."""

    def __init__(self, trust_env: bool) -> None:
        self.trust_env = trust_env
        self.closed = False
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self.closed:
                raise ValueError(
                    "HTTP transport has already been closed. "
                    "You may check if you're calling a function outside of the `async with` of your client "
                    "creation, or if you called `await close()` on your client already."
                )
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=_CONNECTIONS_TOTAL, limit_per_host=_CONNECTIONS_PER_HOST
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=self.trust_env,
            )
        return self._session

    async def close(self) -> None:
        self.closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class ServiceTransport(AioHttpTransport):
    """azure-core's aiohttp transport for one service (its own timeouts and block size) on the shared
    session. Closing an SDK client leaves the session open; :meth:`StorageClients.close` closes it."""

    def __init__(self, shared: SharedSession, **connection_config: Any) -> None:
        super().__init__(**connection_config)
        self._shared = shared

    async def open(self) -> None:
        if self.session is None or self._shared.closed:
            self.session = self._shared.get()

    async def close(self) -> None:
        return None
