"""Running timer-trigger functions on their schedules (one invocation at a time per function)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import datetime, timezone
from typing import Any

from azure.functions.decorators.function_app import Function
from azure.functions.timer import TimerRequest

from .invoke import invoke_timer
from .ncrontab import CronSchedule, IntervalSchedule, parse_schedule

log = logging.getLogger("durable_azure.timers")


def resolve_schedule(expression: str) -> str:
    """``%SettingName%`` schedules come from app settings, as in the Functions host."""
    return re.sub(r"%([^%]+)%", lambda m: os.environ.get(m.group(1), m.group(0)), expression)


class TimerScheduler:
    """Fires every timer function of an app; ``run_on_startup`` ones once at start as well."""

    def __init__(self, functions: list[Function], app_dir: str) -> None:
        self._app_dir = app_dir
        self._entries: list[tuple[Function, CronSchedule | IntervalSchedule]] = []
        for function in functions:
            trigger: Any = function.get_trigger()
            schedule = parse_schedule(resolve_schedule(str(trigger.schedule)))
            self._entries.append((function, schedule))
        self._tasks: list[asyncio.Task[None]] = []
        self.fired: dict[str, int] = {}

    @property
    def schedules(self) -> list[tuple[str, str]]:
        return [(str(f.get_function_name()), s.expression) for f, s in self._entries]

    def start(self) -> None:
        for function, schedule in self._entries:
            task = asyncio.create_task(
                self._run(function, schedule), name=f"timer:{function.get_function_name()}"
            )
            self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _fire(self, function: Function, past_due: bool) -> None:
        name = str(function.get_function_name())
        try:
            await invoke_timer(function, TimerRequest(past_due=past_due), self._app_dir)
            self.fired[name] = self.fired.get(name, 0) + 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("timer function %s failed", name)

    async def _run(self, function: Function, schedule: CronSchedule | IntervalSchedule) -> None:
        trigger: Any = function.get_trigger()
        if getattr(trigger, "run_on_startup", False):
            await self._fire(function, past_due=False)
        last = datetime.now(timezone.utc)
        while True:
            due = schedule.next_after(last)
            delay = (due - datetime.now(timezone.utc)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            late = (datetime.now(timezone.utc) - due).total_seconds()
            await self._fire(function, past_due=late > 60)
            last = max(datetime.now(timezone.utc), due)  # occurrences missed while running are skipped
