"""Every route through HTTP (httpx against the ASGI app) with the real tiny model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from kaito.inference.app import create_app
from kaito.inference.config import InferenceConfig
from kaito.inference.engines.transformers import TransformersEngine
from tests.inference.conftest import ClientFactory
from tests.inference.helpers import metric, parse_sse, scrape
from tests.support.waiting import async_wait_until

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]


async def test_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Server is running"}


async def test_health_is_503_until_the_model_is_loaded(model_dir: Path, tmp_path: Path) -> None:
    engine = TransformersEngine(str(model_dir), adapters_dir=str(tmp_path / "none"))
    app = create_app(InferenceConfig(model=str(model_dir)), engine)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        before = await client.get("/health")
        assert before.status_code == 503
        assert before.json() == {"detail": "Model not initialized"}
        refused = await client.post("/chat", json={"prompt": "hi"})
        assert refused.status_code == 503
        assert metric(await scrape(client), "kaito_inference_model_loaded") == 0.0

        async with app.router.lifespan_context(app):

            async def healthy() -> bool:
                return (await client.get("/health")).status_code == 200

            await async_wait_until(healthy, timeout=10, interval=0.01, what="healthy")
            after = await client.get("/health")
            assert after.json() == {"status": "Healthy"}
            assert metric(await scrape(client), "kaito_inference_model_loaded") == 1.0
    await engine.aclose()


async def test_health_reports_a_failed_load(tmp_path: Path) -> None:
    failures: list[BaseException] = []
    engine = TransformersEngine(str(tmp_path / "missing"), adapters_dir=str(tmp_path))
    app = create_app(InferenceConfig(), engine, on_load_error=failures.append)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):

        async def failed() -> bool:
            return bool(failures)

        await async_wait_until(failed, timeout=10, interval=0.01, what="failed")
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("Model failed to load")
        assert "Traceback" not in response.text
    await engine.aclose()


async def test_chat_prompt_mode_returns_full_text_by_default(client: httpx.AsyncClient) -> None:
    kwargs = {"max_new_tokens": 12, "do_sample": False}
    full = await client.post("/chat", json={"prompt": "Hello there", "generate_kwargs": kwargs})
    assert full.status_code == 200
    body = {"prompt": "Hello there", "return_full_text": False, "generate_kwargs": kwargs}
    partial = await client.post("/chat", json=body)
    assert partial.status_code == 200
    generated = partial.json()["Result"]
    assert generated
    assert full.json() == {"Result": "Hello there" + generated}


async def test_chat_messages_mode_matches_openai_chat(client: httpx.AsyncClient) -> None:
    legacy = await client.post(
        "/chat",
        json={"messages": MESSAGES, "generate_kwargs": {"max_new_tokens": 10, "do_sample": False}},
    )
    assert legacy.status_code == 200
    openai = await client.post(
        "/v1/chat/completions",
        json={"model": "tiny-llama", "messages": MESSAGES, "max_tokens": 10, "temperature": 0},
    )
    assert openai.status_code == 200
    content = openai.json()["choices"][0]["message"]["content"]
    assert legacy.json()["Result"] == content


async def test_chat_max_length_counts_the_prompt(
    client: httpx.AsyncClient, engine: TransformersEngine
) -> None:
    prompt = "count me"
    prompt_len = len(engine.tokenize(prompt, add_special_tokens=True))
    before = metric(await scrape(client), "kaito_inference_generation_tokens_total")
    kwargs = {"max_length": prompt_len + 5, "min_length": prompt_len + 5, "top_k": 5}
    response = await client.post("/chat", json={"prompt": prompt, "generate_kwargs": kwargs})
    assert response.status_code == 200
    after = metric(await scrape(client), "kaito_inference_generation_tokens_total")
    assert after - before == 5


async def test_chat_pipeline_decides_the_required_field(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.post("/chat", json={})
        assert response.status_code == 400
        assert response.json() == {"detail": "Text generation parameter prompt required"}
    async with make_client(pipeline="conversational") as client:
        response = await client.post("/chat", json={"generate_kwargs": {"max_new_tokens": 2}})
        assert response.status_code == 400
        assert response.json() == {"detail": "Conversational parameter messages required"}
        empty = await client.post("/chat", json={"messages": []})
        assert empty.json() == {"detail": "Conversational parameter messages required"}


async def test_chat_completions_non_streaming(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "tiny-llama", "messages": MESSAGES, "max_tokens": 7, "ignore_eos": True},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "tiny-llama"
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "length"
    usage = body["usage"]
    assert usage["completion_tokens"] == 7
    assert usage["prompt_tokens"] > len("Say hello.")  # the chat template adds role markers
    assert usage["total_tokens"] == usage["prompt_tokens"] + 7


async def test_chat_completions_n_choices(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"messages": MESSAGES, "max_tokens": 4, "n": 3, "ignore_eos": True},
    )
    assert response.status_code == 200
    body = response.json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert body["usage"]["completion_tokens"] == 12


async def test_chat_completions_streaming_matches_non_streaming(client: httpx.AsyncClient) -> None:
    request = {"messages": MESSAGES, "max_tokens": 16, "temperature": 0}
    plain = await client.post("/v1/chat/completions", json=request)
    expected = plain.json()["choices"][0]["message"]["content"]

    stream_request = {**request, "stream": True, "stream_options": {"include_usage": True}}
    response = await client.post("/v1/chat/completions", json=stream_request)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == expected
    finals = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finals[-1] in ("stop", "length")
    assert all(r is None for r in finals[:-1])
    usage = chunks[-1]
    assert usage["choices"] == []
    assert usage["usage"] == plain.json()["usage"]


async def test_completions_non_streaming_echo_and_batch(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/completions",
        json={"prompt": ["one", "two"], "max_tokens": 3, "temperature": 0, "echo": True},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "text_completion"
    texts = [c["text"] for c in body["choices"]]
    assert texts[0].startswith("one")
    assert texts[1].startswith("two")
    assert body["usage"]["prompt_tokens"] == 6  # one byte-level token per character


async def test_completions_default_max_tokens_is_16(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/completions", json={"prompt": "abc", "ignore_eos": True})
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 16
    assert response.json()["choices"][0]["finish_reason"] == "length"


async def test_completions_stop_string_cuts_text_streaming_or_not(
    client: httpx.AsyncClient,
) -> None:
    base = {"prompt": "The", "max_tokens": 24, "temperature": 0, "ignore_eos": True}
    full = (await client.post("/v1/completions", json=base)).json()["choices"][0]["text"]
    assert len(full) >= 8
    stop = full[5:7]
    expected = full[: full.index(stop)]

    response = await client.post("/v1/completions", json={**base, "stop": [stop]})
    choice = response.json()["choices"][0]
    assert choice["text"] == expected
    assert choice["finish_reason"] == "stop"

    streamed = await client.post("/v1/completions", json={**base, "stop": stop, "stream": True})
    events = parse_sse(streamed.text)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events[:-1] if e["choices"]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_completions_stream_n_choices(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/completions",
        json={"prompt": "x", "max_tokens": 3, "n": 2, "stream": True, "ignore_eos": True},
    )
    events = parse_sse(response.text)
    finished = [c["choices"][0]["index"] for c in events[:-1] if c["choices"][0]["finish_reason"]]
    assert sorted(finished) == [0, 1]


async def test_health_and_metrics_answer_while_generating(make_client: ClientFactory) -> None:
    async with make_client() as client:
        body = {"prompt": "busy", "max_tokens": 400, "ignore_eos": True}
        long_request = asyncio.create_task(client.post("/v1/completions", json=body))

        async def in_flight() -> bool:
            return metric(await scrape(client), "kaito_inference_requests_in_flight") == 1.0

        await async_wait_until(in_flight, timeout=10, interval=0.01, what="in_flight")
        health = await client.get("/health")
        assert health.status_code == 200
        assert not long_request.done()
        response = await long_request
        assert response.json()["usage"]["completion_tokens"] == 400
        assert metric(await scrape(client), "kaito_inference_requests_in_flight") == 0.0
