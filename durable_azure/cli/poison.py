"""``durable-azure poison``: the messages the engine set aside, listed, shown, put back or deleted.

A message is set aside (recorded in the ``{Hub}Poison`` table with the reason and its original body,
then deleted from its queue) when it cannot be decoded, when an error says it can never succeed, or
when it was tried ``maxDequeueCount`` times. ``retry`` puts it back on the queue it came from.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .errors import CliError, NotFound
from .output import console, done, echo_json, fmt_time
from .params import JSON_OPTION
from .state import CliState, pass_state


async def _require_hub(client: Any, hub: str) -> None:
    if not await client.storage.exists():
        raise NotFound(f"Task hub '{hub}' does not exist (create it with 'durable-azure hub create').")


def _not_found(state: CliState, message_id: str) -> NotFound:
    return NotFound(f"No poison message '{message_id}' in task hub '{state.hub_name}'.")


def _preview(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@click.group()
def poison() -> None:
    """Messages the worker set aside: list, show, retry (put back on their queue) or delete them."""


@poison.command("list")
@click.option("--queue", metavar="QUEUE", help="Only messages that came from QUEUE.")
@click.option("--instance", "instance_id", metavar="ID", help="Only messages for instance ID.")
@JSON_OPTION
@pass_state
def list_(state: CliState, queue: str | None, instance_id: str | None, as_json: bool) -> None:
    """List set-aside messages, oldest first: id, when, queue, instance, event, attempts and reason."""

    async def body(client: Any) -> list[Any]:
        await _require_hub(client, state.hub_name)
        return list(await client.storage.poison.list(queue=queue, instance_id=instance_id))

    records = state.run(body)
    if as_json:
        echo_json([record.to_json() for record in records])
        return
    if not records:
        click.echo(f"No poison messages in task hub '{state.hub_name}'.")
        return
    from rich.table import Table

    table = Table(title=f"Poison messages ({len(records)})", title_justify="left")
    for column in ("Id", "Set aside", "Queue", "Instance", "Event", "Attempts", "Reason"):
        table.add_column(column, justify="right" if column == "Attempts" else "left", overflow="fold")
    for record in records:
        table.add_row(
            record.message_id,
            fmt_time(record.set_aside_at),
            record.queue,
            _preview(record.instance_id or "", 40),
            record.event_type or "",
            str(record.dequeue_count),
            _preview(record.reason, 100),
        )
    console().print(table)


@poison.command("show")
@click.argument("message_id", metavar="ID")
@JSON_OPTION
@pass_state
def show(state: CliState, message_id: str, as_json: bool) -> None:
    """Show one set-aside message: why it was set aside, and its original body."""

    async def body(client: Any) -> Any:
        await _require_hub(client, state.hub_name)
        return await client.storage.poison.get(message_id)

    record = state.run(body)
    if record is None:
        raise _not_found(state, message_id)
    if as_json:
        echo_json(record.to_json())
        return
    click.echo(f"Id:         {record.message_id}")
    click.echo(f"Queue:      {record.queue}")
    click.echo(f"Set aside:  {fmt_time(record.set_aside_at)} (after {record.dequeue_count} receive(s))")
    if record.instance_id:
        click.echo(f"Instance:   {record.instance_id}")
    if record.event_type:
        click.echo(f"Event:      {record.event_type}")
    click.echo(f"Reason:     {record.reason}")
    text = record.body or ""
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        pass
    click.echo("Body:")
    click.echo(text)


@poison.command("retry")
@click.argument("message_id", metavar="ID")
@JSON_OPTION
@pass_state
def retry(state: CliState, message_id: str, as_json: bool) -> None:
    """Put a set-aside message back on the queue it came from (and forget the record)."""

    async def body(client: Any) -> Any:
        await _require_hub(client, state.hub_name)
        try:
            return await client.storage.retry_poison(message_id)
        except KeyError:
            record = await client.storage.poison.get(message_id)
            raise CliError(
                f"Poison message '{message_id}' came from queue '{record.queue if record else '?'}', which is "
                f"not a queue of task hub '{state.hub_name}' with {client.storage.partition_count} "
                "partitions; nothing was changed."
            ) from None

    record = state.run(body)
    if record is None:
        raise _not_found(state, message_id)
    done(
        as_json,
        {"id": record.message_id, "queue": record.queue, "retried": True},
        f"Put poison message {record.message_id} back on {record.queue}.",
    )


@poison.command("delete")
@click.argument("message_id", metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_state
def delete(state: CliState, message_id: str, yes: bool, as_json: bool) -> None:
    """Delete a set-aside message for good (it is not put back anywhere)."""

    async def find(client: Any) -> Any:
        await _require_hub(client, state.hub_name)
        return await client.storage.poison.get(message_id)

    record = state.run(find)
    if record is None:
        raise _not_found(state, message_id)
    if not yes:
        click.confirm(
            f"Delete poison message {message_id} ({record.event_type or 'unreadable'} from {record.queue}) for good?",
            abort=True,
            err=True,
        )

    async def body(client: Any) -> None:
        await client.storage.poison.delete(record)

    state.run(body)
    done(as_json, {"id": message_id, "deleted": True}, f"Deleted poison message {message_id}.")


COMMANDS = [poison]
