"""The Hugging Face transformers engine (upstream's ``text-generation`` runtime).

``AutoTokenizer`` + ``AutoModelForCausalLM`` on CPU or GPU, adapters merged with PEFT at load,
``model.generate`` run in a small thread pool so the event loop keeps answering ``/health`` and
``/metrics`` while a request generates. The pool's size is the number of generations that run at
once; the server's admission control bounds how many may wait for it. Whatever the request asks
must fail here, as a 400, rather than inside ``generate``: temperatures are kept at or above
0.01, stop strings and Hub-only generation modes are checked up front, and
:class:`~kaito.inference.engines.hf_scores.ScoreGuard` keeps the scores finite while generating.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from kaito.inference.adapters import apply_adapters, discover_adapters
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
from kaito.inference.engines.stops import StopMatcher, truncate_at_stop

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "float16", "bfloat16")
DEFAULT_CONTEXT_LENGTH = 2048
MIN_TEMPERATURE = 0.01
"""Smaller positive temperatures are raised to this, as vLLM does: dividing scores by a tiny
temperature overflows them to infinity and sampling fails."""


@attrs.define
class _Loaded:
    model: Any
    tokenizer: Any
    eos_ids: frozenset[int]
    context_length: int
    adapters: list[AdapterSpec]
    vocab_size: int


class TransformersEngine:
    """Serves one causal LM (plus merged LoRA adapters) with ``transformers``."""

    def __init__(
        self,
        model_path: str,
        *,
        served_model_name: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        trust_remote_code: bool = False,
        local_files_only: bool = True,
        download_dir: str | None = None,
        chat_template: str | None = None,
        adapters_dir: str = "/mnt/adapter",
        combination_type: str = "svd",
        max_concurrency: int = 1,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self._model_path = model_path
        self._name = served_name(model_path, served_model_name)
        self._dtype = dtype
        self._device = device
        self._trust_remote_code = trust_remote_code
        self._local_files_only = local_files_only
        self._download_dir = download_dir
        self._chat_template = chat_template
        self._adapters_dir = adapters_dir
        self._combination_type = combination_type
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="generate"
        )
        self._state: _Loaded | None = None
        self._running = 0
        self._running_lock = threading.Lock()

    # -- Engine properties -------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def adapters(self) -> Sequence[AdapterSpec]:
        return self._state.adapters if self._state else ()

    @property
    def loaded(self) -> bool:
        return self._state is not None

    @property
    def running(self) -> int:
        return self._running

    @property
    def context_length(self) -> int:
        return self._loaded().context_length

    @property
    def vocab_size(self) -> int:
        return self._loaded().vocab_size

    @property
    def model(self) -> Any:
        """The underlying ``PreTrainedModel`` (adapters already merged)."""
        return self._loaded().model

    @property
    def tokenizer(self) -> Any:
        return self._loaded().tokenizer

    # -- loading -----------------------------------------------------------------------------

    async def load(self) -> None:
        if self._state is None:
            self._state = await asyncio.to_thread(self._load_sync)

    def _load_sync(self) -> _Loaded:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        common: dict[str, Any] = {
            "trust_remote_code": self._trust_remote_code,
            "local_files_only": self._local_files_only,
        }
        if self._download_dir:
            common["cache_dir"] = self._download_dir
        tokenizer = AutoTokenizer.from_pretrained(self._model_path, **common)
        if self._chat_template:
            tokenizer.chat_template = load_chat_template(self._chat_template)
        device = self._device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype: Any = "auto" if self._dtype == "auto" else getattr(torch, self._dtype)
        model: Any = AutoModelForCausalLM.from_pretrained(
            self._model_path,
            dtype=dtype,
            device_map="auto" if device == "cuda" else None,
            **common,
        )
        if device != "cuda":
            model = model.to(torch.device(device))
        adapters = discover_adapters(self._adapters_dir)
        model = apply_adapters(model, adapters, self._combination_type).eval()

        gen = model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else tokenizer.eos_token_id
        eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))
        if tokenizer.pad_token_id is None and eos_ids:
            tokenizer.pad_token_id = min(eos_ids)
        if gen.pad_token_id is None:
            gen.pad_token_id = tokenizer.pad_token_id
        context = getattr(model.config, "max_position_embeddings", None)
        if not isinstance(context, int) or context <= 0:
            limit = getattr(tokenizer, "model_max_length", 0)
            context = limit if 0 < limit < 10_000_000 else DEFAULT_CONTEXT_LENGTH
        head = model.get_output_embeddings()
        text_config = model.config.get_text_config()
        vocab = head.weight.shape[0] if head is not None else text_config.vocab_size
        log.info("loaded %s on %s (context %d tokens)", self._model_path, model.device, context)
        return _Loaded(model, tokenizer, eos_ids, context, adapters, int(vocab))

    def _loaded(self) -> _Loaded:
        if self._state is None:
            raise RuntimeError("model not loaded")
        return self._state

    # -- prompts -----------------------------------------------------------------------------

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        import jinja2

        tokenizer = self._loaded().tokenizer
        if not tokenizer.chat_template:
            raise EngineInputError(
                "This model has no chat template: send a prompt, or start the server with "
                "--chat-template"
            )
        try:
            rendered = tokenizer.apply_chat_template(
                [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
            )
        except (jinja2.TemplateError, ValueError, TypeError, KeyError) as exc:
            raise EngineInputError(f"Chat template rejected the messages: {exc}") from exc
        return str(rendered)

    def tokenize(self, text: str, *, add_special_tokens: bool) -> list[int]:
        ids = self._loaded().tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        return list(ids)

    # -- generation config -------------------------------------------------------------------

    def _generation_config(self, params: SamplingParams) -> Any:
        from transformers.generation.utils import GENERATION_MODES_MAPPING

        if params.presence_penalty or params.frequency_penalty:
            raise EngineInputError(
                "presence_penalty and frequency_penalty are not supported by the transformers "
                "engine; use repetition_penalty"
            )
        state = self._loaded()
        config = copy.deepcopy(state.model.generation_config)
        updates: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "min_new_tokens": params.min_new_tokens or None,
            "do_sample": params.do_sample,
            "num_return_sequences": params.n,
            "stop_strings": list(params.stop) or None,
        }
        if params.do_sample:
            temperature = max(params.temperature, MIN_TEMPERATURE)
            updates.update(temperature=temperature, top_p=params.top_p, top_k=params.top_k)
        else:
            updates.update(temperature=None, top_p=None, top_k=None)
        updates.update(params.extra)
        beams = updates.get("num_beams") or config.num_beams or 1
        if params.n > beams and not updates["do_sample"]:
            # greedy decoding cannot give n different sequences; do as OpenAI does: sample
            updates.update(do_sample=True, temperature=1.0, top_p=params.top_p, top_k=params.top_k)
        try:
            unused = config.update(**updates)
            config.validate()
        except ValueError as exc:
            raise EngineInputError(str(exc)) from exc
        if unused:
            raise EngineInputError(f"Unknown generation parameter(s): {', '.join(sorted(unused))}")
        if config.stop_strings:
            self._check_stop_strings(config.stop_strings)
        mode = config.get_generation_mode()
        if "/" in GENERATION_MODES_MAPPING.get(mode, ""):
            raise EngineInputError(
                f"{mode.name.replace('_', ' ').lower()} is not available: transformers moved "
                "it to a Hub repository, which this server does not download"
            )
        return config

    def _check_stop_strings(self, stops: str | list[str]) -> None:
        """What ``generate`` would refuse later, in its worker thread (the criteria's token
        tables are cached per tokenizer, so ``generate`` does not build them again)."""
        from transformers import StopStringCriteria

        try:
            StopStringCriteria(tokenizer=self._loaded().tokenizer, stop_strings=stops)
        except ValueError as exc:
            raise EngineInputError(f"Stop strings refused: {exc}") from exc

    # -- generation --------------------------------------------------------------------------

    async def generate(
        self, prompt_ids: Sequence[int], params: SamplingParams, *, adapter: str | None = None
    ) -> Completion:
        config = self._generation_config(params)
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, self._generate_sync, list(prompt_ids), config, params, cancel
        )
        try:
            return await future
        finally:
            cancel.set()

    def _generate_sync(
        self, ids: list[int], config: Any, params: SamplingParams, cancel: threading.Event
    ) -> Completion:
        from kaito.inference.engines.hf_streaming import TimingStreamer

        timing = TimingStreamer() if (config.num_beams or 1) == 1 else None
        output = self._run_generate(ids, config, timing, cancel)
        choices = tuple(
            self._choice(row[len(ids) :].tolist(), params, config.max_new_tokens) for row in output
        )
        first = timing.first_token_time if timing else None
        return Completion(choices=choices, prompt_tokens=len(ids), first_token_time=first)

    def _run_generate(
        self, ids: list[int], config: Any, streamer: Any, cancel: threading.Event
    ) -> Any:
        """``model.generate`` on one prompt in a worker thread, counted in :attr:`running`;
        ``cancel`` stops it between tokens."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        from kaito.inference.engines.hf_scores import ScoreGuard
        from kaito.inference.engines.hf_streaming import CancelCriteria

        state = self._loaded()
        input_ids = torch.tensor([ids], device=state.model.device)
        with self._running_lock:
            self._running += 1
        try:
            return state.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                generation_config=config,
                streamer=streamer,
                logits_processor=LogitsProcessorList([ScoreGuard()]),
                stopping_criteria=StoppingCriteriaList([CancelCriteria(cancel)]),
                tokenizer=state.tokenizer,
            )
        finally:
            with self._running_lock:
                self._running -= 1

    def _choice(self, new_ids: list[int], params: SamplingParams, max_new: int) -> Choice:
        state = self._loaded()
        eos_at = next((i for i, t in enumerate(new_ids) if t in state.eos_ids), -1)
        generated = new_ids if eos_at < 0 else new_ids[: eos_at + 1]
        text = state.tokenizer.decode(
            generated if eos_at < 0 else generated[:-1],
            skip_special_tokens=params.skip_special_tokens,
            clean_up_tokenization_spaces=params.clean_up_tokenization_spaces,
        )
        text, stopped = truncate_at_stop(text, params.stop)
        reason = "stop" if eos_at >= 0 or stopped or len(generated) < max_new else "length"
        return Choice(text=text, completion_tokens=len(generated), finish_reason=reason)

    def stream(
        self, prompt_ids: Sequence[int], params: SamplingParams, *, adapter: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        config = self._generation_config(attrs.evolve(params, n=1))
        if (config.num_beams or 1) != 1:
            raise EngineInputError("Streaming needs num_beams=1")
        return self._stream_choices(list(prompt_ids), params, config)

    async def _stream_choices(
        self, ids: list[int], params: SamplingParams, config: Any
    ) -> AsyncIterator[StreamEvent]:
        for index in range(params.n):
            async for event in self._stream_one(index, ids, params, config):
                yield event

    async def _stream_one(
        self, index: int, ids: list[int], params: SamplingParams, config: Any
    ) -> AsyncIterator[StreamEvent]:
        from kaito.inference.engines.hf_streaming import AsyncTextStreamer

        state = self._loaded()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        streamer = AsyncTextStreamer(
            state.tokenizer,
            loop,
            queue,
            state.eos_ids,
            skip_special_tokens=params.skip_special_tokens,
            clean_up_tokenization_spaces=params.clean_up_tokenization_spaces,
        )
        cancel = threading.Event()
        matcher = StopMatcher(params.stop)
        future = loop.run_in_executor(
            self._executor, self._stream_sync, ids, config, streamer, cancel
        )
        first = True
        try:
            while (piece := await queue.get()) is not None:
                text = matcher.feed(piece)
                if text or first:
                    first = False
                    yield StreamEvent(index, text, streamer.tokens)
                if matcher.stopped:
                    cancel.set()
                    break
            await future
            tail = matcher.flush()
            stopped = (
                matcher.stopped or streamer.eos_seen or streamer.tokens < params.max_new_tokens
            )
            yield StreamEvent(index, tail, streamer.tokens, "stop" if stopped else "length")
        finally:
            cancel.set()

    def _stream_sync(
        self, ids: list[int], config: Any, streamer: Any, cancel: threading.Event
    ) -> None:
        try:
            if cancel.is_set():
                return
            self._run_generate(ids, config, streamer, cancel)
        finally:
            streamer.finish()

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
