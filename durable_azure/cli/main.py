"""``durable-azure``: operate a task hub from the terminal.

Exit codes: 0 ok; 1 the operation failed (or the instance reported on has Failed);
2 usage error; 3 not found (instance, entity, task hub); 4 conflict (wrong state for the operation).
Errors are one line on stderr. ``--json`` prints machine-readable output on stdout.

The commands live beside this entry point: ``instances`` (start, status, list, raise, terminate,
suspend, resume, rewind, restart, purge), ``inspect`` (history), ``entities`` (signal, entity,
entities), ``poison`` (list, show, retry, delete), ``host`` (serve, worker), ``migrate`` (migrate-v1) and ``package`` (a deployable app folder); the plumbing in ``errors`` (exit codes), ``params``
(parameter types), ``output`` and ``state`` (global options and the client).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from . import entities, host, inspect, instances, migrate, package, poison
from .errors import EXIT_CONFLICT, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, NotFound, one_line
from .output import console, echo_json, styled_status
from .params import JSON_OPTION
from .state import CliState, pass_state

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--connection",
    metavar="CONN",
    envvar=None,
    help="Azure Storage connection string. Default: the app setting host.json's "
    "storageProvider.connectionName names (AzureWebJobsStorage if none) from the environment or "
    "local.settings.json, else UseDevelopmentStorage=true (Azurite).",
)
@click.option(
    "--hub", metavar="NAME", help="Task hub name. Default: extensions.durableTask.hubName in host.json."
)
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Function app folder (host.json, local.settings.json, function_app.py).",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 16),
    metavar="N",
    help="Partition count. Default: the hub's taskhub.json, else host.json, else 4.",
)
@click.version_option(package_name="durable-azure", prog_name="durable-azure")
@click.pass_context
def cli(
    ctx: click.Context, connection: str | None, hub: str | None, app_dir: str, partitions: int | None
) -> None:
    """Operate a durable-azure task hub: start, inspect and control orchestration instances.

    Exit codes: 0 ok, 1 failed (operation, or the instance reported on), 2 usage error,
    3 not found, 4 conflict (instance in the wrong state).
    """
    ctx.obj = CliState(connection=connection, hub=hub, app_dir=app_dir, partitions=partitions)


# ============================================================================= hub


@cli.group()
def hub() -> None:
    """Create, describe or delete the task hub (tables, queues and containers)."""


@hub.command("create")
@JSON_OPTION
@pass_state
def hub_create(state: CliState, as_json: bool) -> None:
    """Create every table, queue and container of the task hub (existing ones are kept)."""

    async def body(client: Any) -> dict[str, Any]:
        storage = client.storage
        await storage.create_if_not_exists()
        return {
            "hub": storage.hub_name,
            "partitionCount": storage.partition_count,
            "tables": [storage.history.table_name, storage.instances.table_name]
            + ([storage.partition_table.table_name] if storage.table_partitions else []),
            "queues": [q.name for q in storage.control_queues] + [storage.workitems.name],
            "containers": ([] if storage.table_partitions else [storage.leases.container_name])
            + [storage.payloads.container_name, storage.app_lease.container_name],
        }

    info = state.run(body)
    if as_json:
        echo_json(info)
    else:
        click.echo(f"Task hub '{info['hub']}' is ready ({info['partitionCount']} partitions).")
        click.echo(f"  tables:     {', '.join(info['tables'])}")
        click.echo(f"  queues:     {', '.join(info['queues'])}")
        click.echo(f"  containers: {', '.join(info['containers'])}")


async def _require_hub(client: Any, hub: str) -> None:
    if not await client.storage.exists():  # taskhub.json or the {Hub}Partitions table
        raise NotFound(f"Task hub '{hub}' does not exist (create it with 'durable-azure hub create').")


@hub.command("info")
@JSON_OPTION
@pass_state
def hub_info(state: CliState, as_json: bool) -> None:
    """Partitions and their owners (``{Hub}Partitions`` rows or lease blobs), the app lease, queue
    depths, poison messages, and instance counts by status."""

    async def body(client: Any) -> dict[str, Any]:
        await _require_hub(client, state.hub_name)
        return dict(await client.storage.describe())

    info = state.run(body)
    if as_json:
        echo_json(info)
        return
    from rich.table import Table

    out = console()
    out.print(
        f"Task hub [bold]{info['hub']}[/bold]: {info['partitionCount']} partitions, "
        f"{info['workItems']} work item(s) queued, {info['poison']} poison message(s)"
    )
    layouts = " and ".join(
        {"table": "the Partitions table", "blob": "lease blobs", "safe": "DTFx ownership/ lease blobs"}[name]
        for name in info["partitionLayouts"]
    )
    app_lease = info["appLease"]
    out.print(
        f"Partition ownership: {layouts or 'none recorded'}; app lease: "
        + (f"held by {app_lease['ownerId']}" if app_lease["leased"] else "not held")
    )
    table = Table(title="Partitions", title_justify="left")
    for column in ("Partition", "Owner", "Leased", "Messages"):
        table.add_column(column, justify="right" if column == "Messages" else "left")
    for p in info["partitions"]:
        table.add_row(p["partition"], p["owner"] or "-", "yes" if p["leased"] else "no", str(p["messages"]))
    out.print(table)
    if info["poison"]:
        out.print(f"{info['poison']} message(s) set aside: see 'durable-azure poison list'.")
    counts = Table(title="Instances", title_justify="left")
    counts.add_column("Status")
    counts.add_column("Count", justify="right")
    for status, count in sorted(info["instances"].items()):
        counts.add_row(styled_status(status), str(count))
    counts.add_row("[bold]total[/bold]", f"[bold]{sum(info['instances'].values())}[/bold]")
    out.print(counts)


@hub.command("delete")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_state
def hub_delete(state: CliState, yes: bool, as_json: bool) -> None:
    """Delete the task hub: every instance, its history, queued messages, partition ownership
    ({Hub}Partitions, lease blobs) and the app lease."""
    hub_name = state.hub_name

    async def exists(client: Any) -> bool:
        return bool(await client.storage.exists())

    if not state.run(exists):
        raise NotFound(f"Task hub '{hub_name}' does not exist.")
    if not yes:
        click.confirm(
            f"Delete task hub '{hub_name}' with all its instances, history and messages?",
            abort=True,
            err=True,
        )

    async def body(client: Any) -> None:
        await client.storage.delete()

    state.run(body)
    if as_json:
        echo_json({"hub": hub_name, "deleted": True})
    else:
        click.echo(f"Deleted task hub '{hub_name}'.")


for _command in (
    *instances.COMMANDS,
    *inspect.COMMANDS,
    *entities.COMMANDS,
    *poison.COMMANDS,
    *host.COMMANDS,
    *package.COMMANDS,
    *migrate.COMMANDS,
):
    cli.add_command(_command)


# ============================================================================= entry point


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors on stderr, meaningful exit codes."""
    try:
        code = cli.main(args=argv, prog_name="durable-azure", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_FAILED)
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"Error: {one_line(e.format_message())}{hint}", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as e:
        click.echo(f"Error: {one_line(e.format_message())}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


__all__ = ["EXIT_CONFLICT", "EXIT_FAILED", "EXIT_NOT_FOUND", "EXIT_OK", "EXIT_USAGE", "cli", "main"]

if __name__ == "__main__":
    main()
