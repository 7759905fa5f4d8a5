"""The entity MessageSorter, ported from DTFx with its own tests.

The first seven tests are DTFx's ``test/DurableTask.Core.Tests/MessageSorterTests.cs`` (Azure/durabletask
at 5217032961abf45846f462732a5e2813316e3747), case by case; the rest pin the JSON (the ``sorter`` member
of the entity state) and the .NET time format it uses.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timezone

from durable_azure.orchestration.entity_request import EntityRequest
from durable_azure.orchestration.entity_sorter import REORDER_WINDOW, MessageSorter
from durable_azure.orchestration.net_time import (
    MIN_TEXT,
    TICKS_PER_SECOND,
    format_round_trip,
    format_ticks,
    parse_ticks,
    ticks_of,
)

NOW = ticks_of(datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc))


def send(
    sender: str, receiver: str, text: str, sorter: MessageSorter, now: int, window: int = REORDER_WINDOW
) -> EntityRequest:
    request = EntityRequest("op", text, id=str(uuid.uuid4()), parent=sender)
    sorter.label_outgoing(request, receiver, now, window)
    return request


def inputs(batch: list[EntityRequest]) -> list[str | None]:
    return [r.input for r in batch]


def test_simple_in_order() -> None:
    sender = MessageSorter()
    messages = [send("A", "B", str(i), sender, NOW) for i in (1, 2, 3)]
    receiver = MessageSorter()
    for i, message in enumerate(messages, 1):
        assert inputs(receiver.receive_in_order(message)) == [str(i)]
    assert receiver.buffered_count == 0


def test_wacky_system_clock_still_gives_monotonic_stamps() -> None:
    sender = MessageSorter()
    messages = [send("A", "B", str(i), sender, NOW - i * TICKS_PER_SECOND) for i in (1, 2, 3)]
    assert messages[0].timestamp < messages[1].timestamp < messages[2].timestamp
    assert messages[1].timestamp == messages[0].timestamp + 1  # one tick after, as .NET does
    receiver = MessageSorter()
    for i, message in enumerate(messages, 1):
        assert inputs(receiver.receive_in_order(message)) == [str(i)]
    assert receiver.buffered_count == 0


def test_delayed_element_holds_its_successors() -> None:
    sender = MessageSorter()
    m1, m2, m3 = (send("A", "B", str(i), sender, NOW) for i in (1, 2, 3))
    receiver = MessageSorter()
    assert receiver.receive_in_order(m2) == []
    assert receiver.receive_in_order(m3) == []
    assert inputs(receiver.receive_in_order(m1)) == ["1", "2", "3"]
    assert receiver.buffered_count == 0


def test_no_filtering_or_sorting_past_the_reorder_window() -> None:
    sender = MessageSorter()
    m1 = send("A", "B", "1", sender, NOW)
    m2 = send("A", "B", "2", sender, NOW + 1)
    m3 = send("A", "B", "3", sender, NOW + 2 + REORDER_WINDOW)
    receiver = MessageSorter()
    for message in (m1, m2, m3):
        assert inputs(receiver.receive_in_order(message)) == [message.input]
    # duplicates are passed through: they are past the reorder window
    assert inputs(receiver.receive_in_order(m2)) == ["2"]
    assert inputs(receiver.receive_in_order(m1)) == ["1"]
    assert receiver.buffered_count == 0


def test_duplicated_elements_are_dropped() -> None:
    sender = MessageSorter()
    m1, m2, m3 = (send("A", "B", str(i), sender, NOW) for i in (1, 2, 3))
    receiver = MessageSorter()
    assert receiver.receive_in_order(m2) == []
    assert receiver.receive_in_order(m2) == []
    assert inputs(receiver.receive_in_order(m1)) == ["1", "2"]
    assert receiver.receive_in_order(m2) == []
    assert receiver.receive_in_order(m1) == []
    assert inputs(receiver.receive_in_order(m3)) == ["3"]
    for message in (m3, m2, m1):
        assert receiver.receive_in_order(message) == []
    assert receiver.buffered_count == 0


def test_random_shuffle_and_duplication_delivers_the_sequence_once() -> None:
    sender, receiver = MessageSorter(), MessageSorter()
    rng = random.Random(0)
    messages = [send("A", "B", str(i), sender, NOW) for i in range(100)]
    messages += [messages[rng.randrange(100)] for _ in range(100)]
    rng.shuffle(messages)
    delivered = [r for m in messages for r in receiver.receive_in_order(m)]
    assert inputs(delivered) == [str(i) for i in range(100)]
    assert receiver.buffered_count == 0


def test_random_collection_beyond_the_window_still_delivers_everything() -> None:
    window = 10 * TICKS_PER_SECOND
    sender, receiver = MessageSorter(), MessageSorter()
    rng = random.Random(0)
    messages = [
        send("A", "B", str(i), sender, NOW + rng.randrange(5) * TICKS_PER_SECOND, window) for i in range(100)
    ]
    rng.shuffle(messages)
    messages.append(send("A", "B", "101", sender, NOW + 1000 * TICKS_PER_SECOND, window))
    delivered: list[EntityRequest] = []
    for i, message in enumerate(messages[:100]):
        delivered += receiver.receive_in_order(message, window)
        assert len(delivered) + receiver.buffered_count == i + 1
    delivered += receiver.receive_in_order(messages[100], window)
    assert len(delivered) == 101 and receiver.buffered_count == 0


# ------------------------------------------------------------------- beyond DTFx's own tests
def test_client_signals_and_forwarded_lock_requests_pass_through() -> None:
    receiver = MessageSorter()
    client = EntityRequest("add", "1")
    assert receiver.receive_in_order(client) == [client]
    assert receiver.receive_in_order(client) == [client]  # no parent: not the sorter's to dedupe
    hop = EntityRequest("", parent="orch", lockset=["@a@1", "@b@1"], position=1)
    assert receiver.receive_in_order(hop) == [hop]
    assert receiver.to_json() == {}


def test_a_new_execution_of_the_sender_starts_over() -> None:
    receiver = MessageSorter()
    first = EntityRequest("op", "1", parent="orch", parent_execution="e1", timestamp=NOW + 10)
    assert receiver.receive_in_order(first) == [first]
    again = EntityRequest("op", "2", parent="orch", parent_execution="e2", timestamp=NOW + 5)
    assert receiver.receive_in_order(again) == [again]  # earlier stamp, but another execution


def test_sorter_json_uses_dtfx_names_and_round_trips() -> None:
    sender = MessageSorter()
    send("@counter@a", "@counter@b", "1", sender, NOW)
    receiver, orchestration = MessageSorter(), MessageSorter()
    m2 = send("orch", "@counter@b", "2", orchestration, NOW)
    m3 = send("orch", "@counter@b", "3", orchestration, NOW)
    assert receiver.receive_in_order(m3) == []  # waits for m2
    data = receiver.to_json()
    assert list(data) == ["ReceivedFromInstance", "ReceiveHorizon"]
    assert data["ReceiveHorizon"] == format_ticks(m3.timestamp - REORDER_WINDOW)
    buffer = data["ReceivedFromInstance"]["orch"]
    assert buffer["Last"] == MIN_TEXT and list(buffer["Buffered"]) == [format_ticks(m3.timestamp)]
    assert buffer["Buffered"][format_ticks(m3.timestamp)]["Predecessor"] == format_ticks(m2.timestamp)
    again = MessageSorter.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert inputs(again.receive_in_order(m2)) == ["2", "3"]
    assert sender.to_json() == {
        "LastSentToInstance": {"@counter@b": "2026-01-02T03:04:05.123456Z"},
        "SendHorizon": "2026-01-02T02:34:05.123456Z",  # now - 30 minutes
    }


def test_sender_lookups_ignore_the_case_of_entity_names_not_keys() -> None:
    sorter = MessageSorter()
    first = send("A", "@counter@X", "1", sorter, NOW)
    second = send("A", "@COUNTER@X", "2", sorter, NOW)
    assert second.predecessor == first.timestamp and len(sorter.last_sent_to_instance or {}) == 1
    # keys are case-sensitive: @counter@x is another entity, which never received the first two
    other = send("A", "@counter@x", "3", sorter, NOW)
    assert other.predecessor == 0 and len(sorter.last_sent_to_instance or {}) == 2


def test_net_time_format_matches_newtonsoft_and_round_trip_o() -> None:
    assert format_ticks(0) == "0001-01-01T00:00:00"
    assert format_ticks(NOW) == "2026-01-02T03:04:05.123456Z"
    assert format_ticks(NOW + 1) == "2026-01-02T03:04:05.1234561Z"  # a tick finer than Python's datetime
    assert format_ticks(ticks_of(datetime(2026, 1, 2, tzinfo=timezone.utc))) == "2026-01-02T00:00:00Z"
    assert format_round_trip(NOW) == "2026-01-02T03:04:05.1234560Z"  # .NET "o": always seven digits
    for text in (
        "2026-01-02T03:04:05.1234561Z",
        "2026-01-02T03:04:05.1234561",
        "2026-01-02T04:04:05.1234561+01:00",
    ):
        assert parse_ticks(text) == NOW + 1
    assert parse_ticks(None) == parse_ticks("garbage") == parse_ticks("0001-01-01T00:00:00") == 0
