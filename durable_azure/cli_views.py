"""``durable-azure`` commands that show things or run the host: history, entities, serve, worker."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .cli_support import (
    JSON,
    JSON_OPTION,
    CliError,
    CliState,
    NotFound,
    console,
    done,
    echo_json,
    fmt_time,
    json_preview,
    one_line,
    pass_state,
    status_or_not_found,
    status_to_json,
    styled_status,
)


def print_status(status: Any, *, history: list[Any] | None = None) -> None:
    from rich.table import Table

    out = console()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    data = status_to_json(status)
    grid.add_row("Instance", status.instance_id)
    grid.add_row("Name", status.name or "")
    grid.add_row("Status", styled_status(data["runtimeStatus"]))
    grid.add_row("Created", fmt_time(status.created_time))
    grid.add_row("Last updated", fmt_time(status.last_updated_time))
    if data["completedTime"]:
        grid.add_row("Completed", fmt_time(status.completed_time))
    if data["executionId"]:
        grid.add_row("Execution", data["executionId"])
    for label, value in (
        ("Input", status.input_),
        ("Output", status.output),
        ("Custom status", status.custom_status),
    ):
        if value is not None:
            grid.add_row(label, json_preview(value, 200).replace("[", r"\["))
    out.print(grid)
    if history is not None:
        out.print()
        print_history(history)


def print_history(events: list[Any]) -> None:
    from rich.table import Table

    from .history_view import format_duration, format_offset, history_rows, preview

    table = Table(show_edge=False, pad_edge=False)
    for name, justify in (
        ("#", "right"),
        ("Time (UTC)", "left"),
        ("Offset", "right"),
        ("Event", "left"),
        ("Name", "left"),
        ("Details", "left"),
        ("Duration", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "Details")  # type: ignore[arg-type]
    for row in history_rows(events):
        marker = row.event_type.startswith("Orchestrator")
        style = "red" if row.error else ("dim" if marker else None)
        table.add_row(
            str(row.sequence),
            row.timestamp.strftime("%H:%M:%S.%f")[:-3],
            format_offset(row.offset),
            row.event_type,
            row.name,
            preview(row.detail, 60),
            format_duration(row.duration),
            style=style,
        )
    console().print(table)


# ============================================================================= entities


def _entity_id(name: str, key: str) -> Any:
    from .orchestration.entity_id import EntityId

    try:
        return EntityId(name, key)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'ENTITY'") from None


@click.command()
@click.argument("entity")
@click.argument("key")
@click.argument("operation", metavar="OP")
@click.option("--input", "input_", type=JSON, metavar="JSON", help="Operation input as JSON (or @file.json).")
@JSON_OPTION
@pass_state
def signal(state: CliState, entity: str, key: str, operation: str, input_: Any, as_json: bool) -> None:
    """Send operation OP to entity ENTITY@KEY (one-way)."""
    entity_id = _entity_id(entity, key)

    async def body(client: Any) -> None:
        await client.signal_entity(entity_id, operation, input_)

    state.run(body)
    done(
        as_json,
        {"instanceId": entity_id.instance_id, "operation": operation, "sent": True},
        f"Signalled {entity_id.instance_id}: {operation}",
    )


@click.command()
@click.argument("entity")
@click.argument("key")
@JSON_OPTION
@pass_state
def entity(state: CliState, entity: str, key: str, as_json: bool) -> None:
    """Show the state of entity ENTITY@KEY. Exit 3 if it does not exist."""
    entity_id = _entity_id(entity, key)

    async def body(client: Any) -> Any:
        return await client.read_entity_state(entity_id)

    response = state.run(body)
    if not response.entity_exists:
        raise NotFound(f"No entity '{entity_id.instance_id}' in task hub '{state.hub_name}'.")
    if as_json:
        echo_json(
            {
                "instanceId": entity_id.instance_id,
                "name": entity_id.name,
                "key": entity_id.key,
                "exists": True,
                "state": response.entity_state,
            }
        )
    else:
        click.echo(f"{entity_id.instance_id}: {json_preview(response.entity_state, 10_000)}")


@click.command()
@click.option("--name", "entity_name", metavar="ENTITY", help="Only entities with this name.")
@click.option("--top", type=click.IntRange(1, 1000), default=100, show_default=True, help="Page size.")
@click.option("--continuation", metavar="TOKEN", help="Continue from a previous page's token.")
@click.option("--all", "all_pages", is_flag=True, help="Follow every page.")
@JSON_OPTION
@pass_state
def entities(
    state: CliState,
    entity_name: str | None,
    top: int,
    continuation: str | None,
    all_pages: bool,
    as_json: bool,
) -> None:
    """List existing entities with their state (delete one with: signal ENTITY KEY delete)."""

    async def body(client: Any) -> tuple[list[dict[str, Any]], str | None]:
        found: list[dict[str, Any]] = []
        token = continuation
        while True:
            page, token = await client.list_entities(
                entity_name=entity_name, page_size=top, continuation_token=token
            )
            found.extend(page)
            if not all_pages or not token:
                return found, token

    items, token = state.run(body)
    if as_json:
        echo_json({"entities": items, "continuationToken": token})
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for column in ("Entity", "Key", "Last operation", "State"):
        table.add_column(column, no_wrap=column != "State")
    for item in items:
        table.add_row(
            item["entityId"]["name"],
            item["entityId"]["key"],
            item["lastOperationTime"],
            json_preview(item.get("state"), 80).replace("[", r"\["),
        )
    out = console()
    out.print(table)
    out.print(f"{len(items)} entit{'y' if len(items) == 1 else 'ies'}")
    if token:
        out.print(f"More: add --continuation {token}", markup=False)


# ============================================================================= history


@click.command()
@click.argument("instance_id", metavar="ID")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="Write the instance as a timeline to an HTML file ('-' for stdout).",
)
@JSON_OPTION
@pass_state
def history(state: CliState, instance_id: str, html_file: str | None, as_json: bool) -> None:
    """The instance's history as a table (sequence, time, offset, event, name, details, duration)."""

    async def body(client: Any) -> tuple[Any, list[Any]]:
        found = await status_or_not_found(state, client, instance_id, show_input=True)
        return found, await client.get_history(instance_id)

    found, events = state.run(body)
    if html_file:
        from .timeline import render_timeline_html

        page = render_timeline_html(found.to_json(), events)
        if html_file == "-":
            click.echo(page, nl=False)
            return
        try:
            Path(html_file).write_text(page, encoding="utf-8")
        except OSError as e:
            raise CliError(f"Cannot write {html_file!r}: {e.strerror}") from None
        done(
            as_json,
            {"instanceId": instance_id, "html": str(Path(html_file).resolve()), "events": len(events)},
            f"Wrote the timeline of {instance_id} ({len(events)} events) to {html_file}",
        )
        return
    if as_json:
        from .history_view import history_rows

        echo_json(
            {
                "instanceId": instance_id,
                "runtimeStatus": found.runtime_status.value,
                "events": [row.to_json() for row in history_rows(events)],
            }
        )
    else:
        print_history(events)


