"""OpenAI-compatible ``/v1/models``, ``/v1/chat/completions`` and ``/v1/completions``.

Response shapes follow OpenAI's API (and vLLM's server, which upstream Kaito runs on GPUs), so
the official ``openai`` client and tools built on it work unchanged. ``stream: true`` answers
with server-sent events ending in ``data: [DONE]``; ``stream_options.include_usage`` adds a
final usage chunk. ``model`` may name the served model or one of its adapters (with the
transformers engine adapters are merged into the model, so both answer the same way).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from kaito.inference.engines.base import Choice, EngineInputError, SamplingParams, StreamEvent
from kaito.inference.errors import ApiError
from kaito.inference.protocol import ChatCompletionRequest, CompletionRequest, SamplingFields
from kaito.inference.routes.deps import ServiceDep
from kaito.inference.service import MeteredStream, Service
from kaito.inference.sse import DONE, ClosingStreamingResponse, sse_event

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")
STARTED = int(time.time())


def _sampling(body: SamplingFields, budget: int) -> SamplingParams:
    try:
        stop = body.stop_list()
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    temperature = 1.0 if body.temperature is None else body.temperature
    do_sample = temperature > 0
    extra: dict[str, Any] = {}
    if body.repetition_penalty is not None:
        extra["repetition_penalty"] = body.repetition_penalty
    return SamplingParams(
        max_new_tokens=budget,
        min_new_tokens=budget if body.ignore_eos else min(body.min_tokens, budget),
        do_sample=do_sample,
        temperature=temperature if do_sample else 1.0,
        top_p=body.top_p or 1.0,
        top_k=body.top_k if body.top_k and body.top_k > 0 else 0,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        stop=stop,
        n=body.n,
        extra=extra,
    )


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@router.get("/models")
async def models(service: ServiceDep) -> dict[str, Any]:
    engine = service.engine
    base = {
        "id": engine.model_name,
        "object": "model",
        "created": STARTED,
        "owned_by": "kaito",
        "root": service.config.model,
        "parent": None,
    }
    adapters = [
        {
            "id": a.name,
            "object": "model",
            "created": STARTED,
            "owned_by": "kaito",
            "root": a.path,
            "parent": engine.model_name,
            "strength": a.strength,
        }
        for a in engine.adapters
    ]
    return {"object": "list", "data": [base, *adapters]}


def _stream_response(
    stream: MeteredStream,
    render: Callable[[StreamEvent], list[dict[str, Any]]],
    finish: Callable[[int, int], list[dict[str, Any]]],
    prompt_tokens: int,
) -> ClosingStreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        completion_tokens: dict[int, int] = {}
        try:
            async for event in stream:
                completion_tokens[event.index] = event.completion_tokens
                for chunk in render(event):
                    yield sse_event(chunk)
        except ApiError as exc:
            yield sse_event({"error": {"message": exc.message, "code": exc.status}})
        except EngineInputError as exc:  # found during generation, e.g. no token left to choose
            yield sse_event({"error": {"message": str(exc), "code": 400}})
        except Exception:
            log.exception("streaming generation failed")
            yield sse_event({"error": {"message": "Internal server error", "code": 500}})
        else:
            for chunk in finish(prompt_tokens, sum(completion_tokens.values())):
                yield sse_event(chunk)
        yield DONE

    return ClosingStreamingResponse(body(), on_close=stream.aclose)


def _prepare_chat(service: Service, body: ChatCompletionRequest) -> list[int]:
    if body.logprobs or body.top_logprobs:
        raise ApiError(400, "logprobs are not supported by this server")
    if body.tools:
        raise ApiError(400, "tools are not supported by this server")
    try:
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    rendered = service.engine.render_chat(messages)
    return service.engine.tokenize(rendered, add_special_tokens=False)


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, service: ServiceDep) -> Response:
    service.require_loaded()
    adapter = service.resolve_model(body.model)
    ids = _prepare_chat(service, body)
    budget = service.token_budget(len(ids), body.max_completion_tokens or body.max_tokens)
    params = _sampling(body, budget)
    model = body.model or service.engine.model_name
    rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        head = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
        started: set[int] = set()

        def render(event: StreamEvent) -> list[dict[str, Any]]:
            chunks = []
            if event.index not in started:
                started.add(event.index)
                delta: dict[str, Any] = {"role": "assistant", "content": ""}
                chunks.append({**head, "choices": [_chunk_choice(event.index, delta, None)]})
            if event.text:
                delta = {"content": event.text}
                chunks.append({**head, "choices": [_chunk_choice(event.index, delta, None)]})
            if event.finish_reason:
                choice = _chunk_choice(event.index, {}, event.finish_reason)
                chunks.append({**head, "choices": [choice]})
            return chunks

        def finish(prompt: int, completion: int) -> list[dict[str, Any]]:
            return [{**head, "choices": [], "usage": _usage(prompt, completion)}] if usage else []

        stream = service.open_stream(ids, params, adapter)
        return _stream_response(stream, render, finish, len(ids))

    completion = await service.complete(ids, params, adapter)
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": c.text},
            "logprobs": None,
            "finish_reason": c.finish_reason,
        }
        for i, c in enumerate(completion.choices)
    ]
    generated = sum(c.completion_tokens for c in completion.choices)
    return JSONResponse(
        {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": _usage(completion.prompt_tokens, generated),
        }
    )


def _chunk_choice(index: int, delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}


def _text_choice(index: int, text: str, reason: str | None) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": reason}


@router.post("/completions")
async def completions(body: CompletionRequest, service: ServiceDep) -> Response:
    service.require_loaded()
    adapter = service.resolve_model(body.model)
    if body.logprobs is not None:
        raise ApiError(400, "logprobs are not supported by this server")
    if body.suffix:
        raise ApiError(400, "suffix is not supported by this server")
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if body.stream and len(prompts) > 1:
        raise ApiError(400, "Streaming supports a single prompt")
    tokenized = [service.engine.tokenize(p, add_special_tokens=True) for p in prompts]
    budgets = [service.token_budget(len(ids), body.max_tokens) for ids in tokenized]
    model = body.model or service.engine.model_name
    rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
    head = {"id": rid, "object": "text_completion", "created": created, "model": model}
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        echoed: set[int] = set()

        def render(event: StreamEvent) -> list[dict[str, Any]]:
            text = event.text
            if body.echo and event.index not in echoed:
                echoed.add(event.index)
                text = prompts[0] + text
            if not text and not event.finish_reason:
                return []
            return [{**head, "choices": [_text_choice(event.index, text, event.finish_reason)]}]

        def finish(prompt: int, completion: int) -> list[dict[str, Any]]:
            return [{**head, "choices": [], "usage": _usage(prompt, completion)}] if usage else []

        stream = service.open_stream(tokenized[0], _sampling(body, budgets[0]), adapter)
        return _stream_response(stream, render, finish, len(tokenized[0]))

    choices: list[dict[str, Any]] = []
    prompt_tokens = generated = 0
    for prompt, ids, budget in zip(prompts, tokenized, budgets, strict=True):
        completion = await service.complete(ids, _sampling(body, budget), adapter)
        prompt_tokens += completion.prompt_tokens
        for c in completion.choices:
            generated += c.completion_tokens
            choices.append(_completion_choice(len(choices), c, prompt if body.echo else ""))
    return JSONResponse({**head, "choices": choices, "usage": _usage(prompt_tokens, generated)})


def _completion_choice(index: int, choice: Choice, echo: str) -> dict[str, Any]:
    return _text_choice(index, echo + choice.text, choice.finish_reason)
