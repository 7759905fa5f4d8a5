"""configure_logging: structured engine fields rendered as key=value or JSON lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from durable_azure.cli.logging_setup import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("durable_azure").level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("durable_azure").setLevel(saved[2])


def test_text_lines_carry_the_structured_fields(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = logging.getLogger("durable_azure.worker.test")
    log.info("episode done", extra={"instance_id": "abc", "execution_id": "e1", "partition": 2})
    log.debug("hidden")
    line = stream.getvalue().strip()
    assert "\n" not in line
    assert (
        " INFO    durable_azure.worker.test: episode done  instance_id=abc execution_id=e1 partition=2"
        in line
    )


def test_json_lines(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    log = logging.getLogger("durable_azure.worker.test")
    log.debug("activity failed", extra={"instance_id": "i", "event": "TaskFailed"})
    try:
        raise ValueError("x")
    except ValueError:
        log.exception("boom")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
    assert first["level"] == "DEBUG" and first["message"] == "activity failed"
    assert first["instance_id"] == "i" and first["event"] == "TaskFailed" and "partition" not in first
    assert "ValueError: x" in second["exception"]


def test_calling_again_replaces_its_own_handler(restore_logging: None) -> None:
    configure_logging("INFO", stream=io.StringIO())
    configure_logging("WARNING", stream=io.StringIO())
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "durable-azure-cli"]
    assert len(ours) == 1
    assert logging.getLogger("durable_azure").level == logging.WARNING
    with pytest.raises(ValueError, match="Unknown log level"):
        configure_logging("LOUD")
