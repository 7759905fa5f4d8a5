"""Runs one workload on one peer engine; started by bench/peers.py inside ``bench/.venv-peers``.

    python _peers_runner.py --engine dbos|durabletask|temporal-file|temporal-memory --workload chain|fanout|hello5 --size N

Prints one JSON line: the workload, the engine, its durability level, wall seconds and the rate in
the unit storage_bench.py uses (steps/s, activities/s, orchestrations/s). Workloads match
bench/storage_bench.py: ``chain`` is one orchestration of N sequential echo activities, ``fanout``
one fan-out/fan-in of N echo activities, ``hello5`` N concurrent orchestrations of five sequential
activities. Never imports durable_azure (this venv does not have it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CITIES = ["Tokyo", "Seattle", "London", "Cairo", "Lima"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ durabletask


def run_durabletask(workload: str, size: int) -> dict[str, Any]:
    from durabletask import client, task, worker
    from durabletask.testing import create_test_backend

    def echo(ctx: task.ActivityContext, value: Any) -> Any:
        return value

    def hello(ctx: task.ActivityContext, city: str) -> str:
        return f"Hello {city}!"

    def chain(ctx: task.OrchestrationContext, n: int) -> Any:
        for i in range(n):
            yield ctx.call_activity(echo, input=i)
        return n

    def fanout(ctx: task.OrchestrationContext, n: int) -> Any:
        results = yield task.when_all([ctx.call_activity(echo, input=i) for i in range(n)])
        return len(results)

    def hello5(ctx: task.OrchestrationContext, _: Any) -> Any:
        out = []
        for city in CITIES:
            out.append((yield ctx.call_activity(hello, input=city)))
        return out

    port = free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    w = worker.TaskHubGrpcWorker(host_address=address)
    for fn in (chain, fanout, hello5):
        w.add_orchestrator(fn)
    w.add_activity(echo)
    w.add_activity(hello)
    w.start()
    c = client.TaskHubGrpcClient(host_address=address)
    try:
        t0 = time.perf_counter()
        if workload == "hello5":
            ids = [c.schedule_new_orchestration(hello5) for _ in range(size)]
        else:
            ids = [c.schedule_new_orchestration(chain if workload == "chain" else fanout, input=size)]
        for instance_id in ids:
            state = c.wait_for_orchestration_completion(instance_id, timeout=900)
            if state is None or state.runtime_status != client.OrchestrationStatus.COMPLETED:
                raise RuntimeError(f"{instance_id} did not complete: {state}")
        wall = time.perf_counter() - t0
    finally:
        w.stop()
        backend.stop()
    return {"wall_s": wall, "durability": "none: history in the backend process's memory (gRPC sidecar)"}


# ------------------------------------------------------------------------------ DBOS


def run_dbos(workload: str, size: int) -> dict[str, Any]:
    from dbos import DBOS, DBOSConfig

    db = Path(tempfile.mkdtemp(prefix="peers-dbos-")) / "dbos.sqlite"
    config: DBOSConfig = {"name": "peers-bench", "system_database_url": f"sqlite:///{db}"}
    DBOS(config=config)
    queues: list[Any] = []

    @DBOS.step()
    def echo(value: Any) -> Any:
        return value

    @DBOS.step()
    def hello(city: str) -> str:
        return f"Hello {city}!"

    @DBOS.workflow()
    def echo_workflow(value: Any) -> Any:
        return echo(value)

    @DBOS.workflow()
    def chain(n: int) -> int:
        for i in range(n):
            echo(i)
        return n

    @DBOS.workflow()
    def fanout(n: int) -> int:
        handles = [queues[0].enqueue(echo_workflow, i) for i in range(n)]
        return len([h.get_result() for h in handles])

    @DBOS.workflow()
    def hello5() -> list[str]:
        return [hello(city) for city in CITIES]

    DBOS.launch()
    # A queue runs the fan-out's workflows in parallel; polled every 0.1 s (the default is 1 s).
    queues.append(DBOS.register_queue("peers_fanout", polling_interval_sec=0.1))
    try:
        t0 = time.perf_counter()
        if workload == "hello5":
            handles = [DBOS.start_workflow(hello5) for _ in range(size)]
        else:
            handles = [DBOS.start_workflow(chain if workload == "chain" else fanout, size)]
        for handle in handles:
            handle.get_result()
        wall = time.perf_counter() - t0
    finally:
        DBOS.destroy()
    return {
        "wall_s": wall,
        "durability": "SQLite file (each step and workflow status committed before it is acknowledged)",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--engine", choices=("dbos", "durabletask", "temporal-file", "temporal-memory"), required=True
    )
    parser.add_argument("--workload", choices=("chain", "fanout", "hello5"), required=True)
    parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    cpu0 = time.process_time()
    if args.engine.startswith("temporal-"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _peers_temporal import run_temporal

        result = run_temporal(args.workload, args.size, on_disk=args.engine == "temporal-file")
    else:
        run = run_dbos if args.engine == "dbos" else run_durabletask
        result = run(args.workload, args.size)
    wall = result["wall_s"]
    units = {"chain": args.size, "fanout": args.size, "hello5": args.size}[args.workload]
    print(
        json.dumps(
            {
                "engine": args.engine,
                "workload": f"{args.workload}-{args.size}",
                "durability": result["durability"],
                "wall_s": round(wall, 3),
                "rate": round(units / wall, 2),
                "process_cpu_s": round(time.process_time() - cpu0, 3),
                "pid": os.getpid(),
            }
        ),
        flush=True,
    )
    sys.stdout.flush()
    os._exit(0)  # grpc / DBOS background threads must not keep the runner alive


if __name__ == "__main__":
    main()
