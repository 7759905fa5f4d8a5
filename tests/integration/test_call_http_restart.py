"""``call_http`` polling a 202 survives a worker restart mid-poll: the new worker replays the
recorded requests, responses and polling timers exactly (no non-determinism), sends nothing twice,
and carries on polling until the job is done."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

import durable_azure as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def PollJob(context: df.DurableOrchestrationContext):
    response = yield context.call_http("POST", context.get_input(), content={"job": 1})
    return {"status": response["statusCode"], "content": json.loads(response["content"])}


class Job:
    """POST /jobs answers 202 + a relative Location; its status answers 202 until ``done`` is set."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.seen: list[str] = []
        job = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                job.seen.append(f"{self.command} {self.path}")
                if self.path == "/jobs/status" and job.done.is_set():
                    status, body, headers = 200, {"polls": len(job.seen) - 1}, {}
                else:
                    status, body, headers = 202, {}, {"Location": "/jobs/status", "Retry-After": "1"}
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jobs"


@pytest.fixture
def job() -> Iterator[Job]:
    running = Job()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


async def test_polling_continues_identically_after_a_worker_restart(
    azurite: str, hub_name: str, job: Job
) -> None:
    async with ws.task_hub(azurite, hub_name, app=app) as hub:
        instance_id = await hub.client.start_new("PollJob", None, job.url)

        async def polled_twice() -> bool:
            return job.seen.count("GET /jobs/status") >= 2

        await ws.wait_until(polled_twice, timeout=30, what="two polls")
        await hub.stop_worker()
        polls_before = job.seen.count("GET /jobs/status")
        await hub.start_worker(app)

        async def polled_again() -> bool:
            return job.seen.count("GET /jobs/status") > polls_before

        await ws.wait_until(polled_again, timeout=30, what="a poll by the new worker")
        job.done.set()
        finished = await ws.completed(hub.client, instance_id, timeout=30)
        assert finished.output["status"] == 200
        assert job.seen.count("POST /jobs") == 1  # replays never send a recorded request again
        history = await hub.client.get_status(instance_id, show_history=True, show_history_output=True)
        events = [e["EventType"] for e in history.history or []]
        polls = job.seen.count("GET /jobs/status")
        assert events.count("TaskCompleted") == 1 + polls  # every request is in history once
        assert events.count("TimerFired") == polls
