"""The demo's history table (the rest of the demo is exercised by `make demo`)."""

from __future__ import annotations

from durable_azure.cli.demo import history_table

EVENTS = [
    {
        "EventType": "ExecutionStarted",
        "Timestamp": "2024-05-01T10:00:00.000000Z",
        "FunctionName": "hello",
        "Input": None,
    },
    {
        "EventType": "TaskCompleted",
        "Timestamp": "2024-05-01T10:00:00.250000Z",
        "FunctionName": "say_hello",
        "ScheduledTime": "2024-05-01T10:00:00.200000Z",
        "Input": "Tokyo",
        "Result": "Hello Tokyo!",
    },
    {
        "EventType": "TimerFired",
        "Timestamp": "2024-05-01T10:00:01.500000Z",
        "FireAt": "2024-05-01T10:00:01.400000Z",
    },
    {
        "EventType": "ExecutionCompleted",
        "Timestamp": "2024-05-01T10:00:01.600000Z",
        "OrchestrationStatus": "Completed",
        "Result": ["Hello Tokyo!"],
    },
]


def test_history_table_is_aligned_and_readable() -> None:
    lines = history_table(EVENTS).splitlines()
    assert lines[0].split() == ["#", "+time", "event", "name", "detail"]
    assert len(lines) == 2 + len(EVENTS)
    assert lines[3].split()[1:3] == ["250", "ms"]
    assert '"Tokyo" → "Hello Tokyo!"  (50 ms)' in lines[3]
    assert "fire at 2024-05-01T10:00:01.400000Z" in lines[4]
    assert lines[5].endswith('Completed: ["Hello Tokyo!"]')
    event_column = lines[0].index("event")
    assert all(line[event_column:].split()[0] for line in lines[2:])  # every row has its event in one column
    assert history_table([]).splitlines()[0].split()[0] == "#"
