"""Bad input gets a clear 4xx, in upstream's shape on /chat and OpenAI's on /v1; never a trace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.inference.conftest import ClientFactory

OK_MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/chat", {"prompt": 5}, 400, "prompt: Input should be a valid string"),
        ("/chat", {"messages": "hi"}, 400, "messages: Input should be a valid list"),
        ("/chat", {"messages": [{"content": "no role"}]}, 400, "messages.0.role: Field required"),
        (
            "/chat",
            {"prompt": "a", "generate_kwargs": {"temperature": "hot"}},
            400,
            "generate_kwargs.temperature",
        ),
        ("/chat", {"prompt": "a", "generate_kwargs": {"top_p": 3}}, 400, "generate_kwargs.top_p"),
        (
            "/chat",
            {"prompt": "a", "generate_kwargs": {"output_hidden_states": True}},
            400,
            "Unsupported generate_kwargs key(s): output_hidden_states",
        ),
        ("/chat", {"prompt": "a", "generate_kwargs": {"max_length": 1}}, 400, "max_length (1)"),
        (
            "/chat",
            {"prompt": "a", "generate_kwargs": {"max_new_tokens": 100_000}},
            400,
            "at most 4096",
        ),
        ("/v1/completions", {"prompt": "a", "max_tokens": 10**9}, 400, "at most 4096"),
        ("/v1/completions", {"prompt": "a", "max_tokens": 0}, 400, "max_tokens"),
        ("/v1/completions", {"prompt": "a", "max_tokens": "many"}, 400, "max_tokens"),
        ("/v1/completions", {"prompt": "a", "temperature": 5}, 400, "temperature"),
        ("/v1/completions", {"prompt": "a", "n": 0}, 400, "n: Input should be greater"),
        ("/v1/completions", {"prompt": "a", "logprobs": 2}, 400, "logprobs are not supported"),
        ("/v1/completions", {"prompt": ""}, 400, "prompt"),
        ("/v1/completions", {"prompt": "a", "model": "gpt-4"}, 404, "`gpt-4` does not exist"),
        ("/v1/chat/completions", {"messages": []}, 400, "messages"),
        ("/v1/chat/completions", {"messages": OK_MESSAGES, "top_p": 0}, 400, "top_p"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            400,
            "'image_url' is not supported",
        ),
        (
            "/v1/chat/completions",
            {"messages": OK_MESSAGES, "presence_penalty": 1},
            400,
            "presence_penalty",
        ),
        (
            "/v1/chat/completions",
            {"messages": OK_MESSAGES, "stop": [str(i) for i in range(20)]},
            400,
            "at most 16 stop strings",
        ),
        (
            "/v1/chat/completions",
            {"messages": OK_MESSAGES, "max_tokens": 1020},
            400,
            "maximum context length is 1024 tokens",
        ),
    ],
)
async def test_bad_requests(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], status: int, needle: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    message = payload["error"]["message"] if path.startswith("/v1/") else payload["detail"]
    assert needle in message
    if path.startswith("/v1/"):
        assert payload["error"]["code"] == status
    assert "Traceback" not in response.text


@pytest.mark.parametrize("path", ["/chat", "/v1/chat/completions", "/v1/completions"])
async def test_invalid_json(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, content=b'{"prompt": "unterminated', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.text


async def test_missing_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/completions")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Request body is required (a JSON object)"


async def test_json_without_content_type_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/chat", content=b'{"prompt": "hi", "generate_kwargs": {"max_new_tokens": 2}}'
    )
    assert response.status_code == 200


async def test_prompt_over_max_input_tokens(make_client: ClientFactory) -> None:
    async with make_client(max_input_tokens=8) as client:
        response = await client.post("/v1/completions", json={"prompt": "x" * 9})
        assert response.status_code == 400
        assert "9 tokens long; the limit is 8 tokens" in response.json()["error"]["message"]
        ok = await client.post("/v1/completions", json={"prompt": "x" * 8, "max_tokens": 1})
        assert ok.status_code == 200


async def test_body_size_limit(make_client: ClientFactory) -> None:
    async with make_client(max_body_bytes=2000) as client:
        declared = await client.post("/chat", json={"prompt": "x" * 3000})
        assert declared.status_code == 413

        async def chunked() -> Any:
            for _ in range(30):
                yield b" " * 100

        streamed = await client.post(
            "/v1/completions", content=chunked(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert "Too Large" in streamed.json()["error"]["message"]
        small = await client.post(
            "/chat", json={"prompt": "x", "generate_kwargs": {"max_new_tokens": 1}}
        )
        assert small.status_code == 200


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v2/anything")
    assert missing.status_code == 404
    wrong_method = await client.get("/chat")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}


async def test_server_survives_bad_input(client: httpx.AsyncClient) -> None:
    for body in (b"\xff\xfe", b"[]", b"null", b'{"prompt": null}', b"1e999"):
        response = await client.post(
            "/chat", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (body, response.text)
    assert (await client.get("/health")).status_code == 200
