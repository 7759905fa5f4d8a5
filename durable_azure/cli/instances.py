"""``durable-azure`` commands on orchestration instances: start, status, list, raise, control, restart, purge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from ..orchestration.limits import MAX_WAIT_SECONDS
from .entities import checked
from .errors import EXIT_USAGE, CliError, Conflict, exit_for
from .inspect import print_status
from .output import console, done, echo_json, fmt_time, status_to_json, styled_status
from .params import ACTIVE_STATUSES, JSON, JSON_OPTION, STATUS, TIME, canonical_statuses
from .state import CliState, pass_state, status_or_not_found


@click.command()
@click.argument("name")
@click.option(
    "--input", "input_", type=JSON, metavar="JSON", help="Orchestration input as JSON (or @file.json)."
)
@click.option("--id", "instance_id", metavar="ID", help="Instance id (default: a new GUID).")
@click.option(
    "--version",
    "version",
    metavar="V",
    help="Orchestration version (default: extensions.durableTask.defaultVersion in host.json).",
)
@click.option("--wait", is_flag=True, help="Wait until the instance finishes and print its status.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=MAX_WAIT_SECONDS),
    default=60.0,
    show_default=True,
    help="Seconds to --wait (at most 7 days).",
)
@JSON_OPTION
@pass_state
def start(
    state: CliState,
    name: str,
    input_: Any,
    instance_id: str | None,
    version: str | None,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Start orchestration NAME. Exit 4 if an instance with that --id is still running."""

    async def body(client: Any) -> tuple[str, Any]:
        new_id = await client.start_new(name, instance_id, input_, version)
        if not wait:
            return new_id, None
        await client.wait_for_completion(new_id, timeout=timeout, poll_interval=0.25)
        return new_id, await client.get_status(new_id, show_input=True)

    new_id, status = state.run(body)
    if status is None:
        if as_json:
            echo_json({"instanceId": new_id, "name": name})
        else:
            click.echo(f"Started '{name}' as instance {new_id}")
        return
    if as_json:
        echo_json(status_to_json(status))
    else:
        print_status(status)
    exit_for(status)


@click.command()
@click.argument("instance_id", metavar="ID")
@click.option("--history", "show_history", is_flag=True, help="Include the history.")
@JSON_OPTION
@pass_state
def status(state: CliState, instance_id: str, show_history: bool, as_json: bool) -> None:
    """Show an instance's status. Exit 1 if it Failed, 3 if there is no such instance."""

    async def body(client: Any) -> tuple[Any, list[Any] | None]:
        found = await status_or_not_found(
            state,
            client,
            instance_id,
            show_history=show_history and as_json,
            show_history_output=show_history and as_json,
            show_input=True,
        )
        events = await client.get_history(instance_id) if show_history and not as_json else None
        return found, events

    found, events = state.run(body)
    if as_json:
        echo_json(status_to_json(found))
    else:
        print_status(found, history=events)
    exit_for(found)


@click.command("list")
@click.option(
    "--status",
    "statuses",
    type=STATUS,
    multiple=True,
    metavar="STATUS",
    help="Only instances with this runtime status (repeatable): Running, Pending, Suspended, "
    "Completed, Failed, Terminated, Canceled, ContinuedAsNew.",
)
@click.option("--prefix", metavar="P", help="Only instance ids starting with P.")
@click.option(
    "--created-from", type=TIME, help="Created at or after TIME (ISO 8601, 'now', or an age: 2h, 7d)."
)
@click.option("--created-to", type=TIME, help="Created at or before TIME.")
@click.option("--top", type=click.IntRange(1, 1000), default=100, show_default=True, help="Page size.")
@click.option("--continuation", metavar="TOKEN", help="Continue from a previous page's token.")
@click.option("--all", "all_pages", is_flag=True, help="Follow every page.")
@JSON_OPTION
@pass_state
def list_(
    state: CliState,
    statuses: tuple[str, ...],
    prefix: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    top: int,
    continuation: str | None,
    all_pages: bool,
    as_json: bool,
) -> None:
    """List instances (by instance id), one page of --top at a time; --all follows every page."""

    async def body(client: Any) -> tuple[list[Any], str | None]:
        found: list[Any] = []
        token = continuation
        while True:
            page, token = await client.list_instances(
                created_time_from=created_from,
                created_time_to=created_to,
                runtime_status=canonical_statuses(statuses) or None,
                instance_id_prefix=prefix,
                page_size=top,
                continuation_token=token,
            )
            found.extend(page)
            if not all_pages or not token:
                return found, token

    try:
        instances, token = state.run(body)
    except CliError as e:
        if continuation and "continuation token" in e.message.lower():
            raise CliError(
                f"Invalid value for '--continuation': {continuation!r} is not a token printed by 'list'.",
                EXIT_USAGE,
            ) from None
        raise
    if as_json:
        echo_json({"instances": [status_to_json(s) for s in instances], "continuationToken": token})
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for column in ("Instance", "Name", "Status", "Created", "Last updated"):
        table.add_column(column, no_wrap=True)
    for s in instances:
        table.add_row(
            s.instance_id,
            s.name or "",
            styled_status(s.runtime_status.value if s.runtime_status else ""),
            fmt_time(s.created_time),
            fmt_time(s.last_updated_time),
        )
    out = console()
    out.print(table)
    out.print(f"{len(instances)} instance(s)")
    if token:
        out.print(f"More: add --continuation {token}", markup=False)


