"""Durable Functions' tracking events: one log record per state change, under ``Host.Triggers.DurableTask``.

Names, message templates and dimensions are those of the Durable extension's ``EndToEndTraceHelper``
(Azure/azure-functions-durable-extension, ``src/WebJobs.Extensions.DurableTask/EndToEndTraceHelper.cs``).
Every template argument becomes an attribute ``prop__{name}`` — what Application Insights shows in
``customDimensions`` — next to ``Category`` and ``LogLevel``, so DF's Kusto queries work unchanged.

Nothing is formatted unless the category is enabled at the event's level, and replay events are
dropped unless ``traceReplayEvents`` is on. Inputs and outputs are ``(Redacted N characters)``
unless ``traceInputsAndOutputs`` is on.
"""

from __future__ import annotations

import itertools
import logging
from importlib import metadata
from typing import Any

from .options import TRACKING_CATEGORY, TelemetryOptions

log = logging.getLogger(TRACKING_CATEGORY)

ORCHESTRATOR = "Orchestrator"
ACTIVITY = "Activity"
ENTITY = "Entity"

_TAIL = (
    "HubName: {hubName}. AppName: {appName}. SlotName: {slotName}. "
    "ExtensionVersion: {extensionVersion}. SequenceNumber: {sequenceNumber}."
)
#: DF's message templates, by method of EndToEndTraceHelper.
TEMPLATES = {
    "FunctionScheduled": "{instanceId}: Function '{functionName} ({functionType})' scheduled. Reason: {reason}. "
    "IsReplay: {isReplay}. State: {state}. RuntimeStatus: {runtimeStatus}. " + _TAIL,
    "FunctionStarting": "{instanceId}: Function '{functionName} ({functionType})' started. IsReplay: {isReplay}. "
    "Input: {input}. State: {state}. RuntimeStatus: {runtimeStatus}. "
    + _TAIL
    + " TaskEventId: {taskEventId}",
    "FunctionAwaited": "{instanceId}: Function '{functionName} ({functionType})' awaited. IsReplay: {isReplay}. "
    "State: {state}. " + _TAIL,
    "FunctionListening": "{instanceId}: Function '{functionName} ({functionType})' is waiting for input. "
    "Reason: {reason}. IsReplay: {isReplay}. State: {state}. " + _TAIL,
    "FunctionCompleted": "{instanceId}: Function '{functionName} ({functionType})' completed. "
    "ContinuedAsNew: {continuedAsNew}. IsReplay: {isReplay}. Output: {output}. State: {state}. "
    "RuntimeStatus: {runtimeStatus}. " + _TAIL + " TaskEventId: {taskEventId}",
    "FunctionFailed": "{instanceId}: Function '{functionName} ({functionType})' failed with an error. "
    "Reason: {reason}. IsReplay: {isReplay}. State: {state}. RuntimeStatus: {runtimeStatus}. "
    + _TAIL
    + " TaskEventId: {taskEventId}",
    "FunctionTerminated": "{instanceId}: Function '{functionName} ({functionType})' was terminated. "
    "Reason: {reason}. State: {state}. RuntimeStatus: {runtimeStatus}. " + _TAIL,
    "ExternalEventRaised": "{instanceId}: Function '{functionName} ({functionType})' received a '{eventName}' "
    "event. State: {state}. " + _TAIL,
    "TimerExpired": "{instanceId}: Function '{functionName} ({functionType})' was resumed by a timer scheduled "
    "for '{expirationTime}'. IsReplay: {isReplay}. State: {state}. " + _TAIL,
    "OperationCompleted": "{instanceId}: Function '{functionName} ({functionType})' completed '{operationName}' "
    "operation {operationId} in {duration}ms. IsReplay: {isReplay}. Input: {input}. Output: {output}. "
    + _TAIL,
    "OperationFailed": "{instanceId}: Function '{functionName} ({functionType})' failed '{operationName}' "
    "operation {operationId} after {duration}ms with exception {exception}. Input: {input}. "
    "IsReplay: {isReplay}. " + _TAIL,
}
_LEVEL_NAMES = {
    logging.DEBUG: "Debug",
    logging.INFO: "Information",
    logging.WARNING: "Warning",
    logging.ERROR: "Error",
    logging.CRITICAL: "Critical",
}


