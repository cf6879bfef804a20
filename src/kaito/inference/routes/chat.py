"""Upstream Kaito's ``POST /chat``: ``prompt`` or ``messages`` in, ``{"Result": ...}`` out.

Mirrors upstream's transformers server (v0.1-v0.8): ``generate_kwargs`` defaults
(``max_length`` 200, ``top_k`` 10, ``do_sample`` true, ...) merged over the model's generation
config; ``max_length``/``min_length`` count the prompt, as in ``transformers``; a request without
the field the configured pipeline needs gets upstream's 400 message. For ``messages`` the result
is the assistant's reply; for ``prompt`` it is the prompt followed by the generated text unless
``return_full_text`` is false.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kaito.inference.engines.base import SamplingParams
from kaito.inference.errors import ApiError
from kaito.inference.protocol import GenerateKwargs, UnifiedRequest
from kaito.inference.routes.deps import ServiceDep
from kaito.inference.service import Service

router = APIRouter()

PROMPT_REQUIRED = "Text generation parameter prompt required"
MESSAGES_REQUIRED = "Conversational parameter messages required"

EXTRA_GENERATE_KEYS = frozenset(
    {
        "begin_suppress_tokens",
        "bad_words_ids",
        "diversity_penalty",
        "encoder_repetition_penalty",
        "epsilon_cutoff",
        "eta_cutoff",
        "exponential_decay_length_penalty",
        "forced_eos_token_id",
        "length_penalty",
        "max_time",
        "min_p",
        "no_repeat_ngram_size",
        "num_beam_groups",
        "remove_invalid_values",
        "renormalize_logits",
        "stop_strings",
        "suppress_tokens",
        "use_cache",
    }
)
"""Further ``generate`` keys accepted in ``generate_kwargs`` (passed through unchanged)."""

_PASSTHROUGH = ("early_stopping", "num_beams", "typical_p", "repetition_penalty")


def _engine_extra(kw: GenerateKwargs) -> dict[str, Any]:
    extra: dict[str, Any] = {key: getattr(kw, key) for key in _PASSTHROUGH}
    for key in ("pad_token_id", "eos_token_id"):
        if getattr(kw, key) is not None:
            extra[key] = getattr(kw, key)
    unknown = sorted(set(kw.model_extra or {}) - EXTRA_GENERATE_KEYS)
    if unknown:
        raise ApiError(
            400,
            f"Unsupported generate_kwargs key(s): {', '.join(unknown)}. Supported besides the "
            f"documented ones: {', '.join(sorted(EXTRA_GENERATE_KEYS))}",
        )
    extra.update(kw.model_extra or {})
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
    extra = _engine_extra(kw)
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
