"""Where the client CPU of one storage request goes, per operation type, against Azurite.

For each operation (queue send / receive / receive of 32 / empty receive / delete, table batch /
point read / merge / query, blob upload / download) this script makes N identical requests through
:class:`durable_azure.storage.clients.StorageClients` (the same SDK calls and arguments as our
storage layer), one at a time, and reports:

* ``cpu_ms_per_request``: process CPU (``time.process_time``: every thread of this process) per
  request over an *unprofiled* pass, the median of ``--repeat`` passes; ``main_thread_cpu_ms`` is the
  same for the event-loop thread alone (``time.thread_time``), so the rest is other threads (aiohttp's
  ``trust_env`` look-ups run in the default executor). Wall time per request is given for context only.
* ``categories``: a profiled pass (cProfile with a CPU-time timer, or ``--profiler sample``: a
  low-overhead ``ITIMER_PROF`` stack sampler) split by category, as shares of the main thread's CPU
  and as ms per request (share × unprofiled main-thread CPU). Categories come from the module path of
  each frame: azure-core pipeline policies (each policy class named), SharedKey signing, SDK request
  building and model (de)serialization, XML, JSON, the azure-core transport adapter, aiohttp, the
  event loop and sockets, tracing, our own code. Frames of "neutral" modules (builtins, ``typing``,
  ``urllib``, ``uuid``, ``email``, ``logging`` …) are charged to the category of their caller, so
  ``uuid1`` called by a header policy counts for that policy.
* ``requests_counted``: what ``RequestCounter`` saw (must be exactly N per pass: one request per call).
* ``pipeline``: the policy classes of each service client's pipeline.

cProfile costs a fixed amount per Python call, which inflates call-heavy code (the policy chain) in
the shares; ``--profiler sample`` does not, but is coarser. The absolute ms always come from the
unprofiled pass. Prints one JSON line per operation and a summary line on stdout; progress on
stderr; ``--markdown`` also prints the summary as a Markdown table on stderr (for bench/README.md).

Usage: ``.venv/bin/python bench/profile_requests.py [-n 300] [--ops queue.send,table.get]
[--profiler cprofile|sample|none] [--repeat 3] [--markdown]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import platform
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``durable_azure`` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench._profile_categories import (
    ADAPTER,
    AIOHTTP,
    CORE_HTTP,
    HARNESS,
    JSON,
    LOOP,
    OTHER_THREADS,
    OURS,
    PLUMBING,
    POLICY,
    SDK,
    SIGNING,
    THIS_FILE,
    THREADS,
    TRACING,
    XML,
    Categorizer,
    StackSampler,
    categories_from_cprofile,
)
from bench._profile_operations import Fixture, Operation
from durable_azure.storage.clients import RequestCounter, StorageClients

log = logging.getLogger("profile_requests")

CONNECTION = os.environ.get("AzureWebJobsStorage", "UseDevelopmentStorage=true")  # noqa: SIM112 (Functions name)

# ------------------------------------------------------------------------------ measurement


async def run_pass(
    op: Operation, n: int, counter: RequestCounter, prepare_n: int | None = None
) -> tuple[float, float, float, int]:
    """(process CPU s, main-thread CPU s, wall s, requests counted) for ``n`` calls of ``op`` (after
    readying state for ``prepare_n`` calls, default ``n``)."""
    if op.prepare is not None:
        await op.prepare(prepare_n or n)
    before = counter.total
    cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    for i in range(n):
        await op.call(i)
    cpu1, thread1, wall1 = time.process_time(), time.thread_time(), time.perf_counter()
    return cpu1 - cpu0, thread1 - thread0, wall1 - wall0, counter.total - before


async def profile_pass(op: Operation, n: int, profiler: str, cat: Categorizer) -> dict[str, float]:
    if op.prepare is not None:
        await op.prepare(n)
    if profiler == "cprofile":
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        for i in range(n):
            await op.call(i)
        profile.disable()
        return categories_from_cprofile(profile, cat)
    with StackSampler(cat) as sampler:
        for i in range(n):
            await op.call(i)
    return sampler.seconds()


def pipeline_of(client: Any) -> list[str]:
    """The policy classes of an SDK client's pipeline (private attributes: for this report only)."""
    inner = getattr(client, "_client", None)
    pipeline = getattr(getattr(inner, "_client", inner), "_pipeline", None) or getattr(
        client, "_pipeline", None
    )
    policies = getattr(pipeline, "_impl_policies", None)
    if policies is None:
        return ["?"]
    names = []
    for p in policies:
        wrapped = getattr(p, "_policy", p)
        names.append(type(wrapped).__name__)
    transport = getattr(pipeline, "_transport", None)
    while hasattr(transport, "_transport"):
        transport = transport._transport
    names.append(f"transport={type(transport).__name__}")
    return names


