"""``OrchestrationRuntimeStatus``: the string status names Durable Functions shows to users."""

from __future__ import annotations

from enum import Enum

from .history import OrchestrationStatus


class OrchestrationRuntimeStatus(Enum):
    """Runtime status of an instance, as Durable Functions for Python names it."""

    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Canceled = "Canceled"
    Terminated = "Terminated"
    Pending = "Pending"
    Suspended = "Suspended"

    @classmethod
    def from_status(cls, status: OrchestrationStatus) -> OrchestrationRuntimeStatus:
        return cls(status.name)

    def to_status(self) -> OrchestrationStatus:
        return OrchestrationStatus[self.value]

    @property
    def is_terminal(self) -> bool:
        return self.to_status().is_terminal