# ============================================================================= host


def _host_environment(state: CliState) -> None:
    """Hand explicit --connection / --hub to the host through the variables load_settings reads."""
    if state.connection:
        os.environ["AzureWebJobsStorage"] = state.connection  # noqa: SIM112 (the Functions setting name)
    if state.hub:
        os.environ["DURABLE_AZURE_HUB"] = state.hub


def _host_function(name: str) -> Callable[..., None]:
    try:
        from .functions import host
    except ImportError as e:
        raise CliError(f"The function host is not available in this installation ({one_line(e)}).") from None
    function = getattr(host, name, None)
    if function is None:
        raise CliError(f"The function host has no {name}() in this installation.")
    return function


_LOG_OPTIONS = [
    click.option(
        "--log-level",
        default="INFO",
        show_default=True,
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    ),
    click.option("--log-json", is_flag=True, help="Log one JSON object per line."),
]


def _with_log_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_LOG_OPTIONS):
        fn = option(fn)
    return fn


def _app_dir(state: CliState, app_dir: str | None, *, need_app: bool) -> str:
    folder = app_dir or state.app_dir
    if need_app and not (Path(folder) / "function_app.py").is_file():
        raise click.BadParameter(f"no function_app.py in {folder!r}", param_hint="'--app-dir'")
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
@click.option("--host", "bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@_with_log_options
@pass_state
def serve(state: CliState, app_dir: str | None, port: int, bind: str, log_level: str, log_json: bool) -> None:
    """Serve the function app's HTTP functions, the durable HTTP API and the timeline pages
    (/durable/instances/ID), with a worker running the orchestrations. Ctrl-C stops it."""
    folder = _app_dir(state, app_dir, need_app=True)
    _host_environment(state)
    run_serve = _host_function("run_serve")
    from .logging_setup import configure_logging

    configure_logging(log_level, json=log_json)
    _run_host(lambda: run_serve(folder, port, bind), state)


@click.command()
@click.option(
    "--app-dir",
    "app_dir",
    type=click.Path(file_okay=False),
    help="Function app folder (default: the global --app-dir).",
)
@_with_log_options
@pass_state
def worker(state: CliState, app_dir: str | None, log_level: str, log_json: bool) -> None:
    """Run the worker for the app in DIR/function_app.py (orchestrations, activities, entities)
    with the connection from AzureWebJobsStorage and the hub from host.json. Ctrl-C stops it."""
    folder = _app_dir(state, app_dir, need_app=True)
    _host_environment(state)
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
        from .cli_support import translate_error

        raise translate_error(error, state.hub or "?") from None


COMMANDS = [history, signal, entity, entities, serve, worker]
