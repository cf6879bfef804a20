"""The vLLM engine (upstream's default runtime on GPUs), used only where ``vllm`` is installed.

vLLM batches requests continuously on its own event-loop-friendly engine (``AsyncLLMEngine``),
so this engine needs no thread pool. Adapters follow upstream's vLLM runtime: each adapter
directory becomes a LoRA module selected per request by ``"model": "<adapter-name>"``; vLLM
cannot weight adapters, so strengths other than 1 are refused (upstream's webhook rejects them
too). Settings from the config file's ``vllm:`` section are passed to ``AsyncEngineArgs``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from kaito.inference.adapters import AdapterError, discover_adapters
from kaito.inference.config import InferenceConfig
from kaito.inference.engines.base import (
    AdapterSpec,
    Choice,
    Completion,
    EngineInputError,
    SamplingParams,
    StreamEvent,
    load_chat_template,
    served_name,
)

_NEUTRAL_EXTRA = {"early_stopping": False, "num_beams": 1, "typical_p": 1.0}
"""``/chat`` defaults that vLLM has no knob for; accepted only with these values."""


def _finish_reason(reason: str | None) -> str:
    """vLLM's ``length`` stays; every other end (end-of-sequence, stop string) is ``stop``."""
    return "length" if reason == "length" else "stop"


