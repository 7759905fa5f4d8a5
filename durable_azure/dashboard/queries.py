"""What the dashboard reads from a task hub: filtered, paged instance and entity lists.

Nothing here loads the whole ``{Hub}Instances`` table into memory. Listing in instance-id order (the
table's own order) is one filtered query per page, resumed with the table's continuation token.
Listing newest first by created or last-updated time — which Azure Tables cannot sort — walks back
through time windows: each window is one filtered query for the rows whose time falls inside it
(``CreatedTime ge lo and CreatedTime le hi``); windows widen fourfold while they come back sparse
and narrow when one holds more than :data:`WINDOW_ROW_CAP` rows, and only the rows of the windows
needed for one page are read and sorted. The page's token is the ``(time, instance id)`` of its
last row, so the next page starts exactly after it, even among rows with the same timestamp.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import InvalidInputError
from ..orchestration.history import OrchestrationStatus
from ..storage.instance_table import build_filter, decode_token, encode_token, odata_datetime
from ..storage.naming import odata_string, unescape_partition_key
from ..storage.taskhub import TaskHubStorage
from ..storage.values import format_iso_micros, read_datetime

__all__ = [
    "EARLIEST",
    "EXCLUDE_ENTITIES",
    "PAGE_SIZES",
    "SORTS",
    "WINDOW_ROW_CAP",
    "InstanceFilter",
    "InstancePage",
    "ListRow",
    "list_instances",
]

#: Sort orders: the table's own (instance id, ascending) and newest first by a time column.
SORTS = {"id": "PartitionKey", "created": "CreatedTime", "updated": "LastUpdatedTime"}
PAGE_SIZES = (20, 50, 100, 200)
#: The most rows one time window may hold before it is narrowed (rows are read with 6 columns).
WINDOW_ROW_CAP = 2000
#: The earliest time Azure Tables stores: the walk back through time windows ends there.
EARLIEST = datetime(1601, 1, 1, tzinfo=timezone.utc)
_FIRST_WINDOW = timedelta(minutes=15)
_MIN_WINDOW = timedelta(seconds=1)
_MAX_REQUESTS = 12  # per page in id order: a sparse filter may return empty pages with a token
_LIST_COLUMNS = ["PartitionKey", "Name", "RuntimeStatus", "CreatedTime", "LastUpdatedTime", "CompletedTime"]
#: Leaves out entity rows (``@name@key``): '@' sorts just before 'A'.
EXCLUDE_ENTITIES = "(PartitionKey lt '@' or PartitionKey ge 'A')"


@dataclass(frozen=True, slots=True)
class ListRow:
    """One instance as the list shows it (no input, output or custom status: those can be large)."""

    instance_id: str
    name: str
    status: str
    created: datetime | None
    updated: datetime | None
    completed: datetime | None


@dataclass(frozen=True, slots=True)
class InstanceFilter:
    """The list's filters, as they appear in the URL."""

    statuses: tuple[OrchestrationStatus, ...] = ()
    name: str = ""
    id_prefix: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    sort: str = "created"
    page_size: int = 50

    def odata(self) -> str | None:
        """The ``$filter`` for these filters (escaped literals only)."""
        base = build_filter(
            created_from=self.created_from,
            created_to=self.created_to,
            statuses=self.statuses or None,
            instance_id_prefix=self.id_prefix or None,
        )
        parts = [base] if base else []
        if self.id_prefix:  # build_filter keeps entities out only without a prefix
            parts.append(EXCLUDE_ENTITIES)
        if self.name:
            parts.append(f"(Name eq {odata_string(self.name)})")
        return " and ".join(parts) or None


@dataclass(frozen=True, slots=True)
class InstancePage:
    rows: list[ListRow]
    next_token: str | None
    requests: int  # table queries this page took (shown in the page footer)


def _row(entity: Any) -> ListRow:
    return ListRow(
        instance_id=unescape_partition_key(str(entity.get("PartitionKey") or "")),
        name=str(entity.get("Name") or ""),
        status=str(entity.get("RuntimeStatus") or "Pending"),
        created=read_datetime(entity.get("CreatedTime")),
        updated=read_datetime(entity.get("LastUpdatedTime")),
        completed=read_datetime(entity.get("CompletedTime")),
    )


def _table(storage: TaskHubStorage) -> Any:
    return storage.clients.tables.get_table_client(storage.instances.table_name)


def _and(*parts: str | None) -> str | None:
    kept = [p if p.startswith("(") else f"({p})" for p in parts if p]
    return " and ".join(kept) or None


async def list_instances(storage: TaskHubStorage, filters: InstanceFilter, token: str | None) -> InstancePage:
    """One page of instances matching ``filters``, starting after ``token`` (``None``: the first)."""
    if filters.sort == "id":
        return await _page_by_id(storage, filters, token)
    return await _page_by_time(storage, filters, token)


