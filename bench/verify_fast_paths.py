"""Checks, against Azurite, that the storage fast paths of ``durable_azure/storage/fast_paths`` behave
exactly like the Azure SDK's own methods they replace.

Each scenario runs twice — once through ``StorageClients(fast_paths=False)`` (every call the SDK's
way) and once through ``StorageClients()`` (the fast paths) — on resources of the same shape, and
compares:

* the request on the wire: method, URL (with the resource name and SAS signature masked), headers
  (the volatile ``x-ms-date``/``Date``/``x-ms-client-request-id``/``Authorization`` left out) and
  body (multipart boundaries and dates masked);
* the result: types and values of every field, except values that differ by nature between two
  calls (message ids, pop receipts, ETags, server times), whose *types* are still compared;
* the exception: type, ``status_code``, ``error_code``, ``index`` (transactions) and message (with
  request ids and server times masked).

Run it after changing the fast paths or installing another SDK version (then update
``VERIFIED_SDK_VERSIONS`` in durable_azure/storage/fast_paths/sdk.py): ``.venv/bin/python bench/verify_fast_paths.py``. Prints one
JSON line per scenario and a summary line; exits 1 on any difference. ``--sas`` repeats the
scenarios with an account-SAS connection string.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``durable_azure`` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azure.data.tables import EntityProperty
from azure.storage.queue import QueueMessage

from bench._verify_scenarios import Env, Scenario, scenarios
from durable_azure.storage.clients import RequestCounter, StorageClients, resolve_connection_string

CONNECTION = os.environ.get("AzureWebJobsStorage", "UseDevelopmentStorage=true")  # noqa: SIM112 (Functions name)
VOLATILE_HEADERS = {"x-ms-date", "date", "x-ms-client-request-id", "authorization"}


class Wire(RequestCounter):
    """A request counter that also records every request (method, URL, headers, body)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []

    def hook(self, service: str) -> Callable[[Any], None]:
        count = super().hook(service)

        def on_request(request: Any) -> None:
            count(request)
            http = request.http_request
            body = getattr(http, "body", None)
            if body is None:
                body = getattr(http, "content", None)
            if isinstance(body, str):
                body = body.encode("utf-8")
            self.requests.append(
                {
                    "method": http.method,
                    "url": http.url,
                    "headers": {k: v for k, v in http.headers.items() if k.lower() not in VOLATILE_HEADERS},
                    "body": body,
                }
            )

        return on_request


# ------------------------------------------------------------------------------ normalizing

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
ETAG = re.compile(r"W/\"datetime'[^']*'\"")
SERVER_NOISE = re.compile(r"(RequestId:|Time:)\S+")


def mask(text: str, names: dict[str, str]) -> str:
    for real, placeholder in names.items():
        text = text.replace(real, placeholder)
    text = re.sub(r"sig=[^&]+", "sig=SIG", text)
    text = re.sub(r"popreceipt=[^&]+", "popreceipt=RECEIPT", text)
    text = ETAG.sub("ETAG", text)
    text = re.sub(r"(se|st)=[^&]+", r"\1=T", text)
    text = UUID.sub("UUID", text)
    text = HTTP_DATE.sub("DATE", text)
    return SERVER_NOISE.sub(r"\1X", text)


def wire_view(requests: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for r in requests:
        body = r["body"]
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        out.append(
            {
                "method": r["method"],
                "url": mask(r["url"], names),
                "headers": {
                    k: mask(str(v), names)
                    for k, v in sorted(r["headers"].items(), key=lambda kv: kv[0].lower())
                },
                "body": None if body is None else mask(body, names),
            }
        )
    return out


VOLATILE_FIELDS = {
    "id",
    "pop_receipt",
    "etag",
    "inserted_on",
    "expires_on",
    "next_visible_on",
    "date",
    "timestamp",
    "Timestamp",
}


def value_view(value: Any, key: str = "") -> Any:
    """A comparable picture of a result: types always, values unless volatile by nature."""
    if isinstance(value, BaseException):
        view = {
            "exception": type(value).__name__,
            "module": type(value).__module__,
            "status_code": getattr(value, "status_code", None),
            "error_code": str(getattr(value, "error_code", None)),
            "index": getattr(value, "index", None),
            "message": mask(str(value), {}),
        }
        return view
    if isinstance(value, QueueMessage):
        return {"QueueMessage": {k: value_view(v, k) for k, v in sorted(vars(value).items())}}
    if isinstance(value, dict) or hasattr(value, "metadata"):
        view = {
            str(k): value_view(v, str(k)) for k, v in sorted(dict(value).items(), key=lambda kv: str(kv[0]))
        }
        metadata = getattr(value, "metadata", None)
        if metadata is not None:
            view["@metadata"] = {k: value_view(v, k) for k, v in sorted(metadata.items())}
        view["@type"] = type(value).__name__
        return view
    if isinstance(value, (list, tuple)):
        return [value_view(v, key) for v in value]
    if key in VOLATILE_FIELDS or key.startswith("odata."):
        return {"type": type(value).__name__, "tz": str(getattr(value, "tzinfo", None))}
    if isinstance(value, EntityProperty):
        return {"EntityProperty": [value_view(value.value), str(value.edm_type)]}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat(), "type": type(value).__name__, "tz": str(value.tzinfo)}
    plain = isinstance(value, (int, str, bool, type(None)))
    return {"type": type(value).__name__, "value": value if plain else repr(value)}