def _version() -> str:
    try:
        return metadata.version("durable-azure")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class Tracker:
    """Emits tracking events for one task hub."""

    def __init__(self, options: TelemetryOptions) -> None:
        self.options = options
        self._sequence = itertools.count()
        self._common = {
            "hubName": options.hub_name,
            "appName": options.app_name,
            "slotName": options.slot_name,
            "extensionVersion": _version(),
        }
        log.setLevel(options.tracking_level)

    def wants(self, level: int, is_replay: bool = False) -> bool:
        """Whether an event at ``level`` would be emitted (check before building anything)."""
        return (not is_replay or self.options.trace_replay_events) and log.isEnabledFor(level)

    def payload(self, text: str | None) -> str:
        """An input or output as DF's tracking events show it."""
        text = text or ""
        return text if self.options.trace_inputs_and_outputs else f"(Redacted {len(text)} characters)"

    def emit(self, level: int, method: str, **fields: Any) -> None:
        """One tracking event: DF's message for ``method``; its arguments as ``prop__*`` attributes."""
        is_replay = bool(fields.get("isReplay", False))
        if not self.wants(level, is_replay):
            return
        values = {**fields, **self._common, "sequenceNumber": next(self._sequence)}
        values.setdefault("isReplay", False)
        extra: dict[str, Any] = {f"prop__{key}": value for key, value in values.items()}
        extra["Category"] = TRACKING_CATEGORY
        extra["LogLevel"] = _LEVEL_NAMES.get(level, "Information")
        extra["EventName"] = method
        # the fields the command line's formatter shows
        extra["instance_id"] = values.get("instanceId")
        extra["event"] = values.get("state") or method
        log.log(level, TEMPLATES[method].format_map(_Missing(values)), extra=extra)

    # ---- DF's events, by name ------------------------------------------------------------------
    def scheduled(
        self, function_name: str, instance_id: str, reason: str, function_type: str, is_replay: bool
    ) -> None:
        self.emit(
            logging.INFO,
            "FunctionScheduled",
            instanceId=instance_id,
            functionName=function_name,
            functionType=function_type,
            reason=reason,
            isReplay=is_replay,
            state="Scheduled",
            runtimeStatus="Pending",
        )

    def started(
        self,
        function_name: str,
        instance_id: str,
        input: str | None,
        function_type: str,
        is_replay: bool,
        task_event_id: int = -1,
    ) -> None:
        if self.wants(logging.INFO, is_replay):
            self.emit(
                logging.INFO,
                "FunctionStarting",
                instanceId=instance_id,
                functionName=function_name,
                functionType=function_type,
                isReplay=is_replay,
                input=self.payload(input),
                state="Started",
                runtimeStatus="Running",
                taskEventId=task_event_id,
            )

    def awaited(self, function_name: str, instance_id: str, is_replay: bool) -> None:
        self.emit(
            logging.INFO,
            "FunctionAwaited",
            instanceId=instance_id,
            functionName=function_name,
            functionType=ORCHESTRATOR,
            isReplay=is_replay,
            state="Awaited",
        )

    def listening(self, function_name: str, instance_id: str, reason: str, is_replay: bool) -> None:
        self.emit(
            logging.INFO,
            "FunctionListening",
            instanceId=instance_id,
            functionName=function_name,
            functionType=ORCHESTRATOR,
            reason=reason,
            isReplay=is_replay,
            state="Listening",
        )

    def completed(
        self,
        function_name: str,
        instance_id: str,
        output: str | None,
        function_type: str,
        is_replay: bool,
        *,
        continued_as_new: bool = False,
        task_event_id: int = -1,
    ) -> None:
        if self.wants(logging.INFO, is_replay):
            self.emit(
                logging.INFO,
                "FunctionCompleted",
                instanceId=instance_id,
                functionName=function_name,
                functionType=function_type,
                continuedAsNew=continued_as_new,
                isReplay=is_replay,
                output=self.payload(output),
                state="Completed",
                runtimeStatus="Completed",
                taskEventId=task_event_id,
            )

    def failed(
        self,
        function_name: str,
        instance_id: str,
        reason: str,
        function_type: str,
        is_replay: bool,
        task_event_id: int = -1,
    ) -> None:
        self.emit(
            logging.ERROR,
            "FunctionFailed",
            instanceId=instance_id,
            functionName=function_name,
            functionType=function_type,
            reason=reason,
            isReplay=is_replay,
            state="Failed",
            runtimeStatus="Failed",
            taskEventId=task_event_id,
        )

    def terminated(self, function_name: str, instance_id: str, reason: str | None) -> None:
        if self.wants(logging.WARNING):
            self.emit(
                logging.WARNING,
                "FunctionTerminated",
                instanceId=instance_id,
                functionName=function_name,
                functionType=ORCHESTRATOR,
                reason=self.payload(reason),
                state="Terminated",
                runtimeStatus="Terminated",
            )

    def external_event_raised(
        self, function_name: str, instance_id: str, event_name: str, input: str | None, is_replay: bool
    ) -> None:
        if self.wants(logging.INFO, is_replay):
            self.emit(
                logging.INFO,
                "ExternalEventRaised",
                instanceId=instance_id,
                functionName=function_name,
                functionType=ORCHESTRATOR,
                eventName=event_name,
                input=self.payload(input),
                isReplay=is_replay,
                state="ExternalEventRaised",
            )

    def timer_expired(self, function_name: str, instance_id: str, expiration: str, is_replay: bool) -> None:
        self.emit(
            logging.INFO,
            "TimerExpired",
            instanceId=instance_id,
            functionName=function_name,
            functionType=ORCHESTRATOR,
            expirationTime=expiration,
            isReplay=is_replay,
            state="TimerExpired",
        )

    def operation(
        self,
        entity_name: str,
        instance_id: str,
        operation_name: str,
        operation_id: str,
        duration_ms: float,
        input: str | None,
        output: str | None,
        error: str | None,
    ) -> None:
        """An entity operation (DF ``OperationCompleted`` / ``OperationFailed``)."""
        level = logging.INFO if error is None else logging.ERROR
        if not self.wants(level):
            return
        fields: dict[str, Any] = {
            "instanceId": instance_id,
            "functionName": entity_name,
            "functionType": ENTITY,
            "operationName": operation_name,
            "operationId": operation_id,
            "duration": round(duration_ms, 3),
            "isReplay": False,
            "input": self.payload(input),
        }
        if error is None:
            self.emit(level, "OperationCompleted", output=self.payload(output), **fields)
        else:
            self.emit(level, "OperationFailed", exception=error, **fields)


class _Missing(dict[str, Any]):
    """``format_map`` values where a placeholder without a value prints as empty."""

    def __missing__(self, key: str) -> str:
        return ""