async def _page_by_id(storage: TaskHubStorage, filters: InstanceFilter, token: str | None) -> InstancePage:
    table = _table(storage)
    query = filters.odata()
    rows: list[ListRow] = []
    sdk_token = decode_token(token)
    requests = 0
    while len(rows) < filters.page_size and requests < _MAX_REQUESTS:
        kwargs: dict[str, Any] = {"results_per_page": filters.page_size - len(rows), "select": _LIST_COLUMNS}
        pager = table.query_entities(query, **kwargs) if query else table.list_entities(**kwargs)
        pages = pager.by_page(continuation_token=sdk_token)
        requests += 1
        try:
            page = await pages.__anext__()
        except StopAsyncIteration:
            sdk_token = None
            break
        rows.extend([_row(entity) async for entity in page])
        sdk_token = getattr(pages, "continuation_token", None)
        if not sdk_token:
            break
    return InstancePage(rows, encode_token(sdk_token), requests)


# ---------------------------------------------------------------------------- newest first by time


_ONE_MICROSECOND = timedelta(microseconds=1)


def encode_cursor(moment: datetime, instance_id: str) -> str:
    data = json.dumps({"t": format_iso_micros(moment), "id": instance_id}, separators=(",", ":"))
    return "t." + base64.urlsafe_b64encode(data.encode()).decode()


def decode_cursor(token: str) -> tuple[datetime, str]:
    try:
        if not token.startswith("t."):
            raise ValueError("not a time cursor")
        data = json.loads(base64.urlsafe_b64decode(token[2:].encode()))
        moment = datetime.fromisoformat(str(data["t"]).replace("Z", "+00:00"))
        return moment.astimezone(timezone.utc), str(data["id"])
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error) as e:
        raise InvalidInputError(f"Invalid page token {token!r}: start again from the first page.") from e


def _time_of(row: ListRow, sort: str) -> datetime:
    value = row.created if sort == "created" else row.updated
    return value or datetime(1601, 1, 1, tzinfo=timezone.utc)


async def _scan(table: Any, query: str, cap: int) -> list[ListRow] | None:
    """Every row matching ``query``, or ``None`` when there are more than ``cap``."""
    rows: list[ListRow] = []
    async for entity in table.query_entities(query, select=_LIST_COLUMNS, results_per_page=1000):
        rows.append(_row(entity))
        if len(rows) > cap:
            return None
    return rows


async def _any(table: Any, query: str) -> bool:
    async for _ in table.query_entities(query, select=["PartitionKey"], results_per_page=1):
        return True
    return False


async def _page_by_time(storage: TaskHubStorage, filters: InstanceFilter, token: str | None) -> InstancePage:
    table = _table(storage)
    column = SORTS[filters.sort]
    base = filters.odata()
    cursor = decode_cursor(token) if token else None
    lower_bound = EARLIEST
    if filters.sort == "created" and filters.created_from is not None:
        lower_bound = max(filters.created_from, EARLIEST)
    # The first window ends at the cursor or, on the first page, is open above: a row may be
    # written "in the future" by a skewed clock. The cursor's time is read in microseconds while
    # Azure Tables keeps 100 ns ticks, so rows sharing the cursor's microsecond may lie up to
    # 0.9 µs after it: the bound is the next microsecond, inclusive, and the rows past the cursor
    # are picked in memory below.
    upper: datetime | None = cursor[0] + _ONE_MICROSECOND if cursor else None
    if upper is None and filters.sort == "created" and filters.created_to is not None:
        upper = filters.created_to
    upper_inclusive = True
    if upper is not None and upper < lower_bound:  # an empty range (e.g. to=0001-01-01)
        return InstancePage([], None, 0)
    anchor = upper or datetime.now(timezone.utc)
    width = _FIRST_WINDOW
    found: list[ListRow] = []
    requests = 0
    exhausted = False
    while True:
        # Compared as a span, not as ``anchor - width``: that would leave datetime's range when
        # the walk nears year 1 (a year-9999 ``to`` widens the windows that far).
        if width >= anchor - lower_bound:
            low, last_window = lower_bound, True
        else:
            low, last_window = anchor - width, False
        above = None
        if upper is not None:
            above = f"{column} {'le' if upper_inclusive else 'lt'} {odata_datetime(upper)}"
        query = _and(base, f"{column} ge {odata_datetime(low)}", above)
        assert query is not None
        requests += 1
        window = await _scan(table, query, WINDOW_ROW_CAP)
        if window is None:  # too many rows in this window: narrow it and read it again
            if width <= _MIN_WINDOW:
                raise InvalidInputError(
                    f"More than {WINDOW_ROW_CAP} instances share one second; sort by instance id instead."
                )
            width = max(width / 4, _MIN_WINDOW)
            continue
        if cursor is not None:
            moment, last_id = cursor
            window = [
                r
                for r in window
                if _time_of(r, filters.sort) < moment
                or (_time_of(r, filters.sort) == moment and r.instance_id > last_id)
            ]
        found.extend(window)
        if len(found) > filters.page_size or last_window:
            exhausted = last_window
            break
        if not window:
            requests += 1
            if not await _any(table, _and(base, f"{column} lt {odata_datetime(low)}") or ""):
                exhausted = True
                break
        upper, upper_inclusive, anchor = low, False, low
        width *= 4
    found.sort(key=lambda r: (-_time_of(r, filters.sort).timestamp(), r.instance_id))
    page = found[: filters.page_size]
    more = len(found) > filters.page_size or (not exhausted and len(page) == filters.page_size)
    next_token = (
        encode_cursor(_time_of(page[-1], filters.sort), page[-1].instance_id) if more and page else None
    )
    return InstancePage(page, next_token, requests)