@click.command("raise")
@click.argument("instance_id", metavar="ID")
@click.argument("event")
@click.option("--data", type=JSON, metavar="JSON", help="Event data as JSON (or @file.json).")
@JSON_OPTION
@pass_state
def raise_(state: CliState, instance_id: str, event: str, data: Any, as_json: bool) -> None:
    """Raise external EVENT on an instance. Exit 4 if it has finished."""
    checked(event, "event name", "'EVENT'")

    async def body(client: Any) -> None:
        await status_or_not_found(state, client, instance_id)
        await client.raise_event(instance_id, event, data)

    state.run(body)
    done(
        as_json,
        {"instanceId": instance_id, "event": event, "sent": True},
        f"Raised '{event}' on instance {instance_id}",
    )


def _check_reason(reason: str | None) -> None:
    from ..errors import InvalidInputError, PayloadTooLargeError
    from ..orchestration.limits import check_reason

    try:
        check_reason(reason)
    except (InvalidInputError, PayloadTooLargeError) as e:
        raise click.BadParameter(str(e), param_hint="'--reason'") from None


def _control_command(verb: str, past: str, method: str, doc: str) -> click.Command:
    @click.command(verb, help=doc)
    @click.argument("instance_id", metavar="ID")
    @click.option("--reason", metavar="R", help="Reason, recorded in history.")
    @JSON_OPTION
    @pass_state
    def command(state: CliState, instance_id: str, reason: str | None, as_json: bool) -> None:
        _check_reason(reason)

        async def body(client: Any) -> None:
            await status_or_not_found(state, client, instance_id)
            await getattr(client, method)(instance_id, reason)

        state.run(body)
        done(
            as_json,
            {"instanceId": instance_id, "operation": verb, "sent": True},
            f"{past} instance {instance_id} (request sent)",
        )

    return command


CONTROL_COMMANDS = [
    _control_command(
        "terminate",
        "Terminating",
        "terminate",
        "Stop a running instance (it ends as Terminated). Exit 4 if it has already finished.",
    ),
    _control_command(
        "suspend",
        "Suspending",
        "suspend",
        "Pause an instance; events wait until it is resumed. Exit 4 if it has finished.",
    ),
    _control_command(
        "resume", "Resuming", "resume", "Continue a suspended instance. Exit 4 if it has finished."
    ),
    _control_command(
        "rewind",
        "Rewinding",
        "rewind",
        "Retry the failed work of a Failed instance. Exit 4 if it is not Failed.",
    ),
]


@click.command()
@click.argument("instance_id", metavar="ID")
@click.option(
    "--new-id/--same-id",
    "new_id",
    default=True,
    show_default=True,
    help="Start under a new instance id, or replace this one (it must have finished).",
)
@JSON_OPTION
@pass_state
def restart(state: CliState, instance_id: str, new_id: bool, as_json: bool) -> None:
    """Start an instance's orchestration again with its original input."""

    async def body(client: Any) -> str:
        await status_or_not_found(state, client, instance_id)
        return str(await client.restart(instance_id, restart_with_new_instance_id=new_id))

    started = state.run(body)
    done(
        as_json,
        {"instanceId": started, "restartedFrom": instance_id},
        f"Restarted {instance_id} as instance {started}",
    )


