"""Fuzz the management API of a real ``durable-azure serve`` from its OpenAPI description.

Schemathesis turns ``durable_azure/functions/openapi.json`` into Hypothesis strategies, valid and
invalid requests alike, for every operation. They are sent over HTTP to the sample app served by
``durable-azure serve`` (uvicorn, its own task hub on Azurite), under both roots of the API: the
local ``/runtime/webhooks/durabletask`` and the app's own ``/api/durabletask`` function (the route
used in Azure). The run is bounded: a fixed number of examples per root, derandomized (the same
requests on every run), no shrinking, and a per-request timeout.

Every answer must be: below 500 (a 500 only where DF documents one: a Failed instance with
``returnInternalServerErrorOnFailure=true``), a 4xx with a JSON message, free of storage host
names, and as the OpenAPI description says (status codes and bodies). Afterwards the server must
still answer and stop cleanly.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_support import WEBHOOK, Server, delete_hub, start_server, wait_until  # type: ignore[import-not-found]

import durable_azure.functions.management_api as management_api

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEC = json.loads(Path(management_api.__file__).with_name("openapi.json").read_text(encoding="utf-8"))
#: Requests per API root (two roots): about 30 s in all, server start included, on 2 cores.
EXAMPLES = 400
#: No answer may take longer (fuzzed waits are capped at 0.5 s below).
REQUEST_TIMEOUT = 15.0
#: What the fuzzed app is and has, so that requests reach real orchestrations, entities and instances.
ORCHESTRATORS = ["hello_cities", "function_chaining", "approval_workflow"]
SEEDED = {"fz-running": "approval_workflow", "fz-done": "hello_cities", "fz-failed": "hello_cities"}
#: The fuzzed server's own hub (per process: other runs may share the Azurite).
HUB = "fz" + uuid.uuid4().hex[:16]
#: Text that would give the storage account away.
LEAKS = ("devstoreaccount1", "127.0.0.1:1000", "Connect call failed", "Traceback")


def _fuzz_spec() -> dict[str, Any]:
    """The shipped description, with waits capped at 0.5 s (the server accepts up to 230 s) so that a
    valid wait on a real, waiting orchestration cannot stall the run."""
    spec = copy.deepcopy(SPEC)
    for name in ("timeout", "pollingInterval"):
        spec["components"]["parameters"][name]["schema"]["maximum"] = 0.5
    return spec


SCHEMA = schemathesis.openapi.from_dict(_fuzz_spec())
SPEC_OPERATIONS = {result.ok().label for result in SCHEMA.get_all_operations()}
#: Path parameters naming what the app really has, so requests also get past validation to storage.
KNOWN = {"functionName": ORCHESTRATORS, "instanceId": list(SEEDED), "entityName": ["Counter"]}


def _steered() -> st.SearchStrategy[Any]:
    """Valid requests on the app's own hub about its own orchestrators, instances and entity."""
    strategies = []
    for result in SCHEMA.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.path_parameters if p.name in KNOWN]
        choices: list[dict[str, str]] = [{}]
        for name in names:
            choices = [{**c, name: value} for c in choices for value in KNOWN[name]]
        for fixed in choices:
            strategies.append(
                operation.as_strategy(
                    generation_mode=GenerationMode.POSITIVE,
                    path_parameters=fixed or None,
                    query={"taskHub": HUB, "connection": "Storage"},
                )
            )
    return st.one_of(strategies)


CASES = st.one_of(
    SCHEMA.as_strategy(generation_mode=GenerationMode.POSITIVE),
    SCHEMA.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    _steered(),
)


@pytest.fixture(scope="module")
def fuzzed(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own (the fuzzer terminates, purges and restarts whatever it finds)."""
    server = start_server(tmp_path_factory.mktemp("fuzz"), hub=HUB)
    try:
        with httpx.Client(base_url=server.base_url + WEBHOOK, timeout=30) as http:
            waiting = {"requestId": "fuzz", "timeoutSeconds": 3600}
            inputs = {"fz-running": waiting, "fz-done": ["Oslo"], "fz-failed": 5}  # 5: not iterable, fails
            for instance_id, name in SEEDED.items():
                response = http.post(f"/orchestrators/{name}/{instance_id}", json=inputs[instance_id])
                assert response.status_code == 202, response.text
            for instance_id, status in (("fz-done", "Completed"), ("fz-failed", "Failed")):
                wait_until(
                    lambda i=instance_id, s=status: http.get(f"/instances/{i}").json()["runtimeStatus"] == s,
                    what=f"{instance_id} to be {status}",
                )
        yield server
    finally:
        code = server.stop()
        delete_hub(server.hub)
        assert code == 0, f"serve exited with {code} after fuzzing:\n{server.log()[-3000:]}"


def _documented_500(case: Any, response: Any) -> bool:
    """DF answers 500 for a Failed instance when asked to (``returnInternalServerErrorOnFailure``)."""
    flag = str((case.query or {}).get("returnInternalServerErrorOnFailure", "")).lower()
    try:
        body = response.json()
    except ValueError:
        return False
    return flag in ("true", "1") and isinstance(body, dict) and body.get("runtimeStatus") == "Failed"


def _check(case: Any, response: Any, elapsed: float) -> None:
    label = f"{case.method} {case.formatted_path} query={case.query!r}"
    assert elapsed < REQUEST_TIMEOUT, f"{label}: took {elapsed:.1f} s"
    text = response.text
    assert not any(leak in text for leak in LEAKS), f"{label}: {response.status_code} {text[:500]}"
    if response.status_code >= 500:
        assert response.status_code == 500 and _documented_500(case, response), (
            f"{label}: {response.status_code} {text[:500]}"
        )
        return
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: header → values
        assert content_type.startswith("application/json"), f"{label}: {text[:300]}"
        body = response.json()
        assert isinstance(body, str) or body.get("Message"), f"{label}: {text[:300]}"
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    case.validate_response(response, checks=checks)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("root", [WEBHOOK, "/api/durabletask"])
def test_fuzz_the_management_api(fuzzed: Server, root: str) -> None:
    requests = 0
    statuses: Counter[int] = Counter()
    operations: set[str] = set()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same requests on every run
        database=None,
        deadline=None,
        phases=[Phase.generate],  # no shrinking: report the first failing request as it was
        suppress_health_check=list(HealthCheck),
    )
    @given(case=CASES)
    def fuzz(case: Any) -> None:
        nonlocal requests
        started = time.monotonic()
        response = case.call(base_url=fuzzed.base_url + root, timeout=REQUEST_TIMEOUT)
        requests += 1
        statuses[response.status_code] += 1
        operations.add(case.operation.label)
        _check(case, response, time.monotonic() - started)

    fuzz()
    print(f"fuzzed {root}: {requests} requests, {len(operations)} operations, statuses {dict(statuses)}")
    assert requests >= EXAMPLES // 2
    # The run reached storage (not only the parameter checks) and every operation of the API.
    assert sum(n for code, n in statuses.items() if code < 300) >= 20, statuses
    assert len(operations) == len(SPEC_OPERATIONS), sorted(SPEC_OPERATIONS - operations)
    # Still alive and serving, with the storage it started with.
    assert fuzzed.process.poll() is None, fuzzed.log()[-3000:]
    assert httpx.get(fuzzed.base_url + "/", timeout=10).status_code == 200
    listed = httpx.get(f"{fuzzed.base_url}{WEBHOOK}/instances", params={"top": 5}, timeout=10)
    assert listed.status_code == 200, listed.text
