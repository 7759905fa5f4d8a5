"""Query date/times: a time whose UTC value is outside Python's range is a 400, never a 500 (the
management API fuzz test found ``createdTimeTo=0001-01-01T00:00:00+01:00`` answering 500)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from durable_azure.functions.api_support import ApiError, parse_datetime


def test_times_are_returned_in_utc() -> None:
    assert parse_datetime("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert parse_datetime("2024-05-01T10:00:00").tzinfo is timezone.utc


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "not a time"])
def test_out_of_range_or_invalid_times_are_400(value: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_datetime(value, "createdTimeTo")
    assert caught.value.status_code == 400
