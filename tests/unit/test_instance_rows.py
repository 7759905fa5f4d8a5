"""Instances-table query building (DTFx §3.5 OData) and continuation tokens, without storage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from durable_azure.orchestration.history import OrchestrationStatus
from durable_azure.storage.instance_table import (
    build_filter,
    decode_token,
    encode_token,
    odata_datetime,
)

EXCLUDE = "(PartitionKey lt '@' or PartitionKey ge 'A')"


def test_default_query_excludes_entities_only() -> None:
    assert build_filter() == f"({EXCLUDE})"
    assert build_filter(include_entities=True) is None


def test_created_time_range_uses_datetime_literals() -> None:
    start = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    end = datetime(2024, 1, 3, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert build_filter(created_from=start, created_to=end, include_entities=True) == (
        "(CreatedTime ge datetime'2024-01-02T03:04:05.000006Z') and "
        "(CreatedTime le datetime'2024-01-03T03:04:05.000000Z')"
    )
    # Naive datetimes are taken as UTC.
    assert odata_datetime(datetime(2024, 1, 1)) == "datetime'2024-01-01T00:00:00.000000Z'"


def test_statuses_are_or_ed_names() -> None:
    f = build_filter(
        statuses=[OrchestrationStatus.Running, OrchestrationStatus.Pending], include_entities=True
    )
    assert f == "(RuntimeStatus eq 'Pending' or RuntimeStatus eq 'Running')"
    # An empty list means "no status filter", as in DTFx.
    assert build_filter(statuses=[], include_entities=True) is None


def test_prefix_is_an_escaped_range() -> None:
    assert (
        build_filter(instance_id_prefix="order-")
        == "(PartitionKey ge 'order-') and (PartitionKey lt 'order.')"
    )
    # Quotes are doubled, special characters are escaped like the PartitionKey itself.
    assert (
        build_filter(instance_id_prefix="it's/")
        == "(PartitionKey ge 'it''s^0') and (PartitionKey lt 'it''s^1')"
    )
    # An entity prefix selects entities; no exclusion clause is added.
    assert build_filter(instance_id_prefix="@counter@") == (
        "(PartitionKey ge '@counter@') and (PartitionKey lt '@counterA')"
    )


def test_prefix_upper_bound_edge_cases() -> None:
    assert (
        build_filter(instance_id_prefix="a\U0010ffff")
        == "(PartitionKey ge 'a\U0010ffff') and (PartitionKey lt 'b')"
    )
    assert build_filter(instance_id_prefix="\ud7ff") is not None


def test_injection_attempt_stays_inside_the_literal() -> None:
    f = build_filter(instance_id_prefix="x' or PartitionKey ne '")
    assert f is not None
    assert f.startswith("(PartitionKey ge 'x'' or PartitionKey ne ''')")


def test_tokens_round_trip_and_reject_garbage() -> None:
    token = {"PartitionKey": "1!8!YWJj", "RowKey": "1!0!"}
    encoded = encode_token(token)
    assert isinstance(encoded, str)
    assert decode_token(encoded) == token
    assert encode_token(None) is None and encode_token({}) is None
    assert decode_token(None) is None
    with pytest.raises(ValueError):
        decode_token("not-a-token!")
    with pytest.raises(ValueError):
        decode_token(encode_token(["a"]))  # type: ignore[arg-type]
