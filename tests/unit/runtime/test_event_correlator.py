"""Event bookkeeping without an API server: the buffer, similar messages, the spam filter."""

from __future__ import annotations

import pytest

from kaito.runtime.clock import FakeClock
from kaito.runtime.event_correlator import (
    COMBINED_PREFIX,
    EventBuffer,
    SimilarAggregator,
    SpamFilter,
)


def involved(name: str, uid: str = "") -> dict[str, str]:
    return {
        "kind": "Gizmo",
        "namespace": "ns",
        "name": name,
        "uid": uid or f"uid-{name}",
        "apiVersion": "v1",
        "resourceVersion": "1",
    }


def test_spam_filter_allows_25_writes_per_object_then_one_per_5_minutes() -> None:
    clock = FakeClock()
    spam = SpamFilter(clock=clock)
    a, b = ("c", "", "Gizmo", "ns", "a"), ("c", "", "Gizmo", "ns", "b")
    assert [spam.allow(a) for _ in range(25)] == [True] * 25
    assert spam.allow(a) is False
    assert spam.allow(b) is True  # every object has its own bucket
    clock.step(299)
    assert spam.allow(a) is False
    clock.step(1)  # 300 s since the bucket emptied: one token back
    assert spam.allow(a) is True
    assert spam.allow(a) is False
    clock.step(24 * 3600)  # refills to the burst, no further
    assert [spam.allow(a) for _ in range(26)] == [True] * 25 + [False]


def test_spam_filter_forgets_the_oldest_objects_beyond_its_size() -> None:
    clock = FakeClock()
    spam = SpamFilter(burst=1, clock=clock, size=2)
    assert spam.allow(("a",)) and spam.allow(("b",))
    assert not spam.allow(("a",))
    assert spam.allow(("c",))  # evicts "b", the least recently used
    assert spam.allow(("b",))  # a fresh bucket


def test_spam_filter_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        SpamFilter(burst=0)


def test_buffer_coalesces_repeats_and_counts_only_distinct_events_against_capacity() -> None:
    buffer = EventBuffer(capacity=2)
    stamp = "2024-01-01T00:00:00Z"
    assert buffer.add(involved("a"), "Warning", "R", "m", timestamp=stamp, now=1.0)
    for second in range(1, 50):
        later = f"2024-01-01T00:00:{second:02d}Z"
        assert buffer.add(involved("a"), "Warning", "R", "m", timestamp=later, now=1.0 + second)
    assert len(buffer) == 1 and buffer.occurrences == 50
    assert buffer.add(involved("a"), "Warning", "R", "other", timestamp=stamp, now=60.0)
    assert not buffer.add(involved("b"), "Warning", "R", "m", timestamp=stamp, now=60.0)
    assert buffer.add(involved("a"), "Warning", "R", "m", timestamp=stamp, now=61.0)  # a repeat

    taken = buffer.take()
    assert len(buffer) == 0 and buffer.occurrences == 0
    assert [(p.message, p.count) for p in taken] == [("m", 51), ("other", 1)]
    first = taken[0]
    assert first.first_timestamp == stamp
    assert first.last_timestamp == stamp and first.last_seen == 61.0  # the latest occurrence
    assert buffer.add(involved("b"), "Warning", "R", "m", timestamp=stamp, now=62.0)


def test_buffer_keeps_objects_with_the_same_name_apart() -> None:
    buffer = EventBuffer()
    stamp = "2024-01-01T00:00:00Z"
    buffer.add(involved("a", uid="1"), "Normal", "R", "m", timestamp=stamp, now=0.0)
    buffer.add(involved("a", uid="2"), "Normal", "R", "m", timestamp=stamp, now=0.0)
    buffer.add(involved("a", uid="2"), "Warning", "R", "m", timestamp=stamp, now=0.0)
    assert len(buffer) == 3


def test_similar_messages_are_combined_from_the_tenth_on_within_the_interval() -> None:
    similar = SimilarAggregator()
    base = ("c", "", "Gizmo", "ns", "a", "uid", "v1", "Warning", "Failed")
    results = [similar.aggregate(base, f"message {i}", now=float(i)) for i in range(11)]
    assert results[:9] == [(f"message {i}", f"message {i}") for i in range(9)]
    assert results[9] == ("(combined)", COMBINED_PREFIX + "message 9")
    assert results[10] == ("(combined)", COMBINED_PREFIX + "message 10")
    assert similar.aggregate(base, "message 0", now=11.0)[0] == "(combined)"
    # ten minutes without any: counting starts again
    assert similar.aggregate(base, "message 11", now=11.0 + 601) == ("message 11", "message 11")
    other = (*base[:-1], "OtherReason")
    assert similar.aggregate(other, "message 12", now=612.0) == ("message 12", "message 12")
