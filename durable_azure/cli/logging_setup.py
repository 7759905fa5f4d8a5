"""Logging for the command line: ``configure_logging(level, json=False)``.

The engine logs through :mod:`logging` with one logger per module and structured fields passed
as ``extra=`` (``instance_id``, ``execution_id``, ``event``, ``partition``). This renders them:
as ``key=value`` pairs after the message in text mode, or as one JSON object per line.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["STRUCTURED_FIELDS", "JsonFormatter", "TextFormatter", "configure_logging"]

#: ``extra=`` fields the engine attaches to its log records, in display order.
STRUCTURED_FIELDS = ("instance_id", "execution_id", "event", "partition")

_HANDLER_NAME = "durable-azure-cli"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: getattr(record, name) for name in STRUCTURED_FIELDS if getattr(record, name, None) is not None
    }


class TextFormatter(logging.Formatter):
    """``2026-11-26T12:00:00.123Z INFO  durable_azure.worker: message  instance_id=abc partition=2``."""

    def format(self, record: logging.LogRecord) -> str:
        when = (
            datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        )
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += "  " + " ".join(f"{key}={value}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message``, the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return _json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(
    level: str | int = "INFO", json: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """Send ``durable_azure`` (and Azure SDK warnings) to ``stream`` (stderr) at ``level``.

    Calling it again replaces the handler it installed before; other handlers are left alone.
    """
    if isinstance(level, str):
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise ValueError(f"Unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL.")
        level = numeric
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(min(level, logging.WARNING))
    logging.getLogger("durable_azure").setLevel(level)
    # The Azure SDK logs every HTTP request at INFO; keep it to warnings unless asked for DEBUG.
    logging.getLogger("azure").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
    return handler
