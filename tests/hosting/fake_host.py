"""A stand-in for one Azure Functions host instance, driving the real Python worker library.

Runs in the worker venv (``worker_venv.py``), not in the project's venv: it imports
``azure_functions_runtime`` (the Functions Python worker's library, from PyPI) and the gRPC messages
compiled from the host's ``FunctionRpc.proto``, and talks to the library exactly as the worker's
gRPC front end does: ``WorkerInitRequest`` (which imports and indexes ``function_app.py``), then
``FunctionsMetadataRequest``, ``FunctionLoadRequest`` and ``InvocationRequest`` messages.

What it stands in for, from the host: the queue trigger's listener (``QueueListener`` /
``QueueProcessor`` of the WebJobs storage extension: batches of ``batchSize``, a new batch when at
most ``newBatchThreshold`` run, poison after ``maxDequeueCount``, failures made visible again after
``visibilityTimeout``, a delete after success that ignores "gone" — all read from ``host.json``
``extensions.queues``), the timer trigger (``--timer``: only one instance of a scaled-out app gets
the ticks) and one HTTP request (``--http-url``). Invisibility while a function runs is ``--visibility``
seconds, renewed at half of it (the real host uses 10 minutes).

Stats go to ``--stats`` (JSON, rewritten every half second and at exit); the indexed functions to
``--index`` (then, with ``--index-only``, it exits).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TIMER_BODY = json.dumps({"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": False})


def load_protos(proto_dir: str) -> SimpleNamespace:
    sys.path.insert(0, proto_dir)
    import FunctionRpc_pb2 as rpc  # type: ignore[import-not-found]
    from shared import NullableTypes_pb2 as nullable  # type: ignore[import-not-found]

    names: dict[str, Any] = {}
    for module in (nullable, rpc):
        names.update({k: getattr(module, k) for k in dir(module) if not k.startswith("_")})
    return SimpleNamespace(**names)


def _seconds(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return float(value)
    h, m, s = str(value).split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


class FakeHost:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.app_dir = str(Path(args.app_dir).resolve())
        self.protos = load_protos(args.protos)
        host_json = json.loads((Path(self.app_dir) / "host.json").read_text())
        queues = host_json.get("extensions", {}).get("queues", {})
        self.batch_size = int(queues.get("batchSize", 16))
        self.new_batch_threshold = int(queues.get("newBatchThreshold", self.batch_size // 2))
        self.max_dequeue = int(queues.get("maxDequeueCount", 5))
        self.retry_visibility = _seconds(queues.get("visibilityTimeout"), 0.0)
        self.max_polling = _seconds(queues.get("maxPollingInterval"), 60.0)
        self.base64 = str(queues.get("messageEncoding", "base64")).lower() == "base64"
        self.stats: dict[str, Any] = {
            "pid": os.getpid(),
            "queue_invocations": 0,
            "queue_failures": 0,
            "poisoned": 0,
            "timer_invocations": 0,
            "errors": [],
        }
        self.functions: dict[str, Any] = {}
        self.bindings: dict[str, list[dict[str, Any]]] = {}

    # ---- the worker library ---------------------------------------------------------------
    def _request(self, **message: Any) -> SimpleNamespace:
        return SimpleNamespace(
            request=self.protos.StreamingMessage(**message),
            properties={"host": "127.0.0.1", "protos": self.protos},
        )

    def _check(self, response: Any, what: str) -> None:
        if response.result.status != self.protos.StatusResult.Success:
            raise RuntimeError(f"{what} failed: {response.result.exception.message}")

    async def load(self) -> None:
        from azure_functions_runtime import handle_event

        self.handle_event = handle_event
        init = self.protos.WorkerInitRequest(host_version="4.0.0", function_app_directory=self.app_dir)
        self._check(await handle_event.worker_init_request(self._request(worker_init_request=init)), "init")
        metadata_request = self.protos.FunctionsMetadataRequest(function_app_directory=self.app_dir)
        metadata = await handle_event.functions_metadata_request(
            self._request(functions_metadata_request=metadata_request)
        )
        self._check(metadata, "metadata")
        for function in metadata.function_metadata_results:
            load = self.protos.FunctionLoadRequest(function_id=function.function_id, metadata=function)
            self._check(
                await handle_event.function_load_request(self._request(function_load_request=load)), "load"
            )
            self.functions[function.name] = function
            self.bindings[function.name] = [json.loads(raw) for raw in function.raw_bindings]
        if self.args.index:
            Path(self.args.index).write_text(json.dumps(self.bindings, indent=1))

    async def invoke(self, name: str, inputs: dict[str, Any], metadata: dict[str, Any] | None = None) -> Any:
        function = self.functions[name]
        request = self.protos.InvocationRequest(
            invocation_id=str(uuid.uuid4()),
            function_id=function.function_id,
            input_data=[self.protos.ParameterBinding(name=k, data=v) for k, v in inputs.items()],
            trigger_metadata=metadata or {},
        )
        return await self.handle_event.invocation_request(self._request(invocation_request=request))

    def _trigger(self, kind: str) -> tuple[str, dict[str, Any]] | None:
        for name, bindings in self.bindings.items():
            for binding in bindings:
                if binding.get("type") == kind and binding.get("direction") == "IN":
                    return name, binding
        return None

    # ---- the queue trigger's listener -----------------------------------------------------------
    async def listen(self) -> None:
        from azure.storage.queue.aio import QueueClient

        found = self._trigger("queueTrigger")
        if found is None:
            return
        name, binding = found
        connection = os.environ[binding.get("connection") or "AzureWebJobsStorage"]
        queue = QueueClient.from_connection_string(connection, binding["queueName"])
        poison = QueueClient.from_connection_string(connection, binding["queueName"] + "-poison")
        running: set[asyncio.Task[None]] = set()
        delay = 0.1
        async with queue, poison:
            while True:
                if len(running) > self.new_batch_threshold:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    batch = [
                        m
                        async for m in queue.receive_messages(
                            messages_per_page=self.batch_size,
                            max_messages=self.batch_size,
                            visibility_timeout=int(self.args.visibility),
                        )
                    ]
                except Exception as error:  # the queue may not exist yet
                    batch = []
                    self._error(f"receive: {error}")
                if not batch:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_polling)
                    continue
                delay = 0.1
                for message in batch:
                    task = asyncio.create_task(self.process(queue, poison, name, binding["name"], message))
                    running.add(task)
                    task.add_done_callback(running.discard)

    async def process(self, queue: Any, poison: Any, name: str, arg: str, message: Any) -> None:
        if message.dequeue_count > self.max_dequeue:  # QueueProcessor.BeginProcessingMessageAsync
            await self._poison(queue, poison, message)
            return
        holder = [message]
        keeper = asyncio.create_task(self._keep_hidden(queue, holder))
        try:
            body = message.content
            text = base64.b64decode(body).decode() if self.base64 else body
            metadata = {
                "Id": self.protos.TypedData(string=message.id),
                "PopReceipt": self.protos.TypedData(string=message.pop_receipt),
                "DequeueCount": self.protos.TypedData(json=str(message.dequeue_count)),
                "InsertionTime": self.protos.TypedData(json=json.dumps(_iso(message.inserted_on))),
                "ExpirationTime": self.protos.TypedData(json=json.dumps(_iso(message.expires_on))),
                "NextVisibleTime": self.protos.TypedData(json=json.dumps(_iso(message.next_visible_on))),
            }
            response = await self.invoke(name, {arg: self.protos.TypedData(string=text)}, metadata)
        finally:
            keeper.cancel()
        message = holder[0]
        self.stats["queue_invocations"] += 1
        if response.result.status == self.protos.StatusResult.Success:
            await self._ignore_gone(queue.delete_message(message.id, message.pop_receipt))
            return
        self.stats["queue_failures"] += 1
        self._error(f"queue function failed: {response.result.exception.message}")
        if message.dequeue_count >= self.max_dequeue:
            await self._poison(queue, poison, message)
        else:
            await self._ignore_gone(
                queue.update_message(
                    message.id, message.pop_receipt, visibility_timeout=int(self.retry_visibility)
                )
            )

    async def _keep_hidden(self, queue: Any, holder: list[Any]) -> None:
        while True:
            await asyncio.sleep(self.args.visibility / 2)
            message = holder[0]
            try:
                updated = await queue.update_message(
                    message.id, message.pop_receipt, visibility_timeout=int(self.args.visibility)
                )
            except Exception:  # gone (the function deleted it) or taken over: stop renewing
                return
            message.pop_receipt = updated.pop_receipt

    async def _poison(self, queue: Any, poison: Any, message: Any) -> None:
        try:
            await poison.create_queue()
        except Exception:
            pass
        await poison.send_message(message.content)
        await self._ignore_gone(queue.delete_message(message.id, message.pop_receipt))
        self.stats["poisoned"] += 1

    async def _ignore_gone(self, call: Any) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            await call
        except HttpResponseError as error:  # 404 gone, 400 pop receipt mismatch: ignored by the host
            if error.status_code not in (400, 404):
                raise

    # ---- the timer trigger and one HTTP request ---------------------------------------------------
    async def ticks(self) -> None:
        found = self._trigger("timerTrigger")
        if found is None:
            return
        name, binding = found
        while True:
            response = await self.invoke(name, {binding["name"]: self.protos.TypedData(json=TIMER_BODY)})
            self.stats["timer_invocations"] += 1
            if response.result.status != self.protos.StatusResult.Success:
                self._error(f"timer function failed: {response.result.exception.message}")
            await asyncio.sleep(self.args.timer)

    async def http(self, url: str, function: str, route_params: dict[str, str], body: bytes) -> None:
        binding = next(b for b in self.bindings[function] if b.get("type") == "httpTrigger")
        request = self.protos.RpcHttp(
            method="POST",
            url=url,
            headers={"content-type": "application/json"},
            body=self.protos.TypedData(bytes=body),
            params=route_params,
            query={k: v for k, v in (p.split("=", 1) for p in url.partition("?")[2].split("&") if p)},
        )
        response = await self.invoke(function, {binding["name"]: self.protos.TypedData(http=request)})
        http = response.return_value.http
        self.stats["http"] = {
            "status": int(http.status_code or 0),
            "body": json.loads(http.body.bytes or http.body.string or "null"),
        }

    # ---- bookkeeping ------------------------------------------------------------------------------
    def _error(self, text: str) -> None:
        errors = self.stats["errors"]
        if len(errors) < 50:
            errors.append(text[:500])

    def write_stats(self) -> None:
        if self.args.stats:
            path = Path(self.args.stats)
            path.with_suffix(".tmp").write_text(json.dumps(self.stats))
            path.with_suffix(".tmp").replace(path)

    def engine_stats(self) -> None:
        """What the app's engine in this process did (read from it: this is the worker process)."""
        try:
            from durable_azure.functions import runtime

            hosted = runtime.active()
        except Exception:
            return
        if hosted is not None and hosted.worker is not None:
            activities = hosted.worker.activities
            self.stats["engine"] = {
                "delivered": activities.delivered,
                "local_runs": activities.local_runs,
                "executed": activities.executed,
                "owned": sorted(hosted.worker.partitions.owned),
            }

    async def report(self) -> None:
        while True:
            self.engine_stats()
            self.write_stats()
            await asyncio.sleep(0.5)


