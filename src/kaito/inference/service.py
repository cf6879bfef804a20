"""What every generating route shares: readiness, token limits, admission and metrics.

The routes translate their protocol into :class:`SamplingParams`; this module applies the same
limits to both protocols, admits the request (or raises ``QueueFull`` before any byte of the
response is sent, so a refusal is a clean 429), runs the engine and records the metrics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

import attrs

from kaito.inference.admission import Admission, Ticket
from kaito.inference.config import InferenceConfig
from kaito.inference.engines.base import Completion, Engine, SamplingParams, StreamEvent
from kaito.inference.errors import ApiError, NotReady
from kaito.inference.metrics import InferenceMetrics


@attrs.define
class Service:
    engine: Engine
    config: InferenceConfig
    metrics: InferenceMetrics
    admission: Admission
    load_error: str | None = None

    def require_loaded(self) -> None:
        if not self.engine.loaded:
            raise NotReady(self.load_error or "Model not initialized")

    def resolve_model(self, requested: str | None) -> str | None:
        """The adapter a request names (None for the base model); 404 for unknown names."""
        if requested is None or requested == self.engine.model_name:
            return None
        if any(a.name == requested for a in self.engine.adapters):
            return requested
        raise ApiError(404, f"The model `{requested}` does not exist.")

    @property
    def max_input_tokens(self) -> int:
        context = self.engine.context_length
        limit = self.config.max_input_tokens
        return context if limit is None else min(limit, context)

    def token_budget(self, prompt_tokens: int, requested: int | None) -> int:
        """``max_new_tokens`` for a prompt of ``prompt_tokens``; 400 when limits are exceeded."""
        if prompt_tokens == 0:
            raise ApiError(400, "The prompt is empty")
        if prompt_tokens > self.max_input_tokens:
            raise ApiError(
                400,
                f"The prompt is {prompt_tokens} tokens long; the limit is "
                f"{self.max_input_tokens} tokens. Please shorten it.",
            )
        context = self.engine.context_length
        room = context - prompt_tokens
        max_output = self.config.max_output_tokens
        if requested is None:
            if room < 1:
                raise ApiError(400, f"The prompt fills the model's {context}-token context")
            return min(room, max_output)
        if requested > max_output:
            raise ApiError(
                400, f"max_tokens is {requested}; this server allows at most {max_output}"
            )
        if requested > room:
            raise ApiError(
                400,
                f"This model's maximum context length is {context} tokens. However, you "
                f"requested {prompt_tokens + requested} tokens ({prompt_tokens} in the prompt, "
                f"{requested} in the completion). Please reduce the length of the prompt or "
                "completion.",
            )
        return requested

    def _admit(self) -> Ticket:
        try:
            return self.admission.admit()
        except Exception:
            self.metrics.rejected.inc()
            raise

    async def complete(
        self, prompt_ids: Sequence[int], params: SamplingParams, adapter: str | None
    ) -> Completion:
        arrived = time.monotonic()
        ticket = self._admit()
        try:
            completion = await self.engine.generate(prompt_ids, params, adapter=adapter)
        finally:
            ticket.release()
        self.metrics.prompt_tokens.inc(completion.prompt_tokens)
        self.metrics.generated_tokens.inc(sum(c.completion_tokens for c in completion.choices))
        if completion.first_token_time is not None:
            self.metrics.ttft.observe(max(completion.first_token_time - arrived, 0.0))
        return completion

    def open_stream(
        self, prompt_ids: Sequence[int], params: SamplingParams, adapter: str | None
    ) -> MeteredStream:
        """Admit and start a stream now (errors raise here); events follow when iterated.

        The caller must ``aclose()`` the result, even if it never iterates it.
        """
        arrived = time.monotonic()
        ticket = self._admit()
        try:
            events = self.engine.stream(prompt_ids, params, adapter=adapter)
        except BaseException:
            ticket.release()
            raise
        self.metrics.prompt_tokens.inc(len(prompt_ids))
        return MeteredStream(events, ticket, self.metrics, arrived)


class MeteredStream:
    """Engine events with metrics; :meth:`aclose` releases the admission slot exactly once."""

    def __init__(
        self,
        events: AsyncIterator[StreamEvent],
        ticket: Ticket,
        metrics: InferenceMetrics,
        arrived: float,
    ) -> None:
        self._events = events
        self._ticket = ticket
        self._metrics = metrics
        self._arrived = arrived
        self._tokens: dict[int, int] = {}
        self._first = True
        self._closed = False

    def __aiter__(self) -> MeteredStream:
        return self

    async def __anext__(self) -> StreamEvent:
        try:
            event = await anext(self._events)
        except BaseException:
            await self.aclose()
            raise
        if self._first and event.completion_tokens:
            self._first = False
            self._metrics.ttft.observe(time.monotonic() - self._arrived)
        self._tokens[event.index] = event.completion_tokens
        return event

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._ticket.release()
        self._metrics.generated_tokens.inc(sum(self._tokens.values()))
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