async def run_side(env: Env, scenario: Scenario) -> tuple[Any, list[dict[str, Any]], int]:
    before = len(env.wire.requests)
    try:
        result: Any = await scenario(env)
    except Exception as error:
        result = error
    return (
        value_view(result),
        wire_view(env.wire.requests[before:], env.names),
        len(env.wire.requests) - before,
    )


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    if type(a) is not type(b):
        return [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(
                    f"{path}.{k}: only in {'fast' if k in b else 'sdk'} ({(a.get(k) if k in a else b.get(k))!r})"[
                        :500
                    ]
                )
            else:
                out.extend(diff(a[k], b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)} items"]
        return [
            line for i, (x, y) in enumerate(zip(a, b, strict=True)) for line in diff(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:800]]


def sas_connection_string() -> str:
    from azure.data.tables import generate_account_sas as table_sas
    from azure.storage.queue import AccountSasPermissions, ResourceTypes, generate_account_sas

    base = resolve_connection_string(CONNECTION)
    parts = dict(p.split("=", 1) for p in base.split(";") if p)
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    queue_token = generate_account_sas(
        parts["AccountName"],
        parts["AccountKey"],
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True, update=True, process=True
        ),
        expiry,
        services="bqt",
    )
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.data.tables import AccountSasPermissions as TablePermissions
    from azure.data.tables import ResourceTypes as TableResourceTypes

    table_token = table_sas(  # (the queue token covers tables too: ss=bqt)
        AzureNamedKeyCredential(parts["AccountName"], parts["AccountKey"]),
        TableResourceTypes(service=True, container=True, object=True),
        TablePermissions(read=True, write=True, delete=True, list=True, add=True, create=True, update=True),
        expiry,
    )
    assert queue_token and table_token
    return (
        f"QueueEndpoint={parts['QueueEndpoint']};TableEndpoint={parts['TableEndpoint']};"
        f"BlobEndpoint={parts['BlobEndpoint']};SharedAccessSignature={queue_token}"
    )


async def amain(args: argparse.Namespace) -> int:
    connection = sas_connection_string() if args.sas else CONNECTION
    wires = {"sdk": Wire(), "fast": Wire()}
    sdk_clients = StorageClients(connection, wires["sdk"], fast_paths=False)
    fast_clients = StorageClients(connection, wires["fast"])
    if not fast_clients.fast_paths:
        print(json.dumps({"ok": False, "error": f"fast paths are off: {fast_clients.fast_paths_off_reason}"}))
        return 1
    envs = {"sdk": Env(sdk_clients, wires["sdk"], "s"), "fast": Env(fast_clients, wires["fast"], "f")}
    failures = 0
    try:
        for env in envs.values():
            await env.create()
        wanted = set(args.only.split(",")) if args.only else None
        for name, scenario in scenarios().items():
            if wanted is not None and name not in wanted:
                continue
            sdk_view, sdk_wire, sdk_n = await run_side(envs["sdk"], scenario)
            fast_view, fast_wire, fast_n = await run_side(envs["fast"], scenario)
            problems = diff(sdk_view, fast_view, "result")
            problems += diff(sdk_wire, fast_wire, "wire")
            ok = not problems
            failures += not ok
            line: dict[str, Any] = {"scenario": name, "ok": ok, "requests": {"sdk": sdk_n, "fast": fast_n}}
            if problems or args.verbose:
                line["problems"] = problems[:20]
                line["sdk"] = sdk_view
                if args.verbose:
                    line["wire"] = sdk_wire
            print(json.dumps(line, default=str), flush=True)
    finally:
        for env in envs.values():
            await env.delete()
        await sdk_clients.close()
        await fast_clients.close()
    print(json.dumps({"summary": True, "ok": failures == 0, "failures": failures, "sas": args.sas}))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sas", action="store_true", help="use an account-SAS connection string")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--verbose", action="store_true", help="print every result and request")
    return asyncio.run(amain(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
