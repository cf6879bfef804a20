"""The engine interface: what the HTTP layer needs from a model library.

The server speaks two protocols (upstream's ``/chat`` and OpenAI's) over one small contract, so
that the transformers engine (CPU or GPU, adapters merged with PEFT) and the vLLM engine (GPU,
continuous batching) are interchangeable, as upstream switches between its two runtimes. Prompts
arrive already tokenized: the server needs the token count to enforce limits and report usage, and
tokenizing twice would be waste. Option readings both engines share (the served model name,
``--chat-template``) live here too, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs


class EngineInputError(ValueError):
    """The request asks for something this engine cannot do (the client's fault: HTTP 400)."""


def served_name(model_path: str, served_model_name: str | None) -> str:
    """The model id clients use: ``--served-model-name``, else the model directory's name."""
    return served_model_name or Path(model_path.rstrip("/")).name or model_path


def load_chat_template(value: str) -> str:
    """``--chat-template`` is a file path or the template itself (as upstream)."""
    path = Path(value)
    try:
        if path.is_file():
            return path.read_text()
    except OSError:
        pass
    return value


@attrs.frozen
class AdapterSpec:
    """A LoRA adapter found under the adapters directory."""

    name: str
    """Directory name; also the env var holding its strength and the id in ``/v1/models``."""
    path: str
    """Directory holding ``adapter_config.json`` and the adapter weights."""
    strength: float = 1.0
    """Weight in the weighted merge (upstream: env var named after the adapter, default 1.0)."""


@attrs.frozen(kw_only=True)
class SamplingParams:
    """How to generate, independent of the engine."""

    max_new_tokens: int
    """Upper bound on generated tokens per choice."""
    min_new_tokens: int = 0
    """End-of-sequence is suppressed until this many tokens were generated."""
    do_sample: bool = True
    """False means greedy decoding (OpenAI ``temperature: 0``)."""
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0 disables top-k filtering."""
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stop: tuple[str, ...] = ()
    """Generation ends at the first of these strings, which is not part of the text."""
    n: int = 1
    """Number of choices."""
    skip_special_tokens: bool = True
    clean_up_tokenization_spaces: bool = False
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    """Engine-native generation keys (``/chat``'s ``generate_kwargs``), applied last."""


@attrs.frozen
class Choice:
    """One generated sequence."""

    text: str
    completion_tokens: int
    finish_reason: str
    """``stop`` (end-of-sequence or a stop string) or ``length`` (hit ``max_new_tokens``)."""


@attrs.frozen
class Completion:
    """The result of a non-streaming generation."""

    choices: tuple[Choice, ...]
    prompt_tokens: int
    first_token_time: float | None = None
    """``time.monotonic()`` when the first token was produced, for time-to-first-token."""


@attrs.frozen
class StreamEvent:
    """A piece of streamed text for choice ``index``; the last event of a choice has a reason.

    The first event of a choice comes with its first token and may have no text yet.
    """

    index: int
    text: str
    completion_tokens: int
    """Tokens generated so far for this choice."""
    finish_reason: str | None = None


class Engine(Protocol):
    """A loaded (or loading) model that generates text off the event loop."""

    @property
    def model_name(self) -> str:
        """The id clients put in ``model`` and see in ``/v1/models``."""
        ...

    @property
    def adapters(self) -> Sequence[AdapterSpec]:
        """Adapters served with the model (empty until loaded)."""
        ...

    @property
    def loaded(self) -> bool: ...

    @property
    def running(self) -> int:
        """Generations executing right now (admitted requests minus those waiting)."""
        ...

    @property
    def context_length(self) -> int:
        """Maximum prompt plus completion tokens."""
        ...

    @property
    def vocab_size(self) -> int:
        """Number of token ids the model scores (valid ids are ``0 .. vocab_size - 1``)."""
        ...

    async def load(self) -> None:
        """Load weights (slow; must not block the event loop)."""
        ...

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Apply the chat template; raise :class:`EngineInputError` when there is none."""
        ...

    def tokenize(self, text: str, *, add_special_tokens: bool) -> list[int]: ...

    async def generate(
        self, prompt_ids: Sequence[int], params: SamplingParams, *, adapter: str | None = None
    ) -> Completion: ...

    def stream(
        self, prompt_ids: Sequence[int], params: SamplingParams, *, adapter: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Stream choices one after another; closing the iterator cancels the generation."""
        ...

    async def aclose(self) -> None: ...
