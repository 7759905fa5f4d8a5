"""Newest-first paging over rows whose times differ by less than a microsecond.

Azure Tables keeps ``Edm.DateTime`` in 100 ns ticks (.NET writes all seven digits); the SDK reads
them back truncated to microseconds, and Azurite compares only milliseconds, so this case cannot be
shown against Azurite. The table here answers the dashboard's time-window filters at tick precision,
as Azure does, and nothing else about storage is faked: the rows, the filters and the paging are the
dashboard's own.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from durable_azure.dashboard.queries import InstanceFilter, list_instances

_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)
_CLAUSE = re.compile(r"CreatedTime (ge|le|lt) datetime'([^']+)'")


def _ticks(text: str) -> int:
    """100 ns ticks of an ISO time with up to seven fraction digits."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(seconds=1) * 10_000_000 + int((fraction or "0").ljust(7, "0")[:7])


class TickTable:
    """Instances rows whose ``CreatedTime`` filters compare 100 ns ticks, as Azure Tables does."""

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        self.rows = rows  # (instance id, CreatedTime with seven fraction digits)

    async def query_entities(self, query: str, **_: Any) -> AsyncIterator[dict[str, Any]]:
        tests = {"ge": int.__ge__, "le": int.__le__, "lt": int.__lt__}
        clauses = [(tests[op], _ticks(value)) for op, value in _CLAUSE.findall(query)]
        for instance_id, created in sorted(self.rows):
            if all(test(_ticks(created), bound) for test, bound in clauses):
                truncated = datetime.fromisoformat(created.rstrip("Z")[:26]).replace(tzinfo=timezone.utc)
                yield {
                    "PartitionKey": instance_id,
                    "Name": "Hello",
                    "RuntimeStatus": "Completed",
                    "CreatedTime": truncated,
                }


def _storage(table: TickTable) -> Any:
    tables = SimpleNamespace(get_table_client=lambda name: table)
    return SimpleNamespace(
        clients=SimpleNamespace(tables=tables), instances=SimpleNamespace(table_name="HubInstances")
    )


async def test_rows_within_one_microsecond_of_the_cursor_are_not_skipped() -> None:
    # Three instances created within the same microsecond, at different ticks, and one a second earlier.
    table = TickTable(
        [
            ("a", "2026-12-01T10:00:00.1234561Z"),
            ("b", "2026-12-01T10:00:00.1234565Z"),
            ("c", "2026-12-01T10:00:00.1234569Z"),
            ("d", "2026-12-01T09:59:59.0000000Z"),
        ]
    )
    filters = InstanceFilter(sort="created", page_size=1)
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        page = await list_instances(_storage(table), filters, token)
        seen.extend(row.instance_id for row in page.rows)
        token = page.next_token
        if token is None:
            break
    assert seen == ["a", "b", "c", "d"]
