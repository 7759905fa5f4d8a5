"""Engine settings from ``host.json`` (``extensions.durableTask``), the environment and ``local.settings.json``."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_HUB_NAME = "TestHubName"
DEFAULT_CONNECTION = "UseDevelopmentStorage=true"
DEFAULT_CONNECTION_NAME = "AzureWebJobsStorage"
#: host.json ``versionMatchStrategy`` and ``versionFailureStrategy`` values (rules:
#: :mod:`durable_azure.orchestration.versioning`).
VERSION_MATCH_STRATEGIES = ("None", "Strict", "CurrentOrOlder")
VERSION_FAILURE_STRATEGIES = ("Reject", "Fail")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")


def _canonical(value: str, allowed: tuple[str, ...], setting: str) -> str:
    """``value`` spelled as in ``allowed`` (matched case-insensitively, as .NET reads enums)."""
    for name in allowed:
        if str(value).strip().lower() == name.lower():
            return name
    raise ValueError(f"Setting {setting} must be one of {', '.join(allowed)}; got {value!r}.")


def parse_timespan(value: Any) -> float:
    """Seconds in a .NET TimeSpan string (``"00:00:30"``, ``"1.00:00:00"``) or a number of seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _TIMESPAN.match(str(value).strip())
    if not match:
        raise ValueError(f"Invalid TimeSpan {value!r}; expected e.g. '00:00:30'.")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


