"""The three storage workloads on durable-azure and on two peers, in one invocation, with ratios.

    .venv/bin/python bench/peers.py [--quick] [--engines dbos,durabletask] [--sizes chain=100,fanout=1000,hello5=200]

For each workload (``chain`` = one orchestration of N sequential echo activities, ``fanout`` = one
fan-out/fan-in of N activities, ``hello5`` = N concurrent five-activity orchestrations) it runs, one
after the other on the same machine:

* **durable-azure**: ``bench/storage_bench.py`` (worker and client in one process, against the
  Azurite on 127.0.0.1: history, queues and leases in Azure Storage's layout, persisted by Azurite);
* **DBOS 3.4.0 on SQLite**: every step and workflow status committed to a SQLite file;
* **durabletask 1.12.0, in-memory backend**: the Durable Task gRPC protocol against
  ``durabletask.testing``'s in-memory backend: no durability at all.

The peers are installed into ``bench/.venv-peers`` (created on demand by this script, never
runtime or dev dependencies) and run by ``bench/_peers_runner.py`` in a subprocess. Prints one JSON
line per engine and workload, then a summary line with ``ratio`` = durable-azure's rate / the
peer's rate (>1: we are faster) and each engine's durability level; ``--markdown`` also prints a
table on stderr. Rates on a shared machine vary by tens of percent between runs: compare ratios
from one run only. Never a CI timing assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEER_REQUIREMENTS = ["dbos==3.4.0", "durabletask==1.12.0"]
SIZES = {"chain": 100, "fanout": 1000, "hello5": 200}
QUICK_SIZES = {"chain": 20, "fanout": 100, "hello5": 20}
UNITS = {"chain": "steps/s", "fanout": "activities/s", "hello5": "orchestrations/s"}
OUR_DURABILITY = (
    "Azure Storage layout on Azurite (on disk): each step's history committed in one table "
    "transaction before its messages are deleted"
)
STORAGE_BENCH_ARGS = {"chain": "--steps", "fanout": "--activities", "hello5": "--orchestrations"}
OUR_RATE_KEYS = {"chain": "steps_per_s", "fanout": "activities_per_s", "hello5": "orchestrations_per_s"}


def log(message: str) -> None:
    print(f"peers: {message}", file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_peers_venv(venv: Path = PEERS_VENV) -> Path:
    """The peers venv's python, creating it and pip-installing the peers if they are missing."""
    python = venv_python(venv)
    check = [str(python), "-c", "import dbos, durabletask.testing"]
    if python.exists() and subprocess.run(check, capture_output=True, timeout=120).returncode == 0:
        return python
    if not python.exists():
        log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    log(f"pip install {' '.join(PEER_REQUIREMENTS)} into {venv}")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
        check=True,
        timeout=900,
        stdout=subprocess.DEVNULL,
    )
    return python


def last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            return parsed
    return None


def run_ours(workload: str, size: int, timeout: float) -> dict[str, Any]:
    command = [
        sys.executable,
        str(BENCH_DIR / "storage_bench.py"),
        workload,
        STORAGE_BENCH_ARGS[workload],
        str(size),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    report = last_json_line(done.stdout)
    if done.returncode != 0 or report is None:
        return {"error": (done.stderr or done.stdout).strip()[-800:]}
    rate = report.get(OUR_RATE_KEYS[workload])
    cpu = (report.get("run") or {}).get("cpu") or {}
    return {
        "rate": rate,
        "wall_s": report.get("wall_s"),
        "requests_per_unit": next(
            (
                per["total"] if isinstance(per, dict) else per
                for key in ("requests_per_step", "requests_per_activity", "requests_per_orchestration")
                if (per := report.get(key)) is not None
            ),
            None,
        ),
        "process_cpu_ms_per_request": cpu.get("process_cpu_ms_per_request"),
        "azurite_cores": cpu.get("azurite_cores"),
        "other_processes_cores": cpu.get("other_processes_cores"),
    }


def run_peer(python: Path, engine: str, workload: str, size: int, timeout: float) -> dict[str, Any]:
    command = [
        str(python),
        str(BENCH_DIR / "_peers_runner.py"),
        "--engine",
        engine,
        "--workload",
        workload,
        "--size",
        str(size),
    ]
    env = {**os.environ, "GRPC_VERBOSITY": "ERROR"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    report = last_json_line(done.stdout)
    if done.returncode != 0 or report is None:
        return {"error": (done.stderr or done.stdout).strip()[-800:]}
    return report


def parse_sizes(text: str, quick: bool) -> dict[str, int]:
    sizes = dict(QUICK_SIZES if quick else SIZES)
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name not in sizes:
            raise SystemExit(f"unknown workload {name!r} (chain, fanout, hello5)")
        sizes[name] = int(value)
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes {QUICK_SIZES}")
    parser.add_argument("--sizes", default="", help="e.g. chain=100,fanout=1000,hello5=200")
    parser.add_argument("--engines", default="dbos,durabletask")
    parser.add_argument("--workloads", default="chain,fanout,hello5")
    parser.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    sizes = parse_sizes(args.sizes, args.quick)
    engines = [e for e in args.engines.split(",") if e]
    workloads = [w for w in args.workloads.split(",") if w]
    python = ensure_peers_venv()
    durability = {
        "durable-azure": OUR_DURABILITY,
        "dbos": "SQLite file (each step and workflow status committed before it is acknowledged)",
        "durabletask": "none: history in the in-memory backend's process memory",
    }
    results: dict[str, dict[str, Any]] = {}
    for workload in workloads:
        size = sizes[workload]
        row: dict[str, Any] = {"size": size, "unit": UNITS[workload]}
        log(f"{workload}-{size}: durable-azure")
        row["durable-azure"] = run_ours(workload, size, args.timeout)
        print(
            json.dumps({"engine": "durable-azure", "workload": f"{workload}-{size}", **row["durable-azure"]})
        )
        for engine in engines:
            log(f"{workload}-{size}: {engine}")
            row[engine] = run_peer(python, engine, workload, size, args.timeout)
            print(json.dumps({"engine": engine, "workload": f"{workload}-{size}", **row[engine]}))
        ours = row["durable-azure"].get("rate")
        row["ratio"] = {
            engine: round(ours / row[engine]["rate"], 2) if ours and row[engine].get("rate") else None
            for engine in engines
        }
        results[workload] = row
    summary = {
        "summary": True,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "durability": {k: v for k, v in durability.items() if k == "durable-azure" or k in engines},
        "results": results,
    }
    print(json.dumps(summary))
    if args.markdown:
        lines = [
            "| workload | durable-azure | "
            + " | ".join(engines)
            + " | "
            + " | ".join(f"ratio vs {e}" for e in engines)
            + " |",
            "|---|---:|" + "---:|" * (2 * len(engines)),
        ]
        for workload, row in results.items():
            cells = [str(row["durable-azure"].get("rate"))] + [str(row[e].get("rate")) for e in engines]
            cells += [str(row["ratio"][e]) for e in engines]
            lines.append(f"| {workload}-{row['size']}, {row['unit']} | " + " | ".join(cells) + " |")
        print("\n".join(lines), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
