"""The vLLM engine, where vllm is installed (it is not on CPU-only CI: these tests skip then)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm is not installed here; the vLLM engine is untested")

from kaito.inference.engines.base import SamplingParams
from kaito.inference.engines.vllm import VllmEngine


async def test_vllm_generates_and_streams_the_same_text(model_dir: Path, tmp_path: Path) -> None:
    engine = VllmEngine(
        str(model_dir),
        adapters_dir=str(tmp_path),
        engine_args={"max_model_len": 512, "enforce_eager": True},
    )
    await engine.load()
    try:
        assert engine.loaded
        assert engine.context_length == 512
        ids = engine.tokenize(
            engine.render_chat([{"role": "user", "content": "hi"}]), add_special_tokens=False
        )
        params = SamplingParams(max_new_tokens=8, do_sample=False)
        completion = await engine.generate(ids, params)
        streamed = [e async for e in engine.stream(ids, params)]
        assert "".join(e.text for e in streamed) == completion.choices[0].text
        assert streamed[-1].finish_reason == completion.choices[0].finish_reason
        assert engine.running == 0
    finally:
        await engine.aclose()
