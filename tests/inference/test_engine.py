"""The transformers engine directly: cancellation reaches the worker thread; limits hold."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kaito.inference.engines import hf_streaming
from kaito.inference.engines.base import EngineInputError, SamplingParams
from kaito.inference.engines.transformers import TransformersEngine
from tests.support.waiting import async_wait_until


@pytest.fixture
def step_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts decoding steps (the engine's cancel check runs once per generated token)."""
    steps = [0]
    original = hf_streaming.CancelCriteria.__call__

    def counting(self: Any, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        steps[0] += 1
        return original(self, input_ids, scores, **kwargs)

    monkeypatch.setattr(hf_streaming.CancelCriteria, "__call__", counting)
    return steps


async def _idle(engine: TransformersEngine) -> bool:
    return engine.running == 0


async def test_closing_a_stream_stops_the_generation(
    engine: TransformersEngine, step_counter: list[int]
) -> None:
    ids = engine.tokenize("stream", add_special_tokens=True)
    params = SamplingParams(max_new_tokens=1000, min_new_tokens=1000)
    stream = engine.stream(ids, params)
    first = await anext(stream)
    assert first.completion_tokens >= 1
    assert engine.running == 1
    await stream.aclose()  # type: ignore[attr-defined]
    await async_wait_until(lambda: _idle(engine), timeout=10, interval=0.01, what="the engine idle")
    assert 0 < step_counter[0] < 1000


async def test_cancelling_a_request_stops_the_generation(
    engine: TransformersEngine, step_counter: list[int]
) -> None:
    ids = engine.tokenize("cancel", add_special_tokens=True)
    task = asyncio.create_task(
        engine.generate(ids, SamplingParams(max_new_tokens=1000, min_new_tokens=1000))
    )

    async def started() -> bool:
        return step_counter[0] > 0

    await async_wait_until(started, timeout=10, interval=0.01, what="started")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await async_wait_until(lambda: _idle(engine), timeout=10, interval=0.01, what="the engine idle")
    assert step_counter[0] < 1000


async def test_greedy_is_deterministic_and_eos_is_reported(engine: TransformersEngine) -> None:
    ids = engine.tokenize("same", add_special_tokens=True)
    params = SamplingParams(max_new_tokens=20, do_sample=False)
    first, second = await asyncio.gather(engine.generate(ids, params), engine.generate(ids, params))
    assert first.choices == second.choices
    assert first.prompt_tokens == len(ids)
    assert first.first_token_time is not None


async def test_engine_refuses_what_it_cannot_do(engine: TransformersEngine) -> None:
    ids = engine.tokenize("x", add_special_tokens=True)
    with pytest.raises(EngineInputError, match="frequency_penalty"):
        await engine.generate(ids, SamplingParams(max_new_tokens=2, frequency_penalty=1.0))
    with pytest.raises(EngineInputError, match="not_a_generate_key"):
        await engine.generate(
            ids, SamplingParams(max_new_tokens=2, extra={"not_a_generate_key": 1})
        )
    with pytest.raises(EngineInputError, match="num_beams"):
        engine.stream(ids, SamplingParams(max_new_tokens=2, extra={"num_beams": 2}))
    assert engine.running == 0


def test_no_chat_template_is_a_client_error(engine: TransformersEngine) -> None:
    template = engine.tokenizer.chat_template
    engine.tokenizer.chat_template = None
    try:
        with pytest.raises(EngineInputError, match="no chat template"):
            engine.render_chat([{"role": "user", "content": "hi"}])
    finally:
        engine.tokenizer.chat_template = template


async def test_parallel_generations_match_sequential_ones(model_dir: Path, tmp_path: Path) -> None:
    engine = TransformersEngine(str(model_dir), adapters_dir=str(tmp_path), max_concurrency=3)
    await engine.load()
    try:
        prompts = [engine.tokenize(p, add_special_tokens=True) for p in ("one", "two", "three")]
        params = SamplingParams(max_new_tokens=24, do_sample=False)
        sequential = [await engine.generate(ids, params) for ids in prompts]
        parallel = await asyncio.gather(*(engine.generate(ids, params) for ids in prompts))
        assert [c.choices for c in parallel] == [c.choices for c in sequential]
    finally:
        await engine.aclose()
