"""A private Azurite for fault tests: its own process, free ports and data directory.

Fault tests stop, kill and restart storage; doing that to the shared Azurite on 10000-10002 would
break every other test (and engineer) using it. This starts the same pinned binary as
``azurite-setup/start`` (``azurite-setup/node_modules/.bin/azurite``) with the same flags and
on-disk persistence (never ``--inMemoryPersistence``), on three free ports, with its data under a
directory the test owns (``tmp_path``). ``stop(sig)`` and ``restart()`` keep the data and the ports,
so a restart is the same storage account coming back, as after a real outage.

One difference from Azure: Azurite 3.35 does not keep blob lease *time* across a restart. Every
lease shows as expired right after it (``lease.state == "expired"``); its holder can still renew it
until someone else acquires it. So a restart, however short, behaves like an outage longer than
the lease duration: other workers may take the partitions before their owners renew.

Use from a test module::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import private_azurite as pa

    async def test_x(tmp_path):
        async with pa.running(tmp_path / "azurite") as storage:
            ...  # storage.connection_string, await storage.stop(), await storage.restart()

(pytest runs with ``--import-mode=importlib``, so test directories are not on ``sys.path``.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

REPO = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO / "azurite-setup" / "node_modules" / ".bin" / "azurite"

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def answers_http(port: int, timeout: float = 2.0) -> bool:
    """True if something answers an HTTP request on 127.0.0.1:``port`` (any status: Azurite says
    400/403 to an unsigned GET), as ``azurite-setup/start`` checks."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        first = await asyncio.wait_for(reader.readline(), timeout)
        return first.startswith(b"HTTP/")
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def refuses(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:``port`` (connection refused)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
    except (OSError, asyncio.TimeoutError):
        return True
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return False


class PrivateAzurite:
    """One Azurite process of this test, on ``ports`` (blob, queue, table), data in ``data_dir``."""

    def __init__(self, data_dir: Path, ports: list[int] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.blob_port, self.queue_port, self.table_port = ports or free_ports(3)
        self.log_path = self.data_dir / "azurite.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        #: (what, time.time()) of every start, stop and restart, for diagnostics and timing.
        self.events: list[tuple[str, float]] = []

    @property
    def ports(self) -> list[int]:
        return [self.blob_port, self.queue_port, self.table_port]

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    async def is_up(self) -> bool:
        results = await asyncio.gather(*(answers_http(p) for p in self.ports))
        return all(results)

    async def is_down(self) -> bool:
        results = await asyncio.gather(*(refuses(p) for p in self.ports))
        return all(results)

    async def wait_up(self, timeout: float = 60.0) -> None:
        """Wait until all three ports answer HTTP; fail with Azurite's log if it exits or never does."""

        async def probe() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"private Azurite exited with {self.process.returncode} during start-up:\n{self.log()[-3000:]}"
                )
            return await self.is_up()

        try:
            await ws.wait_until(probe, timeout=timeout, interval=0.2, what=f"private Azurite on {self.ports}")
        except AssertionError as error:
            raise AssertionError(f"{error}\nAzurite log:\n{self.log()[-3000:]}") from None

    async def wait_down(self, timeout: float = 30.0) -> None:
        """Wait until no port accepts connections any more."""
        await ws.wait_until(
            self.is_down, timeout=timeout, interval=0.1, what=f"private Azurite on {self.ports} to stop"
        )

    async def start(self, timeout: float = 60.0) -> None:
        """Start Azurite on this object's data directory and ports, and wait until it answers."""
        assert not self.running(), "private Azurite is already running"
        if not os.access(AZURITE_BIN, os.X_OK):
            raise AssertionError(f"{AZURITE_BIN} is missing: run azurite-setup/start (npm ci) first")
        with self.log_path.open("ab") as out:
            # The same flags as azurite-setup/start, on our ports and data directory.
            self.process = subprocess.Popen(
                [
                    str(AZURITE_BIN),
                    "--location",
                    str(self.data_dir),
                    "--silent",
                    "--skipApiVersionCheck",
                    "--disableTelemetry",
                    "--blobHost",
                    "127.0.0.1",
                    "--queueHost",
                    "127.0.0.1",
                    "--tableHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(self.blob_port),
                    "--queuePort",
                    str(self.queue_port),
                    "--tablePort",
                    str(self.table_port),
                ],
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest is not delivered to it as well
            )
        self.starts += 1
        await self.wait_up(timeout)
        self.events.append(("up", time.time()))

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Send ``sig`` to Azurite (only ever to our own child) and wait until it has exited and
        its ports refuse connections; SIGKILL if it outlives ``timeout``. Returns the time.time()
        at which the signal was sent."""
        sent = time.time()
        process = self.process
        if process is None or process.poll() is not None:
            return sent
        self.events.append((f"signal {signal.Signals(sig).name}", sent))
        process.send_signal(sig)

        async def exited() -> bool:
            return process.poll() is not None

        try:
            await ws.wait_until(
                exited, timeout=timeout, interval=0.1, what=f"Azurite pid {process.pid} to exit"
            )
        except AssertionError:
            process.kill()
            process.wait(timeout=10)
        await self.wait_down()
        self.events.append(("down", time.time()))
        return sent

    async def restart(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Stop (if running) and start again on the same data and ports."""
        if self.running():
            await self.stop(sig)
        await self.start(timeout)

    def kill_now(self) -> None:
        """Synchronous last-resort cleanup: SIGKILL our Azurite if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def raw_storage(self) -> PrivateRawStorage:
        return PrivateRawStorage(self.connection_string)


class PrivateRawStorage(ws.RawStorage):
    """:class:`worker_support.RawStorage` (plain Azure SDK clients) on a private Azurite."""

    def __init__(self, connection_string: str) -> None:  # no super().__init__: it targets port 10000
        self.tables = TableServiceClient.from_connection_string(connection_string)
        self.queues = QueueServiceClient.from_connection_string(connection_string, api_version=ws.API_VERSION)
        self.blobs = BlobServiceClient.from_connection_string(connection_string, api_version=ws.API_VERSION)


@asynccontextmanager
async def running(data_dir: Path) -> AsyncIterator[PrivateAzurite]:
    """A started private Azurite, stopped (SIGTERM, then SIGKILL) on exit."""
    storage = PrivateAzurite(data_dir)
    try:
        await storage.start()
        yield storage
    finally:
        try:
            await storage.stop(signal.SIGTERM, timeout=15)
        finally:
            storage.kill_now()


@asynccontextmanager
async def private_hub(storage: PrivateAzurite, name: str) -> AsyncIterator[ws.Hub]:
    """:func:`worker_support.task_hub` (no in-process worker) on the private Azurite, with
    ``hub.raw`` reading that Azurite too. If storage is down when the test ends, it is started
    again so the hub can be deleted."""
    async with ws.task_hub(storage.connection_string, name, worker=False) as hub:
        await hub.raw.close()  # task_hub's RawStorage targets the shared Azurite
        hub.raw = storage.raw_storage()
        try:
            yield hub
        finally:
            if not storage.running():
                await storage.start()
