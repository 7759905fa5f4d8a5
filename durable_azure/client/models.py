"""What the client returns: the Durable Functions for Python model classes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..orchestration import serialization
from ..orchestration.status import OrchestrationRuntimeStatus
from ..storage.instance_table import InstanceRecord
from ..storage.values import format_iso_seconds


def _parse(text: str | None) -> Any:
    return serialization.loads_stored(text)


class DurableOrchestrationStatus:
    """Status of one orchestration instance. Falsy when the instance was not found (as in DF)."""

    def __init__(
        self,
        name: str | None = None,
        instanceId: str | None = None,
        createdTime: datetime | None = None,
        lastUpdatedTime: datetime | None = None,
        input: Any = None,
        output: Any = None,
        runtimeStatus: OrchestrationRuntimeStatus | str | None = None,
        customStatus: Any = None,
        history: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        self._name = name
        self._instance_id = instanceId
        self._created_time = createdTime
        self._last_updated_time = lastUpdatedTime
        self._input = input
        self._output = output
        self._runtime_status = (
            OrchestrationRuntimeStatus(runtimeStatus) if isinstance(runtimeStatus, str) else runtimeStatus
        )
        self._custom_status = customStatus
        self._history = history
        self.completed_time: datetime | None = kwargs.pop("completedTime", None)
        self.execution_id: str | None = kwargs.pop("executionId", None)
        #: The orchestration's version (host.json ``defaultVersion`` or ``start_new(version=...)``).
        self.version: str | None = kwargs.pop("version", None) or None
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def from_record(
        cls, record: InstanceRecord, *, history: list[dict[str, Any]] | None = None, show_input: bool = True
    ) -> DurableOrchestrationStatus:
        return cls(
            name=record.name,
            instanceId=record.instance_id,
            createdTime=record.created_time,
            lastUpdatedTime=record.last_updated_time,
            input=_parse(record.input) if show_input else None,
            output=_parse(record.output),
            runtimeStatus=OrchestrationRuntimeStatus.from_status(record.runtime_status),
            customStatus=_parse(record.custom_status),
            history=history,
            completedTime=record.completed_time,
            executionId=record.execution_id,
            version=record.version,
        )

    name = property(lambda self: self._name)
    instance_id = property(lambda self: self._instance_id)
    created_time = property(lambda self: self._created_time)
    last_updated_time = property(lambda self: self._last_updated_time)
    input_ = property(lambda self: self._input)
    output = property(lambda self: self._output)
    runtime_status = property(lambda self: self._runtime_status)
    custom_status = property(lambda self: self._custom_status)
    history = property(lambda self: self._history)

    def __bool__(self) -> bool:
        return self._created_time is not None

    def to_json(self) -> dict[str, Any]:
        """The Durable Functions HTTP status payload."""
        data: dict[str, Any] = {
            "name": self._name,
            "instanceId": self._instance_id,
            "runtimeStatus": self._runtime_status.value if self._runtime_status else None,
            "input": self._input,
            "customStatus": self._custom_status,
            "output": self._output,
            "createdTime": _http_time(self._created_time),
            "lastUpdatedTime": _http_time(self._last_updated_time),
        }
        if self.version:  # only versioned instances: unversioned answers stay exactly DF's
            data["version"] = self.version
        if self._history is not None:
            data["historyEvents"] = self._history
        return data

    def __repr__(self) -> str:
        status = self._runtime_status.value if self._runtime_status else None
        return f"DurableOrchestrationStatus(instance_id={self._instance_id!r}, runtime_status={status!r})"


def _http_time(value: datetime | None) -> str | None:
    return format_iso_seconds(value) if value else None


@dataclass(frozen=True)
class PurgeHistoryResult:
    """How many instances a purge deleted."""

    instances_deleted: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PurgeHistoryResult:
        return cls(int(data.get("instancesDeleted", 0)))

    def to_json(self) -> dict[str, Any]:
        return {"instancesDeleted": self.instances_deleted}


@dataclass(frozen=True)
class EntityStateResponse:
    """Whether an entity exists, and its state."""

    entity_exists: bool
    entity_state: Any = None
