"""Run another benchmark script with a chosen variant of the storage clients, for same-machine A/B runs.

    .venv/bin/python bench/with_clients.py stock bench/storage_bench.py hello5 --orchestrations 200
    .venv/bin/python bench/with_clients.py fast  bench/storage_bench.py hello5 --orchestrations 200

Variants (see ``bench/profile_requests.py``): ``stock`` — the SDK clients exactly as
``durable_azure/storage/clients.py`` built them before issue 14 (each SDK client with its own aiohttp
session and ``trust_env``, the SDK's full pipeline); ``sdk`` — today's ``StorageClients`` with the fast
paths off (``DURABLE_AZURE_SDK_FAST_PATHS=0``); ``fast`` — today's ``StorageClients``.

``stock`` works by replacing the ``StorageClients`` name that ``durable_azure.storage.taskhub`` uses
to build a task hub's clients, so everything the worker and client do goes through the stock clients.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in ("stock", "sdk", "fast"):
        raise SystemExit(__doc__)
    variant, script, *rest = argv
    if variant == "sdk":
        os.environ["DURABLE_AZURE_SDK_FAST_PATHS"] = "0"
    if variant == "stock":
        import durable_azure.storage.taskhub as taskhub
        from bench.profile_requests import StockStorageClients

        taskhub.StorageClients = StockStorageClients  # type: ignore[misc,assignment]
    print(f"with_clients: {variant}", file=sys.stderr)
    sys.argv = [script, *rest]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
