"""Bounded admission: refuse work (HTTP 429) instead of letting requests pile up.

A model server that queues without bound turns overload into timeouts for everyone. Like
upstream's vLLM wrapper (429 when the waiting queue exceeds ``max_num_seqs``), we admit at most
``running + waiting`` generation requests; the engine runs ``running`` of them at once and the
rest wait their turn. Admission is decided synchronously when a request arrives, so a client
learns at once that it should retry, and the slot is released exactly once when the request ends.
"""

from __future__ import annotations

from collections.abc import Callable


class QueueFull(Exception):
    """No room for another request (HTTP 429)."""


class Ticket:
    """One admitted request; :meth:`release` is idempotent."""

    def __init__(self, on_release: Callable[[], None]) -> None:
        self._on_release: Callable[[], None] | None = on_release

    def release(self) -> None:
        if self._on_release is not None:
            callback, self._on_release = self._on_release, None
            callback()


class Admission:
    """Counts admitted requests against ``running + waiting``."""

    def __init__(self, running: int, waiting: int) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("need running >= 1 and waiting >= 0")
        self.capacity = running + waiting
        self.admitted = 0

    def admit(self) -> Ticket:
        """Admit one request or raise :class:`QueueFull`."""
        if self.admitted >= self.capacity:
            raise QueueFull(
                f"Server is at capacity ({self.capacity} requests running or queued); retry later"
            )
        self.admitted += 1
        return Ticket(self._release)

    def _release(self) -> None:
        self.admitted -= 1
