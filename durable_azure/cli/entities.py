"""``durable-azure`` commands on durable entities: signal one, read one's state, list them."""

from __future__ import annotations

from typing import Any

import click

from .errors import NotFound
from .output import console, done, echo_json, json_preview
from .params import JSON, JSON_OPTION
from .state import CliState, pass_state


def checked(value: str, what: str, param_hint: str) -> str:
    """``value`` if it is a valid name (limits: durable_azure.orchestration.limits), else a usage error."""
    from ..errors import InvalidInputError
    from ..orchestration.limits import check_name

    try:
        return check_name(value, what)
    except InvalidInputError as e:
        raise click.BadParameter(str(e), param_hint=param_hint) from None


def _entity_id(name: str, key: str) -> Any:
    """The EntityId, checked (name, key characters, key length) before storage is touched."""
    from ..errors import InvalidInstanceIdError
    from ..orchestration.entity_id import EntityId
    from ..orchestration.limits import check_entity_id

    try:
        entity_id = EntityId(name, key)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'ENTITY'") from None
    try:
        check_entity_id(entity_id)
    except InvalidInstanceIdError as e:
        hint = "'KEY'" if "entity key" in str(e) or "Table key" in str(e) else "'ENTITY'"
        raise click.BadParameter(str(e), param_hint=hint) from None
    return entity_id


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
    checked(operation, "operation name", "'OP'")

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


COMMANDS = [signal, entity, entities]
