"""The scenarios of bench/verify_fast_paths.py: each one call (or a few) through the queue and table
clients a :class:`~durable_azure.storage.clients.StorageClients` hands out, run once with the fast
paths off and once with them on, on resources of the same shape (:class:`Env`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import EdmType, EntityProperty, UpdateMode

from durable_azure.storage.clients import RequestCounter, StorageClients

# ------------------------------------------------------------------------------ scenarios


class Env:
    """One side: clients, a queue, an empty queue, a table."""

    def __init__(self, clients: StorageClients, wire: RequestCounter, tag: str) -> None:
        self.clients, self.wire = clients, wire
        suffix = uuid.uuid4().hex[:8]
        self.queue_name = f"vfp{tag}{suffix}"
        self.table_name = f"vfp{tag}{suffix}T"
        self.names = {self.queue_name: "QUEUE", self.table_name: "TABLE"}
        self.queue = clients.queues.get_queue_client(self.queue_name)
        self.empty = clients.queues.get_queue_client(self.queue_name + "-empty")
        self.missing_queue = clients.queues.get_queue_client(self.queue_name + "-missing")
        self.table = clients.tables.get_table_client(self.table_name)
        self.missing_table = clients.tables.get_table_client(self.table_name + "Missing")
        self.names[self.queue_name + "-empty"] = "QUEUE-empty"
        self.names[self.queue_name + "-missing"] = "QUEUE-missing"
        self.names[self.table_name + "Missing"] = "TABLEMissing"
        self.received: list[Any] = []

    async def create(self) -> None:
        await self.queue.create_queue()
        await self.empty.create_queue()
        await self.clients.tables.create_table(self.table_name)

    async def delete(self) -> None:
        for step in (
            self.queue.delete_queue(),
            self.empty.delete_queue(),
            self.clients.tables.delete_table(self.table_name),
        ):
            try:
                await step
            except Exception:
                pass


def entity(pk: str, rk: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": pk,
        "RowKey": rk,
        "Text": "héllo 'quoted' <xml> & \u2603",
        "Int": 42,
        "Big": EntityProperty(2**40, EdmType.INT64),
        "Float": 1.5,
        "Bool": True,
        "When": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc),
        "Guid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "Bytes": b"\x00\x01binary",
        "Empty": "",
    }
    row.update(extra)
    return row


async def receive(q: Any, **kwargs: Any) -> list[Any]:
    pages = q.receive_messages(**kwargs).by_page()
    out: list[Any] = []
    try:
        async for page in pages:
            out.extend([m async for m in page])
    except StopAsyncIteration:
        pass
    return out


async def first_page(q: Any, **kwargs: Any) -> Any:
    pages = q.receive_messages(**kwargs).by_page()
    try:
        page = await pages.__anext__()
    except StopAsyncIteration as stop:
        return {"StopAsyncIteration": str(stop)}
    return [m async for m in page]


Scenario = Callable[[Env], Awaitable[Any]]


def scenarios() -> dict[str, Scenario]:
    pk = "p'1 é%x"

    async def send_plain(e: Env) -> Any:
        return await e.queue.send_message("hello <&> 'é' \"q\" \r\n\u2603", time_to_live=-1)

    async def send_options(e: Env) -> Any:
        return await e.queue.send_message(
            "later", visibility_timeout=0, time_to_live=3600, timeout=30, retry_total=0
        )

    async def send_missing_queue(e: Env) -> Any:
        return await e.missing_queue.send_message("x", time_to_live=-1)

    async def send_too_large(e: Env) -> Any:
        return await e.queue.send_message("x" * 70000)

    async def receive_batch(e: Env) -> Any:
        got = await first_page(e.queue, messages_per_page=32, max_messages=32, visibility_timeout=300)
        e.received = got if isinstance(got, list) else []
        return got

    async def receive_empty(e: Env) -> Any:
        return await first_page(
            e.empty,
            messages_per_page=32,
            max_messages=32,
            visibility_timeout=300,
            retry_total=0,
            read_timeout=10,
        )

    async def receive_paged(e: Env) -> Any:
        for i in range(5):
            await e.queue.send_message(f"m{i}", time_to_live=-1)
        got = await receive(e.queue, messages_per_page=2, max_messages=5, visibility_timeout=1)
        return sorted(m.content for m in got), [m.dequeue_count for m in got]

    async def receive_missing_queue(e: Env) -> Any:
        return await first_page(e.missing_queue, messages_per_page=1, max_messages=1)

    async def receive_bad_count(e: Env) -> Any:
        return await first_page(e.queue, messages_per_page=64, max_messages=64)

    async def delete_by_id(e: Env) -> Any:
        m = e.received[0]
        return await e.queue.delete_message(m.id, m.pop_receipt)

    async def delete_by_message(e: Env) -> Any:
        return await e.queue.delete_message(e.received[1])

    async def delete_stale_receipt(e: Env) -> Any:
        await e.queue.send_message("stale", time_to_live=-1)
        got = await first_page(e.queue, messages_per_page=32, max_messages=32, visibility_timeout=1)
        target = next(m for m in got if m.content == "stale")
        await e.queue.update_message(target, visibility_timeout=1)  # a new pop receipt
        return await e.queue.delete_message(target.id, target.pop_receipt)

    async def update_content(e: Env) -> Any:
        # the engine's forms (storage/queues.py): rewrite a hidden work item, renew, abandon
        sent = await e.queue.send_message("before <&>", visibility_timeout=30, time_to_live=-1)
        rewritten = await e.queue.update_message(
            sent.id, sent.pop_receipt, "after <&> \u2603", visibility_timeout=0
        )
        renewed = await e.queue.update_message(rewritten.id, rewritten.pop_receipt, visibility_timeout=5)
        shown = await e.queue.update_message(renewed.id, renewed.pop_receipt, visibility_timeout=0)
        got = await first_page(e.queue, messages_per_page=32, max_messages=32, visibility_timeout=1)
        texts = sorted(m.content for m in got)
        return [
            {k: (v if k in ("content",) else type(v).__name__) for k, v in vars(m).items()}
            for m in (rewritten, renewed, shown)
        ] + [texts.count("after <&> \u2603")]

    async def update_stale_receipt(e: Env) -> Any:
        sent = await e.queue.send_message("stale-update", visibility_timeout=30, time_to_live=-1)
        await e.queue.update_message(sent.id, sent.pop_receipt, visibility_timeout=30)
        return await e.queue.update_message(sent.id, sent.pop_receipt, "x", visibility_timeout=0)

    async def delete_without_receipt(e: Env) -> Any:
        return await e.queue.delete_message("some-id")

    async def delete_missing_message(e: Env) -> Any:
        return await e.queue.delete_message("00000000-0000-0000-0000-000000000000", "AAAAAA==")

    async def upsert_merge(e: Env) -> Any:
        return await e.table.upsert_entity(entity(pk, "r1"))

    async def upsert_replace(e: Env) -> Any:
        return await e.table.upsert_entity(entity(pk, "r2", Extra=7), mode=UpdateMode.REPLACE)

    def plain(rk: str, **extra: Any) -> dict[str, Any]:
        row = {
            "PartitionKey": pk,
            "RowKey": rk,
            "S": 'ünïcode \u2603 "quotes" \\ back\nslash',
            "Empty": "",
            "I": -(2**31),
            "J": 2**31 - 1,
            "Zero": 0,
            "F": 1e300,
            "NegZero": -0.0,
            "Tiny": 5e-324,
            "T": True,
            "No": False,
            "Nothing": None,
        }
        row.update(extra)
        return row

    async def upsert_plain_types(e: Env) -> Any:
        await e.table.upsert_entity(plain("p1"))
        return await e.table.get_entity(pk, "p1")

    async def upsert_special_floats(e: Env) -> Any:
        await e.table.upsert_entity(plain("p2", Nan=float("nan"), Inf=float("inf"), MinusInf=float("-inf")))
        got = await e.table.get_entity(pk, "p2")
        return {k: repr(v) for k, v in got.items()}

    async def upsert_int_too_big(e: Env) -> Any:
        return await e.table.upsert_entity(plain("p3", Big=2**31))

    async def upsert_enum_value(e: Env) -> Any:
        await e.table.upsert_entity(plain("p4", Mode=UpdateMode.MERGE))
        return await e.table.get_entity(pk, "p4")

    async def batch_plain_types(e: Env) -> Any:
        return await e.table.submit_transaction(
            [("upsert", plain("q1")), ("create", plain("q2", Extra=1.25)), ("upsert", plain("q3", Big=2**31))]
        )

    async def batch_plain_types_ok(e: Env) -> Any:
        return await e.table.submit_transaction(
            [("upsert", plain("q1")), ("create", plain("q2", Extra=1.25))]
        )

    async def create_new(e: Env) -> Any:
        return await e.table.create_entity(entity(pk, "n1"))

    async def create_plain(e: Env) -> Any:
        return await e.table.create_entity(plain("n2"))

    async def create_existing(e: Env) -> Any:
        return await e.table.create_entity(entity(pk, "n1"))

    async def create_missing_table(e: Env) -> Any:
        return await e.missing_table.create_entity(entity(pk, "n1"))

    async def create_no_rowkey(e: Env) -> Any:
        return await e.table.create_entity({"PartitionKey": pk, "X": 1})

    async def update_unconditional(e: Env) -> Any:
        return await e.table.update_entity(plain("n2", Extra=3))

    async def update_replace_etag(e: Env) -> Any:
        current = await e.table.get_entity(pk, "n2")
        current["Extra"] = 4
        return await e.table.update_entity(
            current, mode=UpdateMode.REPLACE, match_condition=MatchConditions.IfNotModified
        )

    async def update_merge_explicit_etag(e: Env) -> Any:
        current = await e.table.get_entity(pk, "n2")
        return await e.table.update_entity(
            {"PartitionKey": pk, "RowKey": "n2", "Extra": 5},
            etag=current.metadata["etag"],
            match_condition=MatchConditions.IfNotModified,
            retry_total=0,
        )

    async def update_stale_etag(e: Env) -> Any:
        return await e.table.update_entity(
            {"PartitionKey": pk, "RowKey": "n2"},
            etag="W/\"datetime'2020-01-01T00%3A00%3A00.0000000Z'\"",
            match_condition=MatchConditions.IfNotModified,
        )

    async def update_missing_row(e: Env) -> Any:
        return await e.table.update_entity({"PartitionKey": pk, "RowKey": "absent"})

    async def update_etag_without_condition(e: Env) -> Any:
        return await e.table.update_entity({"PartitionKey": pk, "RowKey": "n2"}, etag="W/x")

    async def update_bad_mode(e: Env) -> Any:
        return await e.table.update_entity({"PartitionKey": pk, "RowKey": "n2"}, mode="sideways")

    async def upsert_missing_table(e: Env) -> Any:
        return await e.missing_table.upsert_entity(entity(pk, "r1"))

    async def upsert_bad_key(e: Env) -> Any:
        return await e.table.upsert_entity(entity(pk, "bad/key"))

    async def get_full(e: Env) -> Any:
        return await e.table.get_entity(pk, "r1")

    async def get_select_list(e: Env) -> Any:
        return await e.table.get_entity(pk, "r2", select=["RowKey", "Int", "Extra"], retry_total=0)

    async def get_select_str(e: Env) -> Any:
        return await e.table.get_entity(pk, "r2", select="Text")

    async def get_missing_row(e: Env) -> Any:
        return await e.table.get_entity(pk, "nope")

    async def get_missing_table(e: Env) -> Any:
        return await e.missing_table.get_entity(pk, "r1")

    async def batch_mixed(e: Env) -> Any:
        current = await e.table.get_entity(pk, "r1")
        return await e.table.submit_transaction(
            [
                ("create", entity(pk, "b1")),
                ("upsert", entity(pk, "b2")),
                ("upsert", entity(pk, "b3"), {"mode": UpdateMode.REPLACE}),
                (
                    "update",
                    {"PartitionKey": pk, "RowKey": "r1", "Int": 43},
                    {
                        "mode": UpdateMode.MERGE,
                        "etag": current.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                ),
                ("delete", {"PartitionKey": pk, "RowKey": "r2"}),
            ]
        )

    async def batch_stale_etag(e: Env) -> Any:
        stale = "W/\"datetime'2020-01-01T00%3A00%3A00.0000000Z'\""
        return await e.table.submit_transaction(
            [
                ("upsert", entity(pk, "s1")),
                (
                    "update",
                    {"PartitionKey": pk, "RowKey": "r1"},
                    {"etag": stale, "match_condition": MatchConditions.IfNotModified},
                ),
            ]
        )

    async def batch_create_existing(e: Env) -> Any:
        return await e.table.submit_transaction([("upsert", entity(pk, "c0")), ("create", entity(pk, "b1"))])

    async def batch_duplicate_row(e: Env) -> Any:
        return await e.table.submit_transaction([("upsert", entity(pk, "d1")), ("upsert", entity(pk, "d1"))])

    async def batch_update_missing(e: Env) -> Any:
        return await e.table.submit_transaction([("update", entity(pk, "missing"))])

    async def batch_two_partitions(e: Env) -> Any:
        return await e.table.submit_transaction([("upsert", entity("a", "1")), ("upsert", entity("b", "1"))])

    async def batch_bad_operation(e: Env) -> Any:
        return await e.table.submit_transaction([("frobnicate", entity(pk, "x"))])

    async def batch_missing_table(e: Env) -> Any:
        return await e.missing_table.submit_transaction([("upsert", entity(pk, "x"))])

    async def batch_deletes(e: Env) -> Any:
        return await e.table.submit_transaction(
            [("delete", {"PartitionKey": pk, "RowKey": rk}) for rk in ("b1", "b2", "b3")]
        )

    async def batch_conditional_forms(e: Env) -> Any:
        from azure.data.tables import TransactionOperation

        await e.table.upsert_entity(entity(pk, "c1"))
        await e.table.upsert_entity(entity(pk, "c2"))
        await e.table.upsert_entity(entity(pk, "c3"))
        c1 = await e.table.get_entity(pk, "c1")
        c2 = await e.table.get_entity(pk, "c2")
        c1["Int"] = 99
        return await e.table.submit_transaction(
            [
                (
                    TransactionOperation.UPDATE,
                    c1,
                    {"mode": UpdateMode.REPLACE, "match_condition": MatchConditions.IfNotModified},
                ),
                (
                    "Delete",
                    {"PartitionKey": pk, "RowKey": "c2"},
                    {"etag": c2.metadata["etag"], "match_condition": MatchConditions.IfNotModified},
                ),
                (TransactionOperation.UPSERT, entity(pk, "c4"), {"mode": "replace"}),
                ("update", {"PartitionKey": pk, "RowKey": "c3", "Int": 1}),
                (TransactionOperation.CREATE, entity(pk, "c5")),
            ]
        )

    async def batch_engine_shapes(e: Env) -> Any:
        # the history append's operations (batch_parts.py writes these directly) under awkward keys
        key = pk + " 'q' %c+&=\u00e9\u2603"  # / \\ # ? are not allowed in keys
        first = await e.table.submit_transaction(
            [
                ("upsert", entity(key, "0000000000000000"), {"mode": UpdateMode.REPLACE}),
                ("create", {"PartitionKey": key, "RowKey": "sentinel", "N": 1}),
            ]
        )
        sentinel = await e.table.get_entity(key, "sentinel")
        second = await e.table.submit_transaction(
            [
                ("upsert", entity(key, "0000000000000001"), {"mode": UpdateMode.REPLACE}),
                ("upsert", entity(key, "0000000000000002")),
                (
                    "update",
                    {"PartitionKey": key, "RowKey": "sentinel", "N": 2},
                    {
                        "mode": UpdateMode.MERGE,
                        "etag": sentinel.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                ),
                (
                    "update",
                    {"PartitionKey": key, "RowKey": "0000000000000000", "N": 3},
                    {"mode": UpdateMode.REPLACE},
                ),
            ]
        )
        return [[sorted(r) for r in first], [sorted(r) for r in second]]

    async def batch_delete_entity_etag(e: Env) -> Any:
        await e.table.upsert_entity(entity(pk, "e1"))
        e1 = await e.table.get_entity(pk, "e1")
        return await e.table.submit_transaction(
            [("delete", e1, {"match_condition": MatchConditions.IfNotModified})]
        )

    async def batch_unusual_kwargs(e: Env) -> Any:
        return await e.table.submit_transaction(
            [("upsert", entity(pk, "u1"), {"mode": UpdateMode.MERGE, "timeout": 5})]
        )

    async def batch_bad_mode(e: Env) -> Any:
        return await e.table.submit_transaction([("upsert", entity(pk, "u2"), {"mode": "sideways"})])

    async def batch_etag_unconditional(e: Env) -> Any:
        return await e.table.submit_transaction([("update", entity(pk, "c4"), {"etag": "W/x"})])

    async def batch_missing_rowkey(e: Env) -> Any:
        return await e.table.submit_transaction([("upsert", {"PartitionKey": pk})])

    async def batch_list_not_tuple(e: Env) -> Any:
        return await e.table.submit_transaction([["upsert", entity(pk, "l1")]])

    async def batch_generator(e: Env) -> Any:
        return await e.table.submit_transaction(("upsert", entity(pk, f"g{i}")) for i in range(3))

    async def pages(paged: Any) -> Any:
        out = []
        async for page in paged.by_page():
            out.append([dict(x) | {"@etag": "E" if x.metadata.get("etag") else None} async for x in page])
        return out

    async def query_parameters(e: Env) -> Any:
        return await pages(
            e.table.query_entities("PartitionKey eq @pk and Int ge @n", parameters={"pk": pk, "n": 40})
        )

    async def query_select_paged(e: Env) -> Any:
        return await pages(
            e.table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey", "Int"], results_per_page=3
            )
        )

    async def query_select_str_retry(e: Env) -> Any:
        return await pages(e.table.query_entities("RowKey ge 'c'", select="RowKey", retry_total=0))

    async def query_empty(e: Env) -> Any:
        return await pages(e.table.query_entities("PartitionKey eq 'nothing-here'"))

    async def query_bad_filter(e: Env) -> Any:
        return await pages(e.table.query_entities("startswith(RowKey,'a')"))

    async def query_missing_table(e: Env) -> Any:
        return await pages(e.missing_table.query_entities("PartitionKey eq 'x'"))

    async def query_server_timeout(e: Env) -> Any:
        return await pages(e.table.query_entities("PartitionKey eq 'x'", timeout=5))

    async def list_all_paged(e: Env) -> Any:
        return await pages(e.table.list_entities(results_per_page=4))

    async def list_select(e: Env) -> Any:
        return await pages(e.table.list_entities(select=["PartitionKey", "RowKey"]))

    async def get_after_batch(e: Env) -> Any:
        return [dict(x) async for x in e.table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})]

    return {
        "send_plain": send_plain,
        "send_options": send_options,
        "send_missing_queue": send_missing_queue,
        "send_too_large": send_too_large,
        "receive_batch": receive_batch,
        "receive_empty": receive_empty,
        "delete_by_id": delete_by_id,
        "delete_by_message": delete_by_message,
        "delete_without_receipt": delete_without_receipt,
        "delete_missing_message": delete_missing_message,
        "delete_stale_receipt": delete_stale_receipt,
        "receive_paged": receive_paged,
        "receive_missing_queue": receive_missing_queue,
        "receive_bad_count": receive_bad_count,
        "upsert_merge": upsert_merge,
        "upsert_replace": upsert_replace,
        "upsert_missing_table": upsert_missing_table,
        "create_new": create_new,
        "create_plain": create_plain,
        "create_existing": create_existing,
        "create_missing_table": create_missing_table,
        "create_no_rowkey": create_no_rowkey,
        "update_unconditional": update_unconditional,
        "update_replace_etag": update_replace_etag,
        "update_merge_explicit_etag": update_merge_explicit_etag,
        "update_stale_etag": update_stale_etag,
        "update_missing_row": update_missing_row,
        "update_etag_without_condition": update_etag_without_condition,
        "update_bad_mode": update_bad_mode,
        "upsert_plain_types": upsert_plain_types,
        "upsert_special_floats": upsert_special_floats,
        "upsert_int_too_big": upsert_int_too_big,
        "upsert_enum_value": upsert_enum_value,
        "batch_plain_types": batch_plain_types,
        "batch_plain_types_ok": batch_plain_types_ok,
        "upsert_bad_key": upsert_bad_key,
        "get_full": get_full,
        "get_select_list": get_select_list,
        "get_select_str": get_select_str,
        "get_missing_row": get_missing_row,
        "get_missing_table": get_missing_table,
        "batch_mixed": batch_mixed,
        "batch_stale_etag": batch_stale_etag,
        "batch_create_existing": batch_create_existing,
        "batch_duplicate_row": batch_duplicate_row,
        "batch_update_missing": batch_update_missing,
        "batch_two_partitions": batch_two_partitions,
        "batch_bad_operation": batch_bad_operation,
        "batch_missing_table": batch_missing_table,
        "batch_deletes": batch_deletes,
        "batch_conditional_forms": batch_conditional_forms,
        "batch_engine_shapes": batch_engine_shapes,
        "update_content": update_content,
        "update_stale_receipt": update_stale_receipt,
        "batch_delete_entity_etag": batch_delete_entity_etag,
        "batch_unusual_kwargs": batch_unusual_kwargs,
        "batch_bad_mode": batch_bad_mode,
        "batch_etag_unconditional": batch_etag_unconditional,
        "batch_missing_rowkey": batch_missing_rowkey,
        "batch_list_not_tuple": batch_list_not_tuple,
        "batch_generator": batch_generator,
        "get_after_batch": get_after_batch,
        "query_parameters": query_parameters,
        "query_select_paged": query_select_paged,
        "query_select_str_retry": query_select_str_retry,
        "query_empty": query_empty,
        "query_bad_filter": query_bad_filter,
        "query_missing_table": query_missing_table,
        "query_server_timeout": query_server_timeout,
        "list_all_paged": list_all_paged,
        "list_select": list_select,
    }
