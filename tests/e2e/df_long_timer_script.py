"""Run azure-functions-durable's own orchestrator code over one orchestration-trigger context JSON
(stdin) and print the JSON it returns (actions, output, isDone). Runs in the DF venv
(tests/e2e/df_venv.py), never with durable-azure imported.

The orchestrator is the same as ``test_df_long_timers.wait_days``: a timer ``days`` after the start,
then one activity.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import azure.durable_functions as df


def wait_days(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    days = context.get_input()
    deadline = context.current_utc_datetime + timedelta(days=days)
    yield context.create_timer(deadline)
    greeting = yield context.call_activity("Hello", "world")
    return {"greeting": greeting, "late_enough": context.current_utc_datetime >= deadline}


if __name__ == "__main__":
    print(df.Orchestrator.create(wait_days)(sys.stdin.read()))
