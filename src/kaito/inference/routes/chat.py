"""Upstream Kaito's ``POST /chat``: ``prompt`` or ``messages`` in, ``{"Result": ...}`` out.

Mirrors upstream's transformers server (v0.1-v0.8): ``generate_kwargs`` defaults
(``max_length`` 200, ``top_k`` 10, ``do_sample`` true, ...) merged over the model's generation
config; ``max_length``/``min_length`` count the prompt, as in ``transformers``; a request without
the field the configured pipeline needs gets upstream's 400 message. For ``messages`` the result
is the assistant's reply; for ``prompt`` it is the prompt followed by the generated text unless
``return_full_text`` is false. Besides upstream's documented keys, ``generate_kwargs`` may hold
the further ``generate`` keys :class:`~kaito.inference.protocol.GenerateKwargs` lists (bounded
there); those holding token ids are checked against the model's vocabulary here, and any other
key is refused, so that nothing a client sends reaches ``generate`` unchecked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kaito.inference.engines.base import SamplingParams
from kaito.inference.errors import ApiError
from kaito.inference.protocol import (
    EXTRA_GENERATE_KEYS,
    MAX_STOP_STRINGS,
    TOKEN_ID_KEYS,
    GenerateKwargs,
    UnifiedRequest,
)
from kaito.inference.routes.deps import ServiceDep
from kaito.inference.service import Service

router = APIRouter()

PROMPT_REQUIRED = "Text generation parameter prompt required"
MESSAGES_REQUIRED = "Conversational parameter messages required"

_PASSTHROUGH = ("early_stopping", "num_beams", "typical_p", "repetition_penalty")


def _token_ids(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value]
    return [i for item in value for i in _token_ids(item)]


def _engine_extra(service: Service, kw: GenerateKwargs) -> dict[str, Any]:
    unknown = sorted(set(kw.model_extra or {}))
    if unknown:
        raise ApiError(
            400,
            f"Unsupported generate_kwargs key(s): {', '.join(unknown)}. Supported besides the "
            f"documented ones: {', '.join(sorted(EXTRA_GENERATE_KEYS))}",
        )
    extra: dict[str, Any] = {key: getattr(kw, key) for key in _PASSTHROUGH}
    for key in ("pad_token_id", "eos_token_id", *sorted(EXTRA_GENERATE_KEYS & kw.model_fields_set)):
        value = getattr(kw, key)
        if value is not None:
            extra[key] = list(value) if isinstance(value, tuple) else value
    vocab = service.engine.vocab_size
    for key in TOKEN_ID_KEYS:
        outside = [i for i in _token_ids(extra.get(key, [])) if i >= vocab]
        if outside:
            raise ApiError(
                400,
                f"generate_kwargs.{key}: token id {outside[0]} is outside the model's vocabulary "
                f"(ids 0 to {vocab - 1})",
            )
    if "stop_strings" in extra:
        stops = extra.pop("stop_strings")
        stops = [s for s in ([stops] if isinstance(stops, str) else stops) if s]
        if len(stops) > MAX_STOP_STRINGS:
            raise ApiError(
                400,
                f"generate_kwargs.stop_strings: at most {MAX_STOP_STRINGS} stop strings are "
                "supported",
            )
        if stops:
            extra["stop_strings"] = stops
    return extra


def _prompt_ids(service: Service, body: UnifiedRequest) -> tuple[list[int], str | None]:
    """Token ids to generate from, and the prompt text when in text-generation mode."""
    pipeline = service.config.pipeline
    use_messages = body.messages is not None and (
        body.prompt is None or pipeline == "conversational"
    )
    if use_messages:
        assert body.messages is not None
        if not body.messages:
            raise ApiError(400, MESSAGES_REQUIRED)
        try:
            messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        rendered = service.engine.render_chat(messages)
        return service.engine.tokenize(rendered, add_special_tokens=False), None
    if body.prompt is None:
        raise ApiError(400, PROMPT_REQUIRED if pipeline == "text-generation" else MESSAGES_REQUIRED)
    prompt = (body.prefix or "") + body.prompt
    return service.engine.tokenize(prompt, add_special_tokens=True), body.prompt


@router.post("/chat")
async def chat(body: UnifiedRequest, service: ServiceDep) -> dict[str, str]:
    service.require_loaded()
    kw = body.generate_kwargs
    extra = _engine_extra(service, kw)
    ids, prompt = _prompt_ids(service, body)
    new_tokens = kw.max_new_tokens or kw.max_length - len(ids)
    if new_tokens < 1:
        raise ApiError(
            400,
            f"max_length ({kw.max_length}) must be greater than the prompt length ({len(ids)} "
            "tokens); raise max_length or set max_new_tokens",
        )
    if body.handle_long_generation == "hole":
        keep = min(service.engine.context_length - new_tokens, service.max_input_tokens)
        if keep < 1:
            raise ApiError(400, f"{new_tokens} new tokens leave no room for the prompt")
        ids = ids[-keep:]
    budget = service.token_budget(len(ids), new_tokens)
    min_new = kw.min_new_tokens if kw.min_new_tokens is not None else kw.min_length - len(ids)
    params = SamplingParams(
        max_new_tokens=budget,
        min_new_tokens=min(max(min_new, 0), budget),
        do_sample=kw.do_sample,
        temperature=kw.temperature,
        top_p=kw.top_p,
        top_k=kw.top_k,
        clean_up_tokenization_spaces=body.clean_up_tokenization_spaces,
        extra=extra,
    )
    completion = await service.complete(ids, params, adapter=None)
    text = completion.choices[0].text
    if prompt is not None and body.return_full_text:
        text = prompt + text
    return {"Result": text}