def summarize_categories(
    seconds: dict[str, float], main_ms: float, other_threads_ms: float
) -> dict[str, Any]:
    total = sum(seconds.values()) or 1.0
    rows = sorted(seconds.items(), key=lambda kv: -kv[1])
    out: dict[str, Any] = {
        k: {"share": round(v / total, 4), "ms_per_request": round(v / total * main_ms, 4)} for k, v in rows
    }
    if other_threads_ms > 0.0005:
        out[OTHER_THREADS] = {"share": None, "ms_per_request": round(other_threads_ms, 4)}
    policies = sum(v for k, v in seconds.items() if k.startswith(POLICY))
    out["(all policies except signing)"] = {
        "share": round(policies / total, 4),
        "ms_per_request": round(policies / total * main_ms, 4),
    }
    return out


class StockStorageClients(StorageClients):
    """The clients exactly as ``durable_azure/storage/clients.py`` built them before issue 14 (each SDK
    client with its own aiohttp session, ``trust_env`` on, the SDK's full pipeline): the "before" side
    of an A/B run. Shares :class:`RequestCounter` and ``close`` with the current class."""

    def __init__(self, connection_string: str, counter: RequestCounter | None = None) -> None:
        from azure.data.tables.aio import TableServiceClient
        from azure.storage.blob.aio import BlobServiceClient
        from azure.storage.queue.aio import QueueServiceClient

        from durable_azure.storage.clients import QUEUE_BLOB_API_VERSION, resolve_connection_string

        self.connection_string = resolve_connection_string(connection_string)
        self.counter = counter or RequestCounter()
        self.fast_paths_off_reason = "stock clients (before issue 14)"
        self.tables = TableServiceClient.from_connection_string(  # type: ignore[assignment]
            self.connection_string, raw_request_hook=self.counter.hook("table")
        )
        self.queues = QueueServiceClient.from_connection_string(  # type: ignore[assignment]
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("queue"),
        )
        self.blobs = BlobServiceClient.from_connection_string(
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("blob"),
        )

    async def close(self) -> None:
        await self.tables.close()
        await self.queues.close()
        await self.blobs.close()


VARIANTS = {
    "stock": "the SDK clients as built before issue 14 (per-client sessions, trust_env, full pipeline)",
    "sdk": "StorageClients(fast_paths=False): shared session, no trust_env, the SDK's full pipeline",
    "fast": "StorageClients(): shared session and the fast paths of the hot operations",
}


def make_clients(variant: str, counter: RequestCounter) -> StorageClients:
    if variant == "stock":
        return StockStorageClients(CONNECTION, counter)
    return StorageClients(CONNECTION, counter, fast_paths=variant == "fast")


@dataclass
class Side:
    """One variant's clients, counter, fixture and measurements."""

    variant: str
    counter: RequestCounter = field(default_factory=RequestCounter)
    clients: Any = None
    fixture: Any = None
    passes: dict[str, list[tuple[float, float, float, int]]] = field(default_factory=dict)


async def child_instructions(args: argparse.Namespace) -> int:
    """Under valgrind: set up, warm up, then exactly ``-n`` calls of one operation (the parent takes the
    difference of two runs with different ``-n`` and the same ``--prepare-n``)."""
    counter = RequestCounter()
    clients = make_clients(args.clients.split(",")[0], counter)
    fixture = Fixture(clients)
    try:
        await fixture.create()
        op = next(o for o in fixture.operations(args.batch_rows) if o.name == args.ops)
        await run_pass(op, 20, counter)
        _cpu, _main, _wall, counted = await run_pass(op, args.n, counter, args.prepare_n)
        if counted != args.n:
            print(f"counted {counted} requests for {args.n} calls", file=sys.stderr)
            return 1
    finally:
        await fixture.delete()
        await clients.close()
    return 0


