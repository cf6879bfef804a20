"""Bad input gets a clear 4xx, in upstream's shape on /chat and OpenAI's on /v1; never a trace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kaito.inference.engines.base import EngineInputError, SamplingParams
from kaito.inference.engines.transformers import TransformersEngine
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


def raw_post(client: httpx.AsyncClient, path: str, body: str) -> Any:
    """POST JSON text as is: ``json=`` cannot carry a lone surrogate (UTF-8 has none)."""
    return client.post(path, content=body.encode(), headers={"content-type": "application/json"})


def error_message(path: str, response: httpx.Response) -> str:
    payload = response.json()
    if path.startswith("/v1/"):
        assert payload["error"]["code"] == response.status_code
        assert payload["error"]["type"] == "invalid_request_error"
        return str(payload["error"]["message"])
    return str(payload["detail"])


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
@pytest.mark.parametrize("penalty", ["5e-324", "1e-300", "0", "-1", "1e300", "NaN", "Infinity"])
async def test_repetition_penalty_out_of_range_is_400(
    client: httpx.AsyncClient, path: str, penalty: str
) -> None:
    """Found by a probe: tiny penalties made sampling fail (500, torch.multinomial)."""
    start = (
        '"messages": [{"role": "user", "content": "hi"}]' if "chat" in path else '"prompt": "hi"'
    )
    response = await raw_post(
        client, path, f'{{{start}, "max_tokens": 2, "repetition_penalty": {penalty}}}'
    )
    assert response.status_code == 400, response.text
    assert "repetition_penalty" in error_message(path, response)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/chat", '{"prompt": "\\ud800"}', "prompt"),
        ("/chat", '{"prompt": "hi", "prefix": "a\\udfffb"}', "prefix"),
        ("/chat", '{"messages": [{"role": "user", "content": "\\ud800"}]}', "messages.0.content"),
        (
            "/chat",
            '{"prompt": "hi", "generate_kwargs": {"stop_strings": ["\\ud800"]}}',
            "generate_kwargs.stop_strings.0",
        ),
        ("/v1/completions", '{"prompt": "\\ud800"}', "prompt"),
        ("/v1/completions", '{"prompt": ["ok", "\\ud800"]}', "prompt.1"),
        ("/v1/completions", '{"prompt": "hi", "stop": ["\\ud800"]}', "stop.0"),
        ("/v1/completions", '{"prompt": "hi", "model": "\\ud800"}', "model"),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": "\\ud800"}]}',
            "messages.0.content",
        ),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": [{"type": "text", "text": "\\udc00"}]}]}',
            "messages.0.content.0.text",
        ),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": "hi"}], "\\ud800": 1}',
            "\\ud800",
        ),
    ],
)
async def test_lone_surrogates_are_400(
    client: httpx.AsyncClient, path: str, body: str, field: str
) -> None:
    """Found by a probe: the tokenizer raised TypeError on ``"\\ud800"`` (500)."""
    response = await raw_post(client, path, body)
    assert response.status_code == 400, response.text
    assert error_message(path, response).startswith(f"{field}: contains U+D")
    assert "lone surrogate" in error_message(path, response)


async def test_a_valid_surrogate_pair_is_text(client: httpx.AsyncClient) -> None:
    body = '{"prompt": "\\ud83d\\ude00", "max_tokens": 1, "echo": true}'
    response = await raw_post(client, "/v1/completions", body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["text"].startswith("\U0001f600")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bad_words_ids": [[1000]]},
        {"bad_words_ids": [[5, 264]]},
        {"suppress_tokens": [99999]},
        {"begin_suppress_tokens": [264]},
        {"forced_eos_token_id": 264},
        {"forced_eos_token_id": [2, 300]},
        {"pad_token_id": 264},
        {"eos_token_id": [2, 10**6]},
    ],
)
async def test_token_ids_outside_the_vocabulary_are_400(
    client: httpx.AsyncClient, kwargs: dict[str, Any]
) -> None:
    """Found by a probe: ``bad_words_ids`` outside the vocabulary gave 500 (the tiny model has
    264 tokens, ids 0 to 263)."""
    body = {"prompt": "hi", "generate_kwargs": {"max_new_tokens": 2, **kwargs}}
    response = await client.post("/chat", json=body)
    assert response.status_code == 400, response.text
    (key,) = kwargs
    assert response.json()["detail"].startswith(f"generate_kwargs.{key}: token id ")
    assert "outside the model's vocabulary (ids 0 to 263)" in response.json()["detail"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"bad_words_ids": [[-1]]}, "generate_kwargs.bad_words_ids.0.0: Input should be greater"),
        ({"bad_words_ids": [[]]}, "generate_kwargs.bad_words_ids.0: List should have at least"),
        ({"forced_eos_token_id": []}, "generate_kwargs.forced_eos_token_id: List should have"),
        ({"eos_token_id": -5}, "generate_kwargs.eos_token_id: Input should be greater than or"),
        ({"temperature": 0}, "generate_kwargs.temperature: Input should be greater than 0"),
        ({"repetition_penalty": 1e-300}, "generate_kwargs.repetition_penalty: Input should be"),
        ({"top_k": 10**12}, "generate_kwargs.top_k: Input should be less than or equal to"),
        ({"min_p": 5}, "generate_kwargs.min_p: Input should be less than or equal to 1"),
        ({"epsilon_cutoff": 1}, "generate_kwargs.epsilon_cutoff: Input should be less than 1"),
        ({"length_penalty": 1e308}, "generate_kwargs.length_penalty: Input should be less"),
        ({"max_time": -1}, "generate_kwargs.max_time: Input should be greater than 0"),
        ({"no_repeat_ngram_size": -1}, "generate_kwargs.no_repeat_ngram_size: Input should be"),
        ({"exponential_decay_length_penalty": [1, 1e308]}, "exponential_decay_length_penalty.1"),
        ({"exponential_decay_length_penalty": "x"}, "Input should be a valid tuple"),
        ({"stop_strings": 5}, "generate_kwargs.stop_strings: Input should be a valid string"),
        ({"stop_strings": [str(i) for i in range(20)]}, "at most 16 stop strings"),
        ({"use_cache": "x"}, "generate_kwargs.use_cache: Input should be a valid boolean"),
        ({"max_length": 10**12}, "generate_kwargs.max_length: Input should be less than"),
        (
            {"num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 1.0},
            "group beam search is not available",
        ),
        (
            {"suppress_tokens": list(range(264)), "do_sample": True},
            "No token can be generated",
        ),
        (
            {"forced_eos_token_id": 2, "suppress_tokens": [2]},
            "is also in `suppress_tokens`",
        ),
    ],
)
async def test_generate_kwargs_out_of_bounds_are_400(
    client: httpx.AsyncClient, kwargs: dict[str, Any], needle: str
) -> None:
    """Each of these was a 500 (ValueError, OverflowError or a NaN in sampling) or unchecked."""
    body = {"prompt": "hi", "generate_kwargs": {"max_new_tokens": 2, **kwargs}}
    response = await client.post("/chat", json=body)
    assert response.status_code == 400, response.text
    assert needle in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"top_k": 10**20}, "top_k: Input should be less than or equal to 2147483647"),
        ({"min_tokens": 10**20}, "min_tokens: Input should be less than or equal to"),
        ({"max_tokens": 10**20}, "max_tokens: Input should be less than or equal to"),
        ({"seed": 10**20}, "seed: Input should be less than or equal to"),
        ({"temperature": -0.5}, "temperature: Input should be greater than or equal to 0"),
        ({"top_p": 1.5}, "top_p: Input should be less than or equal to 1"),
        ({"n": 17}, "n: Input should be less than or equal to 16"),
        ({"frequency_penalty": 3}, "frequency_penalty: Input should be less than or equal to 2"),
        ({"logprobs": 6}, "logprobs: Input should be less than or equal to 5"),
        ({"prompt": []}, "prompt: List should have at least 1 item"),
    ],
)
async def test_openai_numbers_out_of_bounds_are_400(
    client: httpx.AsyncClient, body: dict[str, Any], needle: str
) -> None:
    response = await client.post("/v1/completions", json={"prompt": "hi", **body})
    assert response.status_code == 400, response.text
    assert needle in error_message("/v1/completions", response)


@pytest.mark.parametrize("path", ["/chat", "/v1/completions"])
async def test_tiny_temperatures_sample_instead_of_failing(
    client: httpx.AsyncClient, path: str
) -> None:
    """A temperature of 1e-300 divided the scores into infinities (500); like vLLM, the server
    raises positive temperatures below 0.01 to 0.01."""
    if path == "/chat":
        body: dict[str, Any] = {
            "prompt": "hi",
            "generate_kwargs": {"max_new_tokens": 3, "temperature": 1e-300, "top_k": 0},
        }
    else:
        body = {"prompt": "hi", "max_tokens": 3, "temperature": 1e-300}
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text


async def test_a_stream_with_no_token_left_raises_the_clients_error(
    engine: TransformersEngine,
) -> None:
    """The score guard raises inside ``generate`` (a worker thread); a stream passes it on as the
    client's error, which the OpenAI routes send as an error event with code 400."""
    ids = engine.tokenize("hi", add_special_tokens=True)
    params = SamplingParams(
        max_new_tokens=2, extra={"suppress_tokens": list(range(engine.vocab_size))}
    )
    stream = engine.stream(ids, params)
    with pytest.raises(EngineInputError, match="No token can be generated"):
        async for _ in stream:
            pass
