"""``durable-azure serve`` and ``durable-azure worker``: run the function app's host or just the engine."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import EXIT_USAGE, CliError, one_line
from .state import CliState, pass_state


def _host_environment(state: CliState, otlp_endpoint: str | None = None) -> None:
    """Hand explicit --connection / --hub / --otlp-endpoint to the host through the variables it reads."""
    if otlp_endpoint:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
    if state.connection:
        os.environ["AzureWebJobsStorage"] = state.connection  # noqa: SIM112 (the Functions setting name)
    if state.hub:
        os.environ["DURABLE_AZURE_HUB"] = state.hub


def _host_function(name: str) -> Callable[..., None]:
    try:
        from ..functions import host
    except ImportError as e:
        raise CliError(f"The function host is not available in this installation ({one_line(e)}).") from None
    function = getattr(host, name, None)
    if not callable(function):
        raise CliError(f"The function host has no {name}() in this installation.")
    found: Callable[..., None] = function
    return found


_LOG_OPTIONS = [
    click.option(
        "--log-level",
        default="INFO",
        show_default=True,
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    ),
    click.option("--log-json", is_flag=True, help="Log one JSON object per line."),
    click.option(
        "--otlp-endpoint",
        metavar="URL",
        help="Export traces, metrics and tracking events to this OpenTelemetry collector "
        "(OTLP/HTTP, e.g. http://localhost:4318; same as OTEL_EXPORTER_OTLP_ENDPOINT). "
        "Needs durable-azure[otlp].",
    ),
]


def _with_log_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_LOG_OPTIONS):
        fn = option(fn)
    return fn


def _app_dir(state: CliState, app_dir: str | None, *, need_app: bool) -> str:
    folder = app_dir or state.app_dir
    is_v1 = any(Path(folder).glob("*/function.json"))  # the v1 model: function folders
    if need_app and not (Path(folder) / "function_app.py").is_file() and not is_v1:
        raise click.BadParameter(
            f"no function_app.py and no function folders (*/function.json) in {folder!r}",
            param_hint="'--app-dir'",
        )
    if app_dir:
        state.app_dir = app_dir
    return folder


@click.command()
@click.option(
    "--app-dir",
    "app_dir",
    type=click.Path(file_okay=False),
    help="Function app folder (default: the global --app-dir).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=7071, show_default=True)
@click.option(
    "--host",
    "bind",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but a loopback address needs the app setting "
    "DURABLE_AZURE_HOST_KEY (clients pass it as ?code= or an x-functions-key header).",
)
@_with_log_options
@pass_state
def serve(
    state: CliState,
    app_dir: str | None,
    port: int,
    bind: str,
    log_level: str,
    log_json: bool,
    otlp_endpoint: str | None,
) -> None:
    """Serve the function app's HTTP functions, the durable HTTP API and the task-hub dashboard
    (/durable/), with a worker running the orchestrations. Ctrl-C stops it."""
    folder = _app_dir(state, app_dir, need_app=True)
    _host_environment(state, otlp_endpoint)
    run_serve = _host_function("run_serve")
    from ..functions.access import InsecureBindError
    from .logging_setup import configure_logging

    configure_logging(log_level, json=log_json)

    def call() -> None:
        try:
            run_serve(folder, port, bind)
        except InsecureBindError as e:
            raise CliError(str(e), EXIT_USAGE) from None

    _run_host(call, state)


@click.command()
@click.option(
    "--app-dir",
    "app_dir",
    type=click.Path(file_okay=False),
    help="Function app folder (default: the global --app-dir).",
)
@_with_log_options
@pass_state
def worker(
    state: CliState, app_dir: str | None, log_level: str, log_json: bool, otlp_endpoint: str | None
) -> None:
    """Run the worker for the app in DIR (function_app.py, or v1 function folders): its orchestrations, activities, entities
    with the connection from AzureWebJobsStorage and the hub from host.json. Ctrl-C stops it."""
    folder = _app_dir(state, app_dir, need_app=True)
    _host_environment(state, otlp_endpoint)
    run_worker = _host_function("run_worker")
    from .logging_setup import configure_logging

    configure_logging(log_level, json=log_json)
    _run_host(lambda: run_worker(folder), state)


def _run_host(call: Callable[[], None], state: CliState) -> None:
    try:
        call()
    except KeyboardInterrupt:
        pass
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except Exception as error:
        from .errors import translate_error

        raise translate_error(error, state.hub or "?") from None


COMMANDS = [serve, worker]
