"""Run by azure-functions-durable 1.7.0's python (tests/e2e/df_venv.py): drives our management API
with DF Python's own DurableOrchestrationClient, given our URLs as its binding (it calls everything
through ``rpcBaseUrl``). Prints one JSON object: what the client got back."""

import asyncio
import json
import sys

import azure.durable_functions as df

WEBHOOK = "/runtime/webhooks/durabletask"


def binding(base: str, hub: str) -> str:
    root = f"{base}{WEBHOOK}"
    query = f"taskHub={hub}&connection=Storage"
    instance = f"{root}/instances/INSTANCEID"
    return json.dumps(
        {
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{root}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
                "createAndWaitOnNewInstancePostUri": f"{root}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}",
            },
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{instance}?{query}",
                "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
                "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
                "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
                "purgeHistoryDeleteUri": f"{instance}?{query}",
                "restartPostUri": f"{instance}/restart?{query}",
                "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
                "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
            },
            "baseUrl": root,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": f"{root}/",
            "httpBaseUrl": "",
        }
    )


async def finished(client, instance_id):
    for _ in range(600):
        status = await client.get_status(instance_id)
        if status.runtime_status and status.runtime_status.value in ("Completed", "Failed", "Terminated"):
            return status
        await asyncio.sleep(0.1)
    raise TimeoutError(instance_id)


async def main(base: str, hub: str) -> None:
    client = df.DurableOrchestrationClient(binding(base, hub))
    inputs = {"dict": {"a": 1, "b": [1, 2]}, "list": [1, "x", None], "str": "hello", "int": 5, "float": 2.5}
    started = {key: await client.start_new("echo_input", client_input=value) for key, value in inputs.items()}
    versioned = await client.start_new("echo_input", client_input=1, version="2.5")
    waiting = await client.start_new("wait_event")
    for _ in range(600):
        status = await client.get_status(waiting)
        if status.runtime_status and status.runtime_status.value == "Running":
            break
        await asyncio.sleep(0.1)
    await client.raise_event(waiting, "Go", {"k": "v", "n": [1, 2]})
    waiting_text = await client.start_new("wait_event")
    for _ in range(600):
        status = await client.get_status(waiting_text)
        if status.runtime_status and status.runtime_status.value == "Running":
            break
        await asyncio.sleep(0.1)
    await client.raise_event(waiting_text, "Go", "hello")
    entity = df.EntityId("Recorder", "r1")
    await client.signal_entity(entity, "set", 42)
    outputs = {key: (await finished(client, iid)).output for key, iid in started.items()}
    result = {
        "outputs": outputs,
        "versioned": (await finished(client, versioned)).output,
        "event": (await finished(client, waiting)).output,
        "text_event": (await finished(client, waiting_text)).output,
    }
    for _ in range(600):
        state = await client.read_entity_state(entity)
        if state.entity_exists:
            result["entity"] = state.entity_state
            break
        await asyncio.sleep(0.1)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
