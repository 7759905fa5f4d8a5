"""The engine's OpenTelemetry metrics (meter ``durable_azure``).

| Instrument | Kind | Unit | Attributes |
|---|---|---|---|
| ``durabletask.orchestration.episodes`` | counter | ``{episode}`` | ``durabletask.task.name``, ``durabletask.task.status`` |
| ``durabletask.orchestration.episode.duration`` | histogram | ``s`` | ``durabletask.task.name`` |
| ``durabletask.checkpoint.duration`` | histogram | ``s`` | ``durabletask.task.name`` |
| ``durabletask.activity.duration`` | histogram | ``s`` | ``durabletask.task.name``, ``outcome`` (``Succeeded``/``Failed``) |
| ``durabletask.queue.depth`` | gauge | ``{message}`` | ``queue``, ``partition`` (work items: none) |
| ``durabletask.queue.message_age`` | histogram | ``s`` | ``queue``, ``partition`` |
| ``durabletask.poison.messages`` | counter | ``{message}`` | ``queue`` |
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

SCOPE = "durable_azure"


class Metrics:
    def __init__(self, meter: metrics.Meter | None = None) -> None:
        meter = meter or metrics.get_meter(SCOPE)
        self.episodes = meter.create_counter(
            "durabletask.orchestration.episodes", unit="{episode}", description="Orchestration episodes run"
        )
        self.episode_duration = meter.create_histogram(
            "durabletask.orchestration.episode.duration",
            unit="s",
            description="One episode: replay, then checkpoint",
        )
        self.checkpoint_duration = meter.create_histogram(
            "durabletask.checkpoint.duration",
            unit="s",
            description="Writing an episode: messages, history, the Instances row",
        )
        self.activity_duration = meter.create_histogram(
            "durabletask.activity.duration", unit="s", description="Activity functions, by outcome"
        )
        self.message_age = meter.create_histogram(
            "durabletask.queue.message_age",
            unit="s",
            description="Time between a message's enqueue and its receipt",
        )
        self.poison = meter.create_counter(
            "durabletask.poison.messages", unit="{message}", description="Messages set aside as poison"
        )
        #: (queue, partition or None) → approximate message count, sampled by the worker.
        self.depths: dict[tuple[str, int | None], int] = {}
        meter.create_observable_gauge(
            "durabletask.queue.depth",
            callbacks=[self._observe_depths],
            unit="{message}",
            description="Approximate number of messages in each queue",
        )

    def _observe_depths(self, options: CallbackOptions) -> Iterable[Observation]:
        for (queue, partition), depth in list(self.depths.items()):
            attributes: dict[str, str | int] = {"queue": queue}
            if partition is not None:
                attributes["partition"] = partition
            yield Observation(depth, attributes)
