"""``durable-azure`` commands that show an instance: its status and history (as a table, JSON or an HTML timeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .errors import CliError
from .output import console, done, echo_json, fmt_time, json_preview, status_to_json, styled_status
from .params import JSON_OPTION
from .state import CliState, pass_state, status_or_not_found


def print_status(status: Any, *, history: list[Any] | None = None) -> None:
    from rich.table import Table

    out = console()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    data = status_to_json(status)
    grid.add_row("Instance", status.instance_id)
    grid.add_row("Name", status.name or "")
    if getattr(status, "version", None):
        grid.add_row("Version", status.version)
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

    from ..views.rows import format_duration, format_offset, history_rows, preview

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
        from ..views.timeline import render_timeline_html

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
        from ..views.rows import history_rows

        echo_json(
            {
                "instanceId": instance_id,
                "runtimeStatus": found.runtime_status.value,
                "events": [row.to_json() for row in history_rows(events)],
            }
        )
    else:
        print_history(events)


COMMANDS = [history]
