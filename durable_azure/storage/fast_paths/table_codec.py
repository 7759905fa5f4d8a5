"""What the table fast paths share with the generated operations: errors, ETag default, pages."""

from __future__ import annotations

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


def valid_top(results_per_page: Any) -> bool:
    return results_per_page is None or (type(results_per_page) is int and results_per_page >= 0)


class QueryPage:
    """What ``TableEntityPropertiesPaged`` reads from the generated ``TableEntityQueryResponse``."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value
