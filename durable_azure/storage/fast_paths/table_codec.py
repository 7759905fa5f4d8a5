"""Table entity bodies, response metadata and errors exactly as azure-data-tables makes them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, map_error

from durable_azure.storage.fast_paths.common import ERROR_MAP
from durable_azure.storage.fast_paths.sdk import sdk_internals


def generated_table_error(response: Any, pipeline_response: Any) -> HttpResponseError:
    """What a generated table operation raises for an unexpected status."""
    try:
        map_error(status_code=response.status_code, response=response, error_map=ERROR_MAP)
    except HttpResponseError as error:
        return error
    sdk = sdk_internals()
    model = sdk.table_deserializer.failsafe_deserialize(sdk.TableServiceError, pipeline_response)
    return HttpResponseError(response=response, model=model)


def raise_table_error(response: Any, pipeline_response: Any, table_name: str) -> None:
    """Exactly what a table client method raises: the generated error through ``_process_table_error``."""
    sdk_internals().process_table_error(
        generated_table_error(response, pipeline_response), table_name=table_name
    )


UNCONDITIONALLY = MatchConditions.Unconditionally


_INT32 = range(-(2**31), 2**31)


def entity_body(entity: Mapping[str, Any]) -> str:
    """The JSON body azure-data-tables sends for ``entity`` (``_add_entity_properties``, then
    azure-core's ``json.dumps``): written directly for the plain property types (str, bool, Int32,
    finite float, None), by the SDK's serializer for anything else."""
    properties: dict[str, Any] = {}
    for name, value in entity.items():
        kind = type(value)
        if kind is str:
            properties[name] = value
            properties[name + "@odata.type"] = "Edm.String"
        elif kind is bool or (kind is int and value in _INT32):
            properties[name] = value
        elif kind is float and math.isfinite(value):
            properties[name] = value
            properties[name + "@odata.type"] = "Edm.Double"
        elif value is not None:
            sdk = sdk_internals()
            return json.dumps(sdk.add_entity_properties(entity), cls=sdk.json_encoder)
    return json.dumps(properties)


def valid_top(results_per_page: Any) -> bool:
    return results_per_page is None or (type(results_per_page) is int and results_per_page >= 0)


class QueryPage:
    """What ``TableEntityPropertiesPaged`` reads from the generated ``TableEntityQueryResponse``."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


BATCH_OPTIONS = {
    "upsert": frozenset({"mode"}),
    "update": frozenset({"mode", "etag", "match_condition"}),
    "delete": frozenset({"etag", "match_condition"}),
}