def _iso(value: datetime | None) -> str:
    return (value or datetime.now(timezone.utc)).isoformat()


async def main(args: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    host = FakeHost(args)
    await host.load()
    if args.index_only:
        return
    tasks = [asyncio.create_task(host.report()), asyncio.create_task(host.listen())]
    if args.timer:
        tasks.append(asyncio.create_task(host.ticks()))
    if args.http_url:
        function, route_name, route_value = args.http_function.split(":")
        await host.http(args.http_url, function, {route_name: route_value}, args.http_body.encode())
    print(f"fake host {os.getpid()} ready", flush=True)
    try:
        if args.exit_after:
            await asyncio.sleep(args.exit_after)  # then return: the interpreter exits normally
        else:
            await asyncio.gather(*tasks)
    finally:
        host.write_stats()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("app_dir")
    parser.add_argument("--protos", required=True)
    parser.add_argument("--index")
    parser.add_argument("--index-only", action="store_true")
    parser.add_argument("--stats")
    parser.add_argument("--timer", type=float, default=0.0, help="seconds between timer ticks (0: none)")
    parser.add_argument("--visibility", type=float, default=30.0)
    parser.add_argument("--exit-after", type=float, default=0.0, help="return after this many seconds")
    parser.add_argument("--http-url")
    parser.add_argument("--http-function", default="http_start:functionName:hello_cities")
    parser.add_argument("--http-body", default="")
    arguments = parser.parse_args()
    for option in ("app_dir", "protos", "index", "stats"):
        if getattr(arguments, option):
            setattr(arguments, option, str(Path(getattr(arguments, option)).resolve()))
    os.chdir(arguments.app_dir)  # the host starts the worker in the app folder, which is on sys.path
    sys.path.insert(0, str(Path(arguments.app_dir).resolve()))
    asyncio.run(main(arguments))