class VllmEngine:
    """Serves a model through ``vllm.AsyncLLMEngine``."""

    def __init__(
        self,
        model_path: str,
        *,
        served_model_name: str | None = None,
        dtype: str = "auto",
        trust_remote_code: bool = False,
        chat_template: str | None = None,
        adapters_dir: str = "/mnt/adapter",
        engine_args: Mapping[str, Any] | None = None,
    ) -> None:
        self._model_path = model_path
        self._name = served_name(model_path, served_model_name)
        self._dtype = dtype
        self._trust_remote_code = trust_remote_code
        self._chat_template = chat_template
        self._adapters_dir = adapters_dir
        self._engine_args = dict(engine_args or {})
        self._engine: Any = None
        self._tokenizer: Any = None
        self._context = 0
        self._vocab = 0
        self._adapters: list[AdapterSpec] = []
        self._lora: dict[str, Any] = {}
        self._running = 0

    @classmethod
    def from_config(cls, config: InferenceConfig) -> VllmEngine:
        return cls(
            config.model,
            served_model_name=config.served_model_name,
            dtype=config.dtype,
            trust_remote_code=config.trust_remote_code,
            chat_template=config.chat_template,
            adapters_dir=config.adapters_dir,
            engine_args=(
                {"download_dir": config.download_dir, **config.engine_args}
                if config.download_dir
                else config.engine_args
            ),
        )

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def adapters(self) -> Sequence[AdapterSpec]:
        return self._adapters

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    @property
    def running(self) -> int:
        return self._running

    @property
    def context_length(self) -> int:
        return self._context

    @property
    def vocab_size(self) -> int:
        return self._vocab

    async def load(self) -> None:
        if self._engine is not None:
            return
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs, AsyncLLMEngine
        from vllm.lora.request import LoRARequest

        adapters = discover_adapters(self._adapters_dir)
        for spec in adapters:
            if spec.strength != 1.0:
                raise AdapterError("Runtime validation: vLLM does not support adapter strength")
        self._tokenizer = await asyncio.to_thread(
            AutoTokenizer.from_pretrained,
            self._model_path,
            trust_remote_code=self._trust_remote_code,
        )
        if self._chat_template:
            self._tokenizer.chat_template = load_chat_template(self._chat_template)
        args: dict[str, Any] = {
            "model": self._model_path,
            "served_model_name": [self._name],
            "dtype": self._dtype,
            "trust_remote_code": self._trust_remote_code,
        }
        if adapters:
            args.update(enable_lora=True, max_loras=len(adapters))
        args.update(self._engine_args)
        engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**args))
        model_config = await engine.get_model_config()
        self._context = int(model_config.max_model_len)
        self._vocab = int(model_config.get_vocab_size())
        self._lora = {a.name: LoRARequest(a.name, i + 1, a.path) for i, a in enumerate(adapters)}
        self._adapters = adapters
        self._engine = engine

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        if not self._tokenizer.chat_template:
            raise EngineInputError("This model has no chat template; start with --chat-template")
        try:
            return str(
                self._tokenizer.apply_chat_template(
                    [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
                )
            )
        except Exception as exc:  # jinja raise_exception() in templates
            raise EngineInputError(f"Chat template rejected the messages: {exc}") from exc

    def tokenize(self, text: str, *, add_special_tokens: bool) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])

    def _sampling(self, params: SamplingParams) -> Any:
        from vllm import SamplingParams as VllmSamplingParams

        extra = dict(params.extra)
        for key, neutral in _NEUTRAL_EXTRA.items():
            if key in extra and extra.pop(key) != neutral:
                raise EngineInputError(f"{key} is not supported by the vLLM engine")
        repetition_penalty = float(extra.pop("repetition_penalty", 1.0))
        if extra:
            raise EngineInputError(f"Unsupported by the vLLM engine: {', '.join(sorted(extra))}")
        try:
            return VllmSamplingParams(
                n=params.n,
                temperature=params.temperature if params.do_sample else 0.0,
                top_p=params.top_p,
                top_k=params.top_k if params.top_k > 0 else -1,
                max_tokens=params.max_new_tokens,
                min_tokens=params.min_new_tokens,
                stop=list(params.stop) or None,
                presence_penalty=params.presence_penalty,
                frequency_penalty=params.frequency_penalty,
                repetition_penalty=repetition_penalty,
                skip_special_tokens=params.skip_special_tokens,
            )
        except ValueError as exc:  # vLLM checks its parameters too: the client's fault
            raise EngineInputError(str(exc)) from exc

    def _lora_request(self, adapter: str | None) -> Any:
        if adapter is None:
            return None
        if adapter not in self._lora:
            raise EngineInputError(f"Unknown adapter {adapter!r}")
        return self._lora[adapter]

    async def _outputs(
        self, prompt_ids: Sequence[int], sampling: Any, lora: Any
    ) -> AsyncIterator[Any]:
        request_id = uuid.uuid4().hex
        finished = False
        self._running += 1
        try:
            async for output in self._engine.generate(
                {"prompt_token_ids": list(prompt_ids)}, sampling, request_id, lora_request=lora
            ):
                finished = output.finished
                yield output
        finally:
            self._running -= 1
            if not finished:
                await self._engine.abort(request_id)

    async def generate(
        self, prompt_ids: Sequence[int], params: SamplingParams, *, adapter: str | None = None
    ) -> Completion:
        sampling, lora = self._sampling(params), self._lora_request(adapter)
        first: float | None = None
        final: Any = None
        async for output in self._outputs(prompt_ids, sampling, lora):
            if first is None and any(o.token_ids for o in output.outputs):
                first = time.monotonic()
            final = output
        choices = tuple(
            Choice(o.text, len(o.token_ids), _finish_reason(o.finish_reason))
            for o in (final.outputs if final is not None else [])
        )
        return Completion(choices=choices, prompt_tokens=len(prompt_ids), first_token_time=first)

    def stream(
        self, prompt_ids: Sequence[int], params: SamplingParams, *, adapter: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        sampling, lora = self._sampling(params), self._lora_request(adapter)
        return self._stream(prompt_ids, sampling, lora)

    async def _stream(
        self, prompt_ids: Sequence[int], sampling: Any, lora: Any
    ) -> AsyncIterator[StreamEvent]:
        sent: dict[int, int] = {}
        async for output in self._outputs(prompt_ids, sampling, lora):
            for o in output.outputs:
                done = sent.get(o.index, 0)
                if done < 0:
                    continue  # this choice already finished
                delta = o.text[done:]
                reason = None if o.finish_reason is None else _finish_reason(o.finish_reason)
                if delta or reason:
                    yield StreamEvent(o.index, delta, len(o.token_ids), reason)
                sent[o.index] = -1 if reason else len(o.text)

    async def aclose(self) -> None:
        if self._engine is not None and hasattr(self._engine, "shutdown"):
            self._engine.shutdown()
