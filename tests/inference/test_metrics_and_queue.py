"""Prometheus metrics move with traffic; a full queue answers 429 instead of piling up."""

from __future__ import annotations

import asyncio

import httpx

from tests.inference.conftest import ClientFactory
from tests.inference.helpers import metric, scrape
from tests.support.waiting import async_wait_until


async def test_metrics_move_after_requests(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    route = {"route": "/v1/completions"}
    ok = await client.post(
        "/v1/completions", json={"prompt": "abcd", "max_tokens": 6, "ignore_eos": True}
    )
    assert ok.status_code == 200
    bad = await client.post("/v1/completions", json={"prompt": "abcd", "max_tokens": 0})
    assert bad.status_code == 400
    streamed = await client.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 5,
            "ignore_eos": True,
            "stream": True,
        },
    )
    assert streamed.status_code == 200
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("kaito_inference_requests_total", code="200", **route) == 1
    assert delta("kaito_inference_requests_total", code="400", **route) == 1
    assert delta("kaito_inference_request_duration_seconds_count", code="200", **route) == 1
    assert delta("kaito_inference_request_duration_seconds_sum", code="200", **route) > 0
    chat_route = {"route": "/v1/chat/completions", "code": "200"}
    assert delta("kaito_inference_requests_total", **chat_route) == 1
    assert delta("kaito_inference_generation_tokens_total") == 6 + 5
    assert delta("kaito_inference_prompt_tokens_total") >= 4 + 2
    assert delta("kaito_inference_time_to_first_token_seconds_count") == 2
    assert metric(after, "kaito_inference_requests_in_flight") == 0
    assert "_created" not in after


async def test_unmatched_paths_share_one_label(client: httpx.AsyncClient) -> None:
    for path in ("/a", "/b", "/wp-login.php"):
        await client.get(path)
    text = await scrape(client)
    assert metric(text, "kaito_inference_requests_total", route="unmatched", code="404") == 3
    assert "wp-login" not in text


async def test_queue_full_gives_429(make_client: ClientFactory) -> None:
    async with make_client(max_concurrent_requests=1, max_queue_size=1) as client:
        long_body = {"prompt": "hold", "max_tokens": 300, "ignore_eos": True}
        running = [
            asyncio.create_task(client.post("/v1/completions", json=long_body)) for _ in range(2)
        ]

        async def both_admitted() -> bool:
            return metric(await scrape(client), "kaito_inference_requests_in_flight") == 2

        await async_wait_until(both_admitted, timeout=10, interval=0.01, what="both_admitted")
        refused = await client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1})
        refused_chat = await client.post("/chat", json={"prompt": "x"})
        refused_stream = await client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "x"}], "stream": True},
        )
        assert refused_stream.status_code == 429
        assert refused_stream.headers["content-type"] == "application/json"
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert "capacity" in refused.json()["error"]["message"]
        assert refused_chat.status_code == 429
        assert "capacity" in refused_chat.json()["detail"]
        assert (await client.get("/health")).status_code == 200

        results = await asyncio.gather(*running)
        assert [r.status_code for r in results] == [200, 200]
        text = await scrape(client)
        assert metric(text, "kaito_ratelimit_rejected_total") == 3
        assert metric(text, "kaito_inference_requests_in_flight") == 0
        again = await client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1})
        assert again.status_code == 200


async def test_many_concurrent_requests_within_capacity_all_succeed(
    make_client: ClientFactory,
) -> None:
    async with make_client(max_concurrent_requests=1, max_queue_size=8) as client:
        body = {"prompt": "hi", "max_tokens": 4, "temperature": 0}
        results = await asyncio.gather(
            *(client.post("/v1/completions", json=body) for _ in range(9))
        )
        assert [r.status_code for r in results] == [200] * 9
        texts = {r.json()["choices"][0]["text"] for r in results}
        assert len(texts) == 1  # greedy: concurrent requests do not disturb each other