def instructions_per_request(args: argparse.Namespace, variant: str, op: Operation) -> float | None:
    """Instructions per request of ``op`` with ``variant``: two child runs under callgrind with
    ``n1 = n/2`` and ``n2 = n`` calls (same set-up), ``(I2 - I1) / (n2 - n1)``."""
    import re
    import subprocess

    n2 = op.count(args.n)
    n1 = max(1, n2 // 2)
    counts = []
    for n in (n1, n2):
        command = [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            THIS_FILE,
            "--child-instructions",
            "--clients",
            variant,
            "--ops",
            op.name,
            "-n",
            str(n),
            "--prepare-n",
            str(n2),
            "--batch-rows",
            str(args.batch_rows),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or not found:
            log.error("%s %s: valgrind run failed: %s", variant, op.name, done.stderr[-2000:])
            return None
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / (n2 - n1)


async def amain(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    if task is not None and hasattr(signal, "SIGTERM"):  # a kill still deletes the queues and tables
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    if args.child_instructions:
        return await child_instructions(args)
    variants = [v.strip() for v in args.clients.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown --clients {unknown}; choose from {sorted(VARIANTS)}")
    sides = [Side(v) for v in variants]
    wanted = set(args.ops.split(",")) if args.ops else None
    summary: dict[str, Any] = {}
    failures = 0
    pipelines: dict[str, Any] = {}
    try:
        for side in sides:
            side.clients = make_clients(side.variant, side.counter)
            side.fixture = Fixture(side.clients)
            await side.fixture.create()
            pipelines[side.variant] = {
                "fast_paths_off_reason": getattr(side.clients, "fast_paths_off_reason", None),
                "queue": pipeline_of(side.fixture.queue),
                "table": pipeline_of(side.fixture.table),
                "blob": pipeline_of(side.fixture.blob),
            }
        cat = Categorizer()  # now that every SDK module is imported
        names = [op.name for op in sides[0].fixture.operations(args.batch_rows)]
        for name in names:
            if wanted is not None and name not in wanted:
                continue
            ops = {side.variant: _op(side, name, args.batch_rows) for side in sides}
            n = ops[variants[0]].count(args.n)
            log.info(
                "%s: warm-up, %d x %d unprofiled per variant (%s)", name, args.repeat, n, ", ".join(variants)
            )
            results: dict[str, Any] = {}
            try:
                for side in sides:
                    await run_pass(
                        ops[side.variant], min(n, 20), side.counter
                    )  # warm-up: connections, caches
                    side.passes[name] = []
                for _ in range(args.repeat):  # A/B/A/B: the variants alternate within one run
                    for side in sides:
                        side.passes[name].append(await run_pass(ops[side.variant], n, side.counter))
                for side in sides:
                    op = ops[side.variant]
                    seconds = await profile_pass(op, n, args.profiler, cat) if args.profiler != "none" else {}
                    instructions = (
                        instructions_per_request(args, side.variant, op) if args.instructions else None
                    )
                    results[side.variant] = _result(op, n, side.passes[name], seconds, args, instructions)
            except Exception as error:
                log.exception("%s failed", name)
                failures += 1
                print(
                    json.dumps({"operation": name, "ok": False, "error": f"{type(error).__name__}: {error}"})
                )
                continue
            for side in sides:  # leave no messages behind for the next operation
                await side.fixture.drain()
            for variant, result in results.items():
                result["variant"] = variant
                failures += not result["ok"]
                print(json.dumps(result), flush=True)
                log.info(
                    "%s [%s]: %.3f ms CPU per request%s (wall %.2f ms)",
                    name,
                    variant,
                    result["cpu_ms_per_request"],
                    ""
                    if result["instructions_per_request"] is None
                    else f", {result['instructions_per_request'] / 1e6:.3f} M instructions",
                    result["wall_ms_per_request"],
                )
            summary[name] = {
                "hot_path": ops[variants[0]].hot,
                "variants": {
                    v: {
                        "cpu_ms_per_request": r["cpu_ms_per_request"],
                        "instructions_per_request": r["instructions_per_request"],
                        "categories": r["categories"],
                    }
                    for v, r in results.items()
                },
            }
            if len(variants) > 1:
                base, last = results[variants[0]], results[variants[-1]]
                summary[name]["cpu_ratio_last_to_first"] = round(
                    last["cpu_ms_per_request"] / base["cpu_ms_per_request"], 3
                )
                if base["instructions_per_request"] and last["instructions_per_request"]:
                    summary[name]["instructions_ratio_last_to_first"] = round(
                        last["instructions_per_request"] / base["instructions_per_request"], 3
                    )
    finally:
        for side in sides:
            if side.fixture is not None:
                await side.fixture.delete()
            if side.clients is not None:
                await side.clients.close()
    machine = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    last_variant = variants[-1]
    hot = [v["variants"][last_variant]["cpu_ms_per_request"] for v in summary.values() if v["hot_path"]]
    print(
        json.dumps(
            {
                "summary": True,
                "machine": machine,
                "variants": {v: VARIANTS[v] for v in variants},
                "pipelines": pipelines,
                "max_hot_path_cpu_ms_per_request": max(hot) if hot else None,
                "target_ms": 0.5,
                "operations": {
                    k: {
                        **{kk: vv for kk, vv in v.items() if kk != "variants"},
                        **{
                            variant: {kk: vv for kk, vv in entry.items() if kk != "categories"}
                            for variant, entry in v["variants"].items()
                        },
                    }
                    for k, v in summary.items()
                },
            }
        ),
        flush=True,
    )
    if args.markdown:
        print_markdown(summary, variants)
    return 1 if failures else 0


def _op(side: Side, name: str, batch_rows: int) -> Operation:
    return next(o for o in side.fixture.operations(batch_rows) if o.name == name)


def _result(
    op: Operation,
    n: int,
    passes: list[tuple[float, float, float, int]],
    seconds: dict[str, float],
    args: argparse.Namespace,
    instructions: float | None,
) -> dict[str, Any]:
    cpu = statistics.median(p[0] for p in passes) * 1000 / n
    main = statistics.median(p[1] for p in passes) * 1000 / n
    wall = statistics.median(p[2] for p in passes) * 1000 / n
    counted = [p[3] for p in passes]
    return {
        "operation": op.name,
        "ok": all(c == n for c in counted),
        "hot_path": op.hot,
        "note": op.note,
        "n": n,
        "repeat": len(passes),
        "cpu_ms_per_request": round(cpu, 4),
        "cpu_ms_per_request_all_passes": [round(p[0] * 1000 / n, 4) for p in passes],
        "main_thread_cpu_ms_per_request": round(main, 4),
        "wall_ms_per_request": round(wall, 3),
        "instructions_per_request": None if instructions is None else round(instructions),
        "requests_counted_per_pass": counted,
        "profiler": args.profiler,
        "categories": summarize_categories(seconds, main, cpu - main) if seconds else None,
    }


# Category columns of the Markdown table, in order; everything else is summed into "rest".
_COLUMNS = (
    ("policies", lambda k: k.startswith(POLICY)),
    ("plumbing", lambda k: k == PLUMBING),
    ("signing", lambda k: k == SIGNING),
    ("SDK+models", lambda k: k == SDK),
    ("XML/JSON", lambda k: k in (XML, JSON)),
    ("core req/resp", lambda k: k == CORE_HTTP),
    ("tracing", lambda k: k == TRACING),
    ("adapter", lambda k: k == ADAPTER),
    ("aiohttp", lambda k: k == AIOHTTP),
    ("loop", lambda k: k == LOOP),
    ("threads", lambda k: k in (THREADS, OTHER_THREADS)),
    ("ours", lambda k: k == OURS),
)


def print_markdown(summary: dict[str, Any], variants: list[str]) -> None:
    header = ["operation", "variant", "CPU ms/req", "M instr/req", *[c for c, _ in _COLUMNS], "rest"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    policy_totals: dict[str, Counter[str]] = {v: Counter() for v in variants}
    for name, entry in summary.items():
        for variant, data in entry["variants"].items():
            cats = {k: v for k, v in (data.get("categories") or {}).items() if not k.startswith("(")}
            instructions = data.get("instructions_per_request")
            cells = [
                name + ("" if entry["hot_path"] else " *"),
                variant,
                f"{data['cpu_ms_per_request']:.3f}",
                "" if instructions is None else f"{instructions / 1e6:.2f}",
            ]
            used: set[str] = set()
            for _label, match in _COLUMNS:
                keys = [k for k in cats if match(k)]
                used.update(keys)
                cells.append(f"{sum(cats[k]['ms_per_request'] for k in keys):.3f}" if cats else "")
            rest = sum(v["ms_per_request"] for k, v in cats.items() if k not in used and k != HARNESS)
            cells.append(f"{rest:.3f}" if cats else "")
            lines.append("| " + " | ".join(cells) + " |")
            for k, v in cats.items():
                if k.startswith(POLICY):
                    policy_totals[variant][k[len(POLICY) :]] += v["ms_per_request"]
    lines.append("")
    for variant, totals in policy_totals.items():
        if totals:
            lines.append(
                f"Policies by cost [{variant}] (ms per request, summed over operations): "
                + ", ".join(f"{k} {v:.3f}" for k, v in totals.most_common())
            )
    print("\n".join(lines), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="requests per pass and operation (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="unprofiled passes per operation (median)")
    parser.add_argument("--ops", default="", help="comma-separated operation names (default: all)")
    parser.add_argument("--batch-rows", type=int, default=5, help="rows per table.batch transaction")
    parser.add_argument("--profiler", choices=("cprofile", "sample", "none"), default="cprofile")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table on stderr")
    parser.add_argument(
        "--clients",
        default="fast",
        help="comma-separated variants measured alternately in one run: "
        + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()),
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per request under valgrind (callgrind), repeatable under load",
    )
    parser.add_argument("--child-instructions", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare-n", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(args.log_level.upper())
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
