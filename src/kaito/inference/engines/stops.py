"""Stop strings for engines that do not handle them natively, streaming included.

OpenAI's ``stop`` ends the text *before* the stop string. When streaming, a stop string can be
split across pieces, so text that could be the start of one is held back until the next piece
decides; what the client sees is exactly the non-streaming text, cut at the same place.
"""

from __future__ import annotations

from collections.abc import Sequence


def find_stop(text: str, stops: Sequence[str]) -> int:
    """Index where the earliest stop string starts in ``text``, or -1."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else -1


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` cut before the first stop string, and whether one was found."""
    cut = find_stop(text, stops)
    return (text, False) if cut < 0 else (text[:cut], True)


class StopMatcher:
    """Feeds streamed pieces through, holding back what might begin a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._buffer = ""
        self.stopped = False
        """True once a stop string was seen; everything after it is dropped."""

    def feed(self, piece: str) -> str:
        """Return the text that is now safe to emit."""
        if self.stopped:
            return ""
        self._buffer += piece
        cut = find_stop(self._buffer, self._stops)
        if cut >= 0:
            self.stopped = True
            out, self._buffer = self._buffer[:cut], ""
            return out
        safe = max(len(self._buffer) - self._hold, 0)
        out, self._buffer = self._buffer[:safe], self._buffer[safe:]
        return out

    def flush(self) -> str:
        """The held-back tail, at the end of generation."""
        out, self._buffer = self._buffer, ""
        return "" if self.stopped else out
