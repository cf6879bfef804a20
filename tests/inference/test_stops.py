"""Stop strings cut the text at the same place whether or not it is streamed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kaito.inference.engines.stops import StopMatcher, truncate_at_stop


def test_truncate() -> None:
    assert truncate_at_stop("hello world", ["o w", "xyz"]) == ("hell", True)
    assert truncate_at_stop("hello", ["xyz"]) == ("hello", False)
    assert truncate_at_stop("hello", []) == ("hello", False)


def test_stop_split_across_pieces() -> None:
    matcher = StopMatcher(["END"])
    out = [matcher.feed(p) for p in ["abc E", "N", "D tail"]]
    assert "".join(out) == "abc "
    assert matcher.stopped
    assert matcher.flush() == ""


def test_held_back_text_is_flushed() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("abcST") == "ab"
    assert matcher.flush() == "cST"


@given(
    pieces=st.lists(st.text(alphabet="abcS", max_size=5), max_size=12),
    stops=st.lists(st.text(alphabet="abcS", min_size=1, max_size=3), max_size=3),
)
def test_streaming_equals_non_streaming(pieces: list[str], stops: list[str]) -> None:
    matcher = StopMatcher(stops)
    streamed = "".join(matcher.feed(p) for p in pieces) + matcher.flush()
    expected, stopped = truncate_at_stop("".join(pieces), stops)
    assert streamed == expected
    assert matcher.stopped == stopped
