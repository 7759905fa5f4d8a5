"""Retry policies for activities and sub-orchestrations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


class RetryOptions:
    """How often and how fast a failed activity or sub-orchestration is retried.

    ``RetryOptions(first_retry_interval_in_milliseconds, max_number_of_attempts)`` is the
    Durable Functions for Python signature; the keyword extras are the ones DTFx supports.
    """

    def __init__(
        self,
        first_retry_interval_in_milliseconds: int,
        max_number_of_attempts: int,
        *,
        backoff_coefficient: float = 1.0,
        max_retry_interval_in_milliseconds: int | None = None,
        retry_timeout_in_milliseconds: int | None = None,
    ) -> None:
        if first_retry_interval_in_milliseconds <= 0:
            raise ValueError("first_retry_interval_in_milliseconds must be greater than 0")
        if max_number_of_attempts < 1:
            raise ValueError("max_number_of_attempts must be at least 1")
        if backoff_coefficient < 1.0:
            raise ValueError("backoff_coefficient must be at least 1.0")
        self._first = first_retry_interval_in_milliseconds
        self._max_attempts = max_number_of_attempts
        self.backoff_coefficient = backoff_coefficient
        self.max_retry_interval_in_milliseconds = max_retry_interval_in_milliseconds
        self.retry_timeout_in_milliseconds = retry_timeout_in_milliseconds

    @property
    def first_retry_interval_in_milliseconds(self) -> int:
        return self._first

    @property
    def max_number_of_attempts(self) -> int:
        return self._max_attempts

    def delay_after(self, attempt: int) -> timedelta:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        ms = self._first * self.backoff_coefficient ** (attempt - 1)
        if self.max_retry_interval_in_milliseconds is not None:
            ms = min(ms, self.max_retry_interval_in_milliseconds)
        return timedelta(milliseconds=ms)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "firstRetryIntervalInMilliseconds": self._first,
            "maxNumberOfAttempts": self._max_attempts,
        }
        if self.backoff_coefficient != 1.0:
            data["backoffCoefficient"] = self.backoff_coefficient
        if self.max_retry_interval_in_milliseconds is not None:
            data["maxRetryIntervalInMilliseconds"] = self.max_retry_interval_in_milliseconds
        if self.retry_timeout_in_milliseconds is not None:
            data["retryTimeoutInMilliseconds"] = self.retry_timeout_in_milliseconds
        return data

    def __repr__(self) -> str:
        return f"RetryOptions({self.to_json()!r})"
