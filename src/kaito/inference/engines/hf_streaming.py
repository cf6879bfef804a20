"""Bridges between ``transformers.generate`` (a worker thread) and the asyncio event loop.

``TextIteratorStreamer`` hands decoded text to a *thread* queue; an async server would have to
block a thread per stream to read it. :class:`AsyncTextStreamer` keeps the streamer's incremental
decoding (word boundaries, partial UTF-8) but delivers each piece to an ``asyncio.Queue`` with
``call_soon_threadsafe``. It also counts generated tokens, notes end-of-sequence and the time of
the first token. :class:`CancelCriteria` lets the event loop stop a generation in progress (the
client went away, or a stop string was seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Collection
from typing import Any

import torch
from transformers import StoppingCriteria, TextIteratorStreamer
from transformers.generation.streamers import BaseStreamer


class AsyncTextStreamer(TextIteratorStreamer):
    """Decoded text pieces into an asyncio queue; ``None`` marks the end (see :meth:`finish`).

    An empty piece is pushed when the first token is generated: the decoder may hold text back
    (an incomplete word or character), but time to first token is measured at the token.
    """

    def __init__(
        self,
        tokenizer: Any,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[str | None],
        eos_ids: Collection[int],
        **decode_kwargs: Any,
    ) -> None:
        super().__init__(tokenizer, skip_prompt=True, **decode_kwargs)
        self._loop = loop
        self._aqueue = queue
        self._eos_ids = frozenset(eos_ids)
        self.tokens = 0
        """Tokens generated so far (the end-of-sequence token included)."""
        self.eos_seen = False
        self.first_token_time: float | None = None

    def put(self, value: torch.Tensor) -> None:
        if not self.next_tokens_are_prompt:
            self.tokens += value.numel()
            if any(int(t) in self._eos_ids for t in value.reshape(-1).tolist()):
                self.eos_seen = True
            if self.first_token_time is None:
                self.first_token_time = time.monotonic()
                self._push("")  # the first token, before the decoder has text to show
        super().put(value)  # type: ignore[no-untyped-call]

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._push(text)

    def finish(self) -> None:
        """Signal the consumer that no more text will come (called once, even on errors)."""
        self._push(None)

    def _push(self, item: str | None) -> None:
        # RuntimeError: the loop is closed, nobody is listening any more
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._aqueue.put_nowait, item)


class TimingStreamer(BaseStreamer):
    """Records when the first generated token appears (non-streaming requests)."""

    def __init__(self) -> None:
        self._prompt_seen = False
        self.first_token_time: float | None = None

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
        elif self.first_token_time is None:
            self.first_token_time = time.monotonic()

    def end(self) -> None:
        pass


class CancelCriteria(StoppingCriteria):
    """Stops every sequence of a generation once ``event`` is set."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        return torch.full(
            (input_ids.shape[0],), self._event.is_set(), dtype=torch.bool, device=input_ids.device
        )