@dataclass(frozen=True)
class Settings:
    """Everything a worker or client needs; defaults match Durable Functions where it makes sense."""

    connection_string: str = DEFAULT_CONNECTION
    #: The app setting ``connection_string`` came from: ``storageProvider.connectionName`` (or
    #: ``connectionStringName``) in host.json, else ``AzureWebJobsStorage``. Hosted in Azure, the
    #: work-item queue trigger listens with this connection.
    connection_name: str = DEFAULT_CONNECTION_NAME
    hub_name: str = DEFAULT_HUB_NAME
    partition_count: int = 4
    control_queue_batch_size: int = 32
    max_queue_polling_interval: float = 1.0
    #: Durable Functions' defaults: 10 activities and 5 orchestrator episodes at once on the
    #: Consumption plan (``WEBSITE_SKU`` ``Dynamic``/``FlexConsumption``), 10 × the processor count
    #: elsewhere (Premium, Dedicated, a local host). ``maxConcurrentActivityFunctions``,
    #: ``maxConcurrentOrchestratorFunctions``.
    max_concurrent_activities: int = field(default_factory=lambda: default_concurrency(os.environ, 10))
    max_concurrent_orchestrations: int = field(default_factory=lambda: default_concurrency(os.environ, 5))
    #: Seconds a received control-queue message stays hidden; a dead worker's messages come back
    #: after this (about the lease time). host.json ``controlQueueVisibilityTimeout``.
    control_queue_visibility_timeout: int = 30
    #: Seconds a work item stays hidden, renewed every ``work_item_renew_interval`` while its
    #: activity runs; a dead worker's work items come back after this. ``workItemQueueVisibilityTimeout``.
    work_item_visibility_timeout: int = 30
    #: Seconds between renewals of a running activity's work item (at most a third of the
    #: visibility timeout is used). ``workItemQueueRenewInterval``.
    work_item_renew_interval: float = 10.0
    #: Partition blob lease duration, 15..60 s (DTFx ``LeaseInterval``). ``leaseInterval``.
    lease_duration: int = 30
    #: Seconds between lease renewals (DTFx ``LeaseRenewInterval``). ``leaseRenewInterval``.
    lease_renew_interval: float = 10.0
    #: Seconds between balancing passes that take free or stolen leases. ``leaseAcquireInterval``.
    lease_acquire_interval: float = 10.0
    #: Receives of one message before it is set aside in the poison store, whatever the error
    #: (DTFx retries forever). ``maxDequeueCount``.
    max_dequeue_count: int = 10
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    route_prefix: str = "api"
    #: Version stamped on new orchestrations (and sub-orchestrations started without one), and the
    #: version this worker runs (see :mod:`durable_azure.orchestration.versioning`). ``defaultVersion``.
    default_version: str = ""
    #: ``None``, ``Strict`` or ``CurrentOrOlder``. ``versionMatchStrategy``.
    version_match_strategy: str = "CurrentOrOlder"
    #: ``Reject`` or ``Fail``. ``versionFailureStrategy``.
    version_failure_strategy: str = "Reject"
    #: Partition ownership in the ``{Hub}Partitions`` table (DTFx's table partition manager, the
    #: default of Durable Functions 3.x) rather than ``default/`` lease blobs in ``{hub}-leases``.
    #: ``storageProvider.useTablePartitionManagement``. ``None`` (not set): the layout the hub already
    #: has, so an existing hub with ``default/`` lease blobs keeps them; a new hub gets the table.
    use_table_partition_management: bool | None = None
    #: Take DTFx's app lease (container ``{hub}-applease``) before processing the hub, so only one
    #: app's workers run it at a time. ``useAppLease``.
    use_app_lease: bool = True
    #: Identifies this app in the app lease (DTFx ``AppName``: ``WEBSITE_SITE_NAME``, else
    #: ``DTFX_APP_NAME``, else empty).
    app_name: str = field(
        default_factory=lambda: os.environ.get("WEBSITE_SITE_NAME") or os.environ.get("DTFX_APP_NAME") or ""
    )
    #: ``appLeaseOptions``: ``renewInterval`` (25 s), ``acquireInterval`` (5 min), ``leaseInterval`` (60 s).
    app_lease_renew_interval: float = 25.0
    app_lease_acquire_interval: float = 300.0
    app_lease_duration: int = 60
    #: Seconds: a timer further out is split in history into timers at most this long, as Durable
    #: Functions does (its ``maximumShortTimerDuration``, 6 days on Azure Storage).
    maximum_short_timer_duration: float = 6 * 86400.0
    #: Seconds between the parts of a split timer (DF's ``longRunningTimerIntervalDuration``, 3 days).
    long_running_timer_interval: float = 3 * 86400.0
    #: Seconds a timer message is hidden at most (Azure's cap is 7 days); a message further from its
    #: ``FireAt`` is sent again when it shows up ("re-armed"), as those of unsplit timers are.
    max_timer_delay: float = 6 * 86400.0
    #: Rewrite a local activity's finished work item into the next step's work item (one Update
    #: Message instead of a send and a delete; docs/architecture.md, "One activity step"). Turn it off
    #: on a hub that .NET Durable Functions workers serve at the same time: a DTFx owner drops the
    #: duplicate result that re-sends the step after a crash. ``storageProvider.recycleWorkItems``
    #: (durable-azure's own key); the environment variable ``DURABLE_AZURE_RECYCLE_WORK_ITEMS``
    #: overrides both.
    recycle_work_items: bool = field(default_factory=lambda: recycle_from_environment(os.environ, True))

    def __post_init__(self) -> None:
        positive = {
            "control_queue_visibility_timeout": self.control_queue_visibility_timeout,
            "work_item_visibility_timeout": self.work_item_visibility_timeout,
            "work_item_renew_interval": self.work_item_renew_interval,
            "lease_renew_interval": self.lease_renew_interval,
            "lease_acquire_interval": self.lease_acquire_interval,
            "max_dequeue_count": self.max_dequeue_count,
            "maximum_short_timer_duration": self.maximum_short_timer_duration,
            "long_running_timer_interval": self.long_running_timer_interval,
            "max_timer_delay": self.max_timer_delay,
        }
        for name, value in positive.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Setting {name} must be a positive number, got {value!r}.")
        if not 15 <= self.lease_duration <= 60:
            raise ValueError(
                f"Setting lease_duration (leaseInterval) must be 15..60 seconds, got {self.lease_duration!r}."
            )
        if not isinstance(self.default_version, str):
            raise ValueError(f"Setting default_version must be a string, got {self.default_version!r}.")
        object.__setattr__(
            self,
            "version_match_strategy",
            _canonical(self.version_match_strategy, VERSION_MATCH_STRATEGIES, "versionMatchStrategy"),
        )
        object.__setattr__(
            self,
            "version_failure_strategy",
            _canonical(self.version_failure_strategy, VERSION_FAILURE_STRATEGIES, "versionFailureStrategy"),
        )
        if not 15 <= self.app_lease_duration <= 60:
            raise ValueError(
                "Setting app_lease_duration (appLeaseOptions.leaseInterval) must be 15..60 seconds, "
                f"got {self.app_lease_duration!r}."
            )
        if self.long_running_timer_interval > self.maximum_short_timer_duration:
            raise ValueError(
                f"Setting long_running_timer_interval ({self.long_running_timer_interval} s) may not exceed "
                f"maximum_short_timer_duration ({self.maximum_short_timer_duration} s)."
            )
        if self.max_timer_delay > 7 * 86400:
            raise ValueError(
                f"Setting max_timer_delay ({self.max_timer_delay} s) exceeds Azure's 7-day visibility limit."
            )
        if self.lease_renew_interval >= self.lease_duration:
            raise ValueError(
                f"Setting lease_renew_interval ({self.lease_renew_interval} s) must be shorter than "
                f"lease_duration ({self.lease_duration} s), or leases expire between renewals."
            )

    def with_overrides(self, **overrides: Any) -> Settings:
        known = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(known) - set(self.__dataclass_fields__)
        if unknown:
            raise TypeError(f"Unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **known)


def _expand(value: str, env: dict[str, str]) -> str:
    """Resolve ``%AppSetting%`` references, as the Functions host does in host.json."""
    return re.sub(r"%([^%]+)%", lambda m: env.get(m.group(1), m.group(0)), value)


def read_local_settings(app_dir: Path) -> dict[str, str]:
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    return {str(k): str(v) for k, v in values.items()}


def _flag(value: Any, setting: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "false"):
        return str(value).strip().lower() == "true"
    raise ValueError(f"Setting {setting} must be true or false; got {value!r}.")


def default_concurrency(env: Mapping[str, str], on_consumption: int) -> int:
    """Durable Functions' default concurrency: ``on_consumption`` on the Consumption plans, else
    10 × the processor count."""
    if env.get("WEBSITE_SKU", "").strip().lower() in ("dynamic", "flexconsumption"):
        return on_consumption
    return 10 * (os.cpu_count() or 1)


#: Environment variable that turns recycled work items on (``1``) or off (``0``) for this process.
RECYCLE_ENV = "DURABLE_AZURE_RECYCLE_WORK_ITEMS"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def recycle_from_environment(env: Mapping[str, str], default: bool) -> bool:
    """``DURABLE_AZURE_RECYCLE_WORK_ITEMS`` if set (``1``/``0``, ``true``/``false``, ``on``/``off``), else ``default``."""
    value = env.get(RECYCLE_ENV, "").strip().lower()
    if not value:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(f"{RECYCLE_ENV} must be 1 or 0 (true/false, on/off); got {env[RECYCLE_ENV]!r}.")


def _partition_management(
    durable: dict[str, Any], provider: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    """``useTablePartitionManagement``, ``useAppLease`` and ``appLeaseOptions``, read as DF reads them."""
    values: dict[str, Any] = {}
    table = provider.get("useTablePartitionManagement")
    legacy = provider.get("useLegacyPartitionManagement")
    if table is not None:
        values["use_table_partition_management"] = _flag(table, "useTablePartitionManagement")
    if (
        legacy is not None
        and _flag(legacy, "useLegacyPartitionManagement")
        and values.get("use_table_partition_management", True)
    ):
        raise ValueError(  # DTFx: AzureStorageOrchestrationService refuses both
            "Cannot use both useTablePartitionManagement and useLegacyPartitionManagement; "
            "set useTablePartitionManagement to false to use the blob (legacy) leases."
        )
    if durable.get("useAppLease") is not None:
        values["use_app_lease"] = _flag(durable["useAppLease"], "useAppLease")
    options = durable.get("appLeaseOptions") or {}
    for key, name in (
        ("renewInterval", "app_lease_renew_interval"),
        ("acquireInterval", "app_lease_acquire_interval"),
        ("leaseInterval", "app_lease_duration"),
    ):
        if options.get(key) is not None:
            seconds = parse_timespan(options[key])
            values[name] = int(seconds) if name == "app_lease_duration" else seconds
    values["app_name"] = env.get("WEBSITE_SITE_NAME") or env.get("DTFX_APP_NAME") or ""
    return values


def load_settings(app_dir: str | Path = ".", **overrides: Any) -> Settings:
    """Build settings for the app in ``app_dir``: host.json, then local.settings.json, then the environment."""
    root = Path(app_dir)
    env = {**read_local_settings(root), **os.environ}
    values: dict[str, Any] = {}
    host_path = root / "host.json"
    provider: dict[str, Any] = {}
    if host_path.exists():
        host = json.loads(host_path.read_text(encoding="utf-8"))
        extensions = host.get("extensions", {})
        durable = extensions.get("durableTask", {})
        provider = durable.get("storageProvider", {})
        if "hubName" in durable:
            values["hub_name"] = _expand(str(durable["hubName"]), env)
        if "partitionCount" in provider:
            values["partition_count"] = int(provider["partitionCount"])
        if "controlQueueBatchSize" in provider:
            values["control_queue_batch_size"] = int(provider["controlQueueBatchSize"])
        if "maxQueuePollingInterval" in provider:
            values["max_queue_polling_interval"] = parse_timespan(provider["maxQueuePollingInterval"])
        if "controlQueueVisibilityTimeout" in provider:
            values["control_queue_visibility_timeout"] = int(
                parse_timespan(provider["controlQueueVisibilityTimeout"])
            )
        if "workItemQueueVisibilityTimeout" in provider:
            values["work_item_visibility_timeout"] = int(
                parse_timespan(provider["workItemQueueVisibilityTimeout"])
            )
        if "workItemQueueRenewInterval" in provider:
            values["work_item_renew_interval"] = parse_timespan(provider["workItemQueueRenewInterval"])
        if "leaseInterval" in provider:
            values["lease_duration"] = int(parse_timespan(provider["leaseInterval"]))
        if "leaseRenewInterval" in provider:
            values["lease_renew_interval"] = parse_timespan(provider["leaseRenewInterval"])
        if "leaseAcquireInterval" in provider:
            values["lease_acquire_interval"] = parse_timespan(provider["leaseAcquireInterval"])
        values.update(_partition_management(durable, provider, env))
        if "recycleWorkItems" in provider:
            values["recycle_work_items"] = _flag(provider["recycleWorkItems"], "recycleWorkItems")
        if "maxDequeueCount" in provider:
            values["max_dequeue_count"] = int(provider["maxDequeueCount"])
        if durable.get("defaultVersion") is not None:  # null is the same as not set (DF)
            values["default_version"] = _expand(str(durable["defaultVersion"]), env)
        if durable.get("versionMatchStrategy") is not None:
            values["version_match_strategy"] = str(durable["versionMatchStrategy"])
        if durable.get("versionFailureStrategy") is not None:
            values["version_failure_strategy"] = str(durable["versionFailureStrategy"])
        if "maxConcurrentActivityFunctions" in durable:
            values["max_concurrent_activities"] = int(durable["maxConcurrentActivityFunctions"])
        if "maxConcurrentOrchestratorFunctions" in durable:
            values["max_concurrent_orchestrations"] = int(durable["maxConcurrentOrchestratorFunctions"])
        if "routePrefix" in extensions.get("http", {}):
            values["route_prefix"] = str(extensions["http"]["routePrefix"])
    connection_name = str(
        provider.get("connectionName") or provider.get("connectionStringName") or DEFAULT_CONNECTION_NAME
    )
    values["connection_name"] = connection_name
    # As the Functions host resolves a connection name: the setting itself, else AzureWebJobs<name>.
    for key in (connection_name, f"AzureWebJobs{connection_name}"):
        if env.get(key):
            values["connection_string"] = env[key]
            break
    else:
        if connection_name != DEFAULT_CONNECTION_NAME and "connection_string" not in overrides:
            log.warning(
                "host.json names the task hub's storage connection %r, but neither app setting %r nor %r "
                "is set: using %s",
                connection_name,
                connection_name,
                f"AzureWebJobs{connection_name}",
                DEFAULT_CONNECTION,
            )
    values["recycle_work_items"] = recycle_from_environment(env, values.get("recycle_work_items", True))
    if "DURABLE_AZURE_HUB" in env:
        values["hub_name"] = env["DURABLE_AZURE_HUB"]
    if "WEBSITE_SITE_NAME" in env and "hub_name" not in values:
        values["hub_name"] = re.sub(r"[^A-Za-z0-9]", "", env["WEBSITE_SITE_NAME"])[:45] or DEFAULT_HUB_NAME
    return Settings(**values).with_overrides(**overrides)
