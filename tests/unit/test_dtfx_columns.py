"""Small DTFx column rules: a failure's Output text, the Tags column, FNV over .NET's UTF-8 bytes."""

from __future__ import annotations

from durable_azure.errors import FailureDetails
from durable_azure.orchestration import serialization
from durable_azure.storage.instance_table import status_output, tags_json
from durable_azure.storage.naming import dotnet_utf8, fnv1a_32, partition_index


def test_a_failure_output_is_failure_details_to_string() -> None:
    failure = FailureDetails("System.InvalidOperationException", 'Order "42" has no lines.')
    # FailureDetails.ToString(): $"{ErrorType}: {ErrorMessage}", plain text (no JSON quotes)
    assert str(failure) == 'System.InvalidOperationException: Order "42" has no lines.'
    assert status_output('"ignored"', failure) == str(failure)
    assert status_output('["done"]', None) == '["done"]'  # no failure: the result JSON
    # our readers show that text as Durable Functions does (ParseToJToken falls back to the string)
    assert serialization.loads_stored(str(failure)) == str(failure)


def test_tags_column_is_newtonsoft_json_or_null() -> None:
    assert tags_json(None) == "null"
    assert tags_json({}) == "{}"
    assert tags_json({"team": "ops", "ünï": "ç"}) == '{"team":"ops","ünï":"ç"}'


def test_fnv_hashes_the_bytes_dotnet_encodes() -> None:
    assert fnv1a_32(b"") == 0x811C9DC5 and fnv1a_32(b"foobar") == 0xBF9CF968  # published vectors
    # a lone surrogate is U+FFFD (EF BF BD) to Encoding.UTF8.GetBytes, not "?"
    assert dotnet_utf8("a\ud800b") == b"a\xef\xbf\xbdb"
    assert dotnet_utf8("\udc00\ud800") == b"\xef\xbf\xbd" * 2  # reversed pair: two lone surrogates
    assert dotnet_utf8("\ud83d\ude00") == b"\xf0\x9f\x98\x80"  # a pair is one character
    assert dotnet_utf8("plain-id") == b"plain-id"
    # the partition a lone-surrogate id lands on (with "?" it would be 3 of 16)
    assert partition_index("order-\ud800", 16) == fnv1a_32(b"order-\xef\xbf\xbd") % 16 == 11