@click.command()
@click.argument("instance_id", metavar="[ID]", required=False)
@click.option("--created-from", type=TIME, help="Purge instances created at or after TIME.")
@click.option("--created-to", type=TIME, help="Purge instances created at or before TIME (e.g. 30d).")
@click.option(
    "--status",
    "statuses",
    type=STATUS,
    multiple=True,
    metavar="STATUS",
    help="Only this finished status (repeatable; default: Completed, Failed, Terminated, Canceled).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Purge ID even if it has not finished: terminate it, wait for a worker to record that, then "
    "purge. (An entity: delete it even if it has state.)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=MAX_WAIT_SECONDS),
    default=60.0,
    show_default=True,
    help="Seconds --force waits for a worker to record the termination.",
)
@JSON_OPTION
@pass_state
def purge(
    state: CliState,
    instance_id: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    statuses: tuple[str, ...],
    force: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Delete history and status: of instance ID, or of finished instances created in a time range.

    An instance that has not finished (Running, Pending, Suspended) is refused (exit 4) unless
    --force, which terminates it first; if no worker records the termination within --timeout,
    nothing is deleted (exit 1) and the instance ends as Terminated once a worker runs.
    """
    by_range = created_from is not None or created_to is not None
    if instance_id and (by_range or statuses):
        raise click.UsageError("Give either an instance ID or --created-from/--created-to, not both.")
    if not instance_id and not by_range:
        raise click.UsageError("Give an instance ID, or --created-from and/or --created-to to purge by time.")
    if instance_id:
        _purge_one(state, instance_id, force, timeout, as_json)
        return
    if force:
        raise click.UsageError(
            "--force applies to one instance ID; a time range only purges finished instances."
        )
    chosen = canonical_statuses(statuses)
    unfinished = [s for s in chosen if s in (*ACTIVE_STATUSES, "ContinuedAsNew")]
    if unfinished:
        raise click.BadParameter(
            f"{', '.join(unfinished)}: only finished instances (Completed, Failed, Terminated, Canceled) can be purged.",
            param_hint="'--status'",
        )
    _purge_range(state, created_from, created_to, chosen, as_json)


def _purge_one(state: CliState, instance_id: str, force: bool, timeout: float, as_json: bool) -> None:
    from ..errors import InvalidOperationError

    async def body(client: Any) -> tuple[int, bool]:
        found = await status_or_not_found(state, client, instance_id)
        unfinished = not found.runtime_status.is_terminal and not instance_id.startswith("@")
        try:
            result = await client.purge_instance_history(instance_id, force=force, timeout=timeout)
        except InvalidOperationError as e:
            if unfinished:
                raise Conflict(
                    f"Instance '{instance_id}' is {found.runtime_status.value}; terminate it first, "
                    "or purge with --force (terminates it, then purges it)."
                ) from None
            raise Conflict(str(e).replace("force=True", "--force")) from None
        return int(result.instances_deleted), unfinished and force

    deleted, terminated = state.run(body)
    verb = "Terminated and purged" if terminated else "Purged"
    done(as_json, {"instancesDeleted": deleted}, f"{verb} instance {instance_id}")


def _purge_range(
    state: CliState,
    created_from: datetime | None,
    created_to: datetime | None,
    statuses: list[str],
    as_json: bool,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("Purging"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=False,
        disable=as_json,
    )

    async def body(client: Any) -> int:
        terminal = statuses or ["Completed", "Failed", "Terminated", "Canceled"]
        matching = await client.get_status_by(
            created_time_from=created_from, created_time_to=created_to, runtime_status=terminal
        )
        with progress:
            task = progress.add_task("purge", total=len(matching))
            result = await client.purge_instance_history_by(
                created_time_from=created_from,
                created_time_to=created_to,
                runtime_status=terminal,
                on_progress=lambda done: progress.update(
                    task, completed=done, total=max(done, len(matching))
                ),
            )
        return int(result.instances_deleted)

    deleted = state.run(body)
    done(as_json, {"instancesDeleted": deleted}, f"Purged {deleted} instance(s)")


COMMANDS = [start, status, list_, raise_, *CONTROL_COMMANDS, restart, purge]
