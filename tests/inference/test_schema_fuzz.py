"""Property: no body that the server's own OpenAPI schema admits makes a route answer 5xx.

Bodies are generated from ``GET /openapi.json`` (see ``schema_strategies``) and posted to the
real app over the tiny model. The server may refuse them, in the route's own error shape, but
a 5xx (or a streamed error event with a 5xx code) means client input broke the server: what a
probe found with ``repetition_penalty: 1e-300`` and lone surrogates. Generation is capped at a
few tokens so that the examples run in seconds.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.inference.conftest import ClientFactory
from tests.inference.helpers import parse_sse
from tests.inference.schema_strategies import ROUTES, body_strategies, encode

_openapi: dict[str, Any] = {}
_bodies: dict[str, st.SearchStrategy[Any]] = {}


MAX_TOKENS = 4


@pytest.fixture
async def fuzz_client(make_client: ClientFactory) -> Any:
    limits = {"max_output_tokens": MAX_TOKENS, "max_input_tokens": 64, "max_queue_size": 64}
    async with make_client(**limits) as c:
        if not _openapi:
            response = await c.get("/openapi.json")
            assert response.status_code == 200
            _openapi.update(response.json())
            vocab = c.app.state.service.engine.model.config.vocab_size  # type: ignore[attr-defined]
            _bodies.update(body_strategies(_openapi, vocab_size=vocab, max_tokens=MAX_TOKENS))
        yield c


def check_answer(path: str, response: httpx.Response) -> None:
    """A 2xx or a 4xx in the route's error shape; streamed events carry no 5xx error."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        payload = response.json()
        if path.startswith("/v1/"):
            assert payload["error"]["code"] == response.status_code, payload
            assert isinstance(payload["error"]["message"], str)
        else:
            assert isinstance(payload["detail"], str), payload
        return
    if response.headers["content-type"].startswith("text/event-stream"):
        events = parse_sse(response.text)
        assert events[-1] == "[DONE]"
        for event in events[:-1]:
            assert event.get("error", {}).get("code", 200) < 500, event
    else:
        response.json()


@pytest.mark.parametrize("path", ROUTES)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_schema_valid_bodies_never_get_5xx(
    fuzz_client: httpx.AsyncClient, path: str, data: st.DataObject
) -> None:
    body = data.draw(_bodies[path], label="body")
    response = await fuzz_client.post(
        path, content=encode(body), headers={"content-type": "application/json"}, timeout=60
    )
    event(f"HTTP {response.status_code}")
    check_answer(path, response)


async def test_the_published_schema_bounds_the_sampling_parameters(
    client: httpx.AsyncClient,
) -> None:
    """Clients (and the property above) read the bounds from the OpenAPI document."""
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]

    def number(schema: dict[str, Any]) -> dict[str, Any]:
        members = schema.get("anyOf", [schema])
        return next(m for m in members if m.get("type") in ("number", "integer"))

    for name in ("ChatCompletionRequest", "CompletionRequest"):
        fields = schemas[name]["properties"]
        penalty = number(fields["repetition_penalty"])
        assert (penalty["minimum"], penalty["maximum"]) == (0.01, 10)
        assert number(fields["temperature"])["maximum"] == 2
        assert number(fields["top_k"])["maximum"] == 2**31 - 1
        assert fields["n"]["maximum"] == 16
    kwargs = schemas["GenerateKwargs"]["properties"]
    assert kwargs["repetition_penalty"]["minimum"] == 0.01
    bad_words = next(m for m in kwargs["bad_words_ids"]["anyOf"] if m["type"] == "array")
    assert bad_words["items"]["items"]["minimum"] == 0
    assert kwargs["min_p"]["anyOf"][0]["maximum"] == 1
