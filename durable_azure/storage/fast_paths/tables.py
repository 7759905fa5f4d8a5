"""``TableClient`` with fast point reads, queries, entity writes and transactions."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any, cast

from azure.core import MatchConditions
from azure.core.async_paging import AsyncItemPaged
from azure.core.rest import HttpRequest
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from durable_azure.storage.fast_paths import batch
from durable_azure.storage.fast_paths.common import rfc1123
from durable_azure.storage.fast_paths.pipeline import FastPipeline
from durable_azure.storage.fast_paths.sdk import sdk_internals, sdk_path_needed
from durable_azure.storage.fast_paths.table_codec import (
    UNCONDITIONALLY,
    QueryPage,
    generated_table_error,
    raise_table_error,
    valid_top,
)


class FastTableClient(TableClient):
    """``TableClient`` with fast ``get_entity``, ``upsert_entity`` and ``submit_transaction``."""

    _fast: FastPipeline | None = None  # set per instance by FastTableServiceClient

    def _fast_for(self, kwargs: Mapping[str, Any]) -> FastPipeline | None:
        fast = self._fast
        if fast is None or self._cosmos_endpoint or sdk_path_needed(kwargs):
            return None
        return fast

    async def _send(
        self, fast: FastPipeline, request: HttpRequest, kwargs: dict[str, Any]
    ) -> tuple[Any, Any]:
        """Send a request made by the SDK's request builder (a path relative to the account), with
        its URL completed as the generated operation does; ``(pipeline_response, response)``."""
        generated = self._client
        request.url = generated._client.format_url(request.url, url=generated._config.url)
        pipeline_response = await fast.pipeline.run(request, **kwargs)
        return pipeline_response, pipeline_response.http_response

    def _keys(self, partition_key: str, row_key: str) -> dict[str, Any]:
        """The table and key arguments the SDK's client methods pass to a generated operation."""
        sdk = sdk_internals()
        return {
            "table": self.table_name,
            "partition_key": sdk.prepare_key(partition_key),
            "row_key": sdk.prepare_key(row_key),
            "version": self._client._config.version,
        }

    async def get_entity(
        self,
        partition_key: str,
        row_key: str,
        *,
        select: str | list[str] | None = None,
        **kwargs: Any,
    ) -> TableEntity:
        fast = self._fast_for(kwargs)
        if fast is None or not isinstance(partition_key, str) or not isinstance(row_key, str):
            return await super().get_entity(partition_key, row_key, select=select, **kwargs)
        user_select = None
        if select and not isinstance(select, str):
            user_select = ",".join(select)
        elif isinstance(select, str):
            user_select = select
        request = sdk_internals().build_get(**self._keys(partition_key, row_key), select=user_select)
        pipeline_response, response = await self._send(fast, request, kwargs)
        if response.status_code != 200:
            raise_table_error(response, pipeline_response, self.table_name)
        entity: TableEntity = sdk_internals().convert_to_entity(json.loads(response.body()))
        return entity

    def list_entities(
        self,
        *,
        results_per_page: int | None = None,
        select: str | list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncItemPaged[TableEntity]:
        fast = self._fast_for(kwargs)
        if fast is None or not valid_top(results_per_page):
            return super().list_entities(results_per_page=results_per_page, select=select, **kwargs)
        return self._entities_paged(fast, kwargs, None, select, results_per_page)

    def query_entities(
        self,
        query_filter: str,
        *,
        results_per_page: int | None = None,
        select: str | list[str] | None = None,
        parameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncItemPaged[TableEntity]:
        fast = self._fast_for(kwargs)
        if fast is None or not valid_top(results_per_page):
            return super().query_entities(
                query_filter,
                results_per_page=results_per_page,
                select=select,
                parameters=parameters,
                **kwargs,
            )
        query_filter = sdk_internals().parameter_filter_substitution(parameters, query_filter)
        return self._entities_paged(fast, kwargs, query_filter, select, results_per_page)

    def _entities_paged(
        self,
        fast: FastPipeline,
        request_options: dict[str, Any],
        query_filter: str | None,
        select: Any,
        results_per_page: int | None,
    ) -> AsyncItemPaged[TableEntity]:
        """The SDK's ``TableEntityPropertiesPaged`` (paging, continuation, ``_convert_to_entity``) over
        the fast request for one page."""
        if select and not isinstance(select, str):
            select = ",".join(select)
        kwargs: dict[str, Any] = {
            "table": self.table_name,
            "results_per_page": results_per_page,
            "select": select,
            "page_iterator_class": sdk_internals().TableEntityPropertiesPaged,
        }
        if query_filter is not None:
            kwargs["filter"] = query_filter
        return AsyncItemPaged(functools.partial(self._query_page, fast, request_options), **kwargs)

    async def _query_page(
        self,
        fast: FastPipeline,
        kwargs: dict[str, Any],
        *,
        table: str,
        top: int | None = None,
        select: str | None = None,
        filter: str | None = None,  # the generated operation's keyword
        next_partition_key: str | None = None,
        next_row_key: str | None = None,
        cls: Any = None,
        use_location: str | None = None,
    ) -> tuple[str, Any, dict[str, Any]]:
        """The generated ``query_entities`` operation as ``TableEntityPropertiesPaged`` calls it: one
        page as ``(location mode, response with .value, response headers)``."""
        request = sdk_internals().build_query(
            table=table,
            top=top,
            select=select,
            filter=filter,
            next_partition_key=next_partition_key,
            next_row_key=next_row_key,
            version=self._client._config.version,
        )
        pipeline_response, response = await self._send(fast, request, kwargs)
        if response.status_code != 200:  # the pager passes it through _process_table_error
            raise generated_table_error(response, pipeline_response)
        headers = response.headers
        page = QueryPage(json.loads(response.body()).get("value"))
        return (
            "primary",
            page,
            {
                "x-ms-continuation-NextPartitionKey": headers.get("x-ms-continuation-NextPartitionKey"),
                "x-ms-continuation-NextRowKey": headers.get("x-ms-continuation-NextRowKey"),
            },
        )

    async def _write_entity(
        self,
        fast: FastPipeline,
        mode: str | UpdateMode,
        entity: Any,
        kwargs: dict[str, Any],
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> tuple[Any, Any]:
        """A merge (PATCH) or replace (PUT) of ``entity`` through the SDK's request builder, with the
        JSON body azure-data-tables writes; ``(pipeline_response, response)``."""
        sdk = sdk_internals()
        build = sdk.build_merge if mode == UpdateMode.MERGE else sdk.build_update
        request = build(
            **self._keys(entity["PartitionKey"], entity["RowKey"]),
            etag=etag,
            match_condition=match_condition,
            json=sdk.add_entity_properties(entity),
        )
        return await self._send(fast, request, kwargs)

    @staticmethod
    def _write_metadata(response: Any, content: Any, *, preference: bool) -> Mapping[str, Any]:
        """``_trim_service_metadata`` of the response headers the generated operation reads."""
        sdk = sdk_internals()
        headers = response.headers
        date = headers.get("Date")
        raw: dict[str, Any] = {
            "x-ms-client-request-id": headers.get("x-ms-client-request-id"),
            "x-ms-request-id": headers.get("x-ms-request-id"),
            "x-ms-version": headers.get("x-ms-version"),
            "Date": rfc1123(date) if date is not None else None,
            "ETag": headers.get("ETag"),
        }
        if preference:  # insert_entity also reads these two
            raw["Preference-Applied"] = headers.get("Preference-Applied")
            raw["Content-Type"] = headers.get("Content-Type")
        result: Mapping[str, Any] = sdk.trim_service_metadata(sdk.normalize_headers(raw), content=content)
        return result

    async def upsert_entity(
        self, entity: Any, mode: str | UpdateMode = UpdateMode.MERGE, **kwargs: Any
    ) -> Mapping[str, Any]:
        fast = self._fast_for(kwargs)
        if fast is None or mode not in (UpdateMode.MERGE, UpdateMode.REPLACE):
            return await super().upsert_entity(entity, mode=mode, **kwargs)
        partition_key = entity["PartitionKey"]
        row_key = entity["RowKey"]
        if not isinstance(partition_key, str) or not isinstance(row_key, str):
            return await super().upsert_entity(entity, mode=mode, **kwargs)
        pipeline_response, response = await self._write_entity(fast, mode, entity, kwargs)
        if response.status_code != 204:
            raise_table_error(response, pipeline_response, self.table_name)
        return self._write_metadata(response, None, preference=False)

    async def update_entity(
        self,
        entity: Any,
        mode: str | UpdateMode = UpdateMode.MERGE,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **kwargs: Any,
    ) -> Mapping[str, Any]:
        fast = self._fast_for(kwargs)
        if fast is None or mode not in (UpdateMode.MERGE, UpdateMode.REPLACE):
            return await super().update_entity(
                entity, mode=mode, etag=etag, match_condition=match_condition, **kwargs
            )
        sdk = sdk_internals()
        if match_condition and not etag and isinstance(entity, TableEntity):
            etag = entity.metadata.get("etag")
        condition = sdk.get_match_condition(etag=etag, match_condition=match_condition or UNCONDITIONALLY)
        partition_key = entity["PartitionKey"]
        row_key = entity["RowKey"]
        if not isinstance(partition_key, str) or not isinstance(row_key, str):
            return await super().update_entity(
                entity, mode=mode, etag=etag, match_condition=match_condition, **kwargs
            )
        pipeline_response, response = await self._write_entity(
            fast, mode, entity, kwargs, etag=etag, match_condition=condition
        )
        if response.status_code != 204:
            raise_table_error(response, pipeline_response, self.table_name)
        return self._write_metadata(response, None, preference=False)

    async def create_entity(self, entity: Any, **kwargs: Any) -> Mapping[str, Any]:
        fast = self._fast_for(kwargs)
        if fast is None:
            return await super().create_entity(entity, **kwargs)
        sdk = sdk_internals()
        entity_json = sdk.add_entity_properties(entity)
        request = sdk.build_insert(
            table=self.table_name,
            version=self._client._config.version,
            content_type="application/json;odata=nometadata",
            json=entity_json,
        )
        pipeline_response, response = await self._send(fast, request, kwargs)
        status = response.status_code
        if status not in (201, 204):  # as the SDK: checks on the decoded error, then the generated one
            error = generated_table_error(response, pipeline_response)
            decoded = sdk.decode_error(error.response, error.message)
            sdk.validate_key_values(decoded, entity_json.get("PartitionKey"), entity_json.get("RowKey"))
            sdk.validate_tablename_error(decoded, self.table_name)
            raise error
        content = json.loads(response.body()) if status == 201 else None
        return self._write_metadata(response, content, preference=True)

    async def submit_transaction(
        self,
        operations: Iterable[Any] | AsyncIterable[Any],
        **kwargs: Any,
    ) -> list[Mapping[str, Any]]:
        fast = self._fast_for(kwargs)
        if fast is None or isinstance(operations, AsyncIterable):
            return await super().submit_transaction(operations, **kwargs)
        operations = list(operations)
        if not 0 < len(operations) <= 100:  # the SDK's own (odd) answers for empty and oversized batches
            return await super().submit_transaction(operations, **kwargs)
        return await batch.submit_transaction(self, fast, operations, kwargs)


class FastTableServiceClient(TableServiceClient):
    """``TableServiceClient`` whose table clients have the fast paths."""

    _fast: FastPipeline | None = None

    def get_table_client(self, table_name: str, **kwargs: Any) -> TableClient:
        client = super().get_table_client(table_name, **kwargs)
        if self._fast is not None and type(client) is TableClient:
            client.__class__ = FastTableClient
            cast(FastTableClient, client)._fast = self._fast
        return client
