"""The real ``kaito-inference`` command under uvicorn on 127.0.0.1, and the official client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.inference.conftest import ADAPTERS
from tests.inference.helpers import free_port, kaito_inference, metric

MESSAGES = [{"role": "user", "content": "Hello!"}]


@pytest.fixture(scope="module")
def server(
    model_dir: Path, adapters_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    config = tmp_path_factory.mktemp("config") / "inference_config.yaml"
    config.write_text("max-queue-size: 4\nvllm:\n  max-model-len: 1024\n")
    args = [
        f"--pretrained_model_name_or_path={model_dir}",
        f"--kaito-adapters-dir={adapters_dir}",
        f"--config={config}",
        "--log-level=warning",
    ]
    log = tmp_path_factory.mktemp("log") / "server.log"
    with kaito_inference(args, log, env={"adapter-b": "0.5"}) as base:
        yield base


@pytest.fixture(scope="module")
def oai(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)


def test_models_through_the_openai_client(oai: openai.OpenAI) -> None:
    models = oai.models.list()
    assert [m.id for m in models.data] == ["tiny-llama", *ADAPTERS]
    assert all(m.owned_by == "kaito" for m in models.data)


def test_chat_completion_through_the_openai_client(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="tiny-llama", messages=MESSAGES, max_tokens=8, temperature=0
    )
    assert completion.choices[0].message.role == "assistant"
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 8

    chunks = list(
        oai.chat.completions.create(
            model="tiny-llama",
            messages=MESSAGES,
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == completion.usage.total_tokens


def test_completion_and_errors_through_the_openai_client(oai: openai.OpenAI) -> None:
    completion = oai.completions.create(model="adapter-a", prompt="Once", max_tokens=5)
    assert completion.object == "text_completion"
    assert completion.model == "adapter-a"
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        oai.completions.create(model="no-such-model", prompt="x")
    with pytest.raises(openai.BadRequestError, match="at most 4096"):
        oai.completions.create(model="tiny-llama", prompt="x", max_tokens=100_000)


def test_upstream_curl_example(server: str) -> None:
    response = httpx.post(
        f"{server}/chat",
        content=json.dumps({"prompt": "YOUR QUESTION HERE", "generate_kwargs": {"max_length": 30}}),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["Result"].startswith("YOUR QUESTION HERE")


def test_client_disconnect_stops_the_generation(server: str) -> None:
    def scrape() -> str:
        return httpx.get(f"{server}/metrics", timeout=5).text

    tokens_before = metric(scrape(), "kaito_inference_generation_tokens_total")
    body = {"prompt": "long", "max_tokens": 1000, "ignore_eos": True, "stream": True}
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", f"{server}/v1/completions", json=body) as response,
    ):
        assert response.status_code == 200
        next(response.iter_lines())  # generation is under way
    deadline = time.monotonic() + 10
    while metric(scrape(), "kaito_inference_requests_in_flight") != 0:
        assert time.monotonic() < deadline, "the admission slot was not released"
        time.sleep(0.02)
    generated = metric(scrape(), "kaito_inference_generation_tokens_total") - tokens_before
    assert 0 < generated < 1000
    assert httpx.get(f"{server}/health", timeout=5).status_code == 200


def test_load_failure_exits_1(tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "kaito-inference"),
        f"--model={tmp_path / 'no-weights'}",
        "--host=127.0.0.1",
        f"--port={free_port()}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "model failed to load" in result.stderr
