"""Request bodies of ``/chat`` (upstream's ``UnifiedRequestModel``) and the OpenAI API.

These are pydantic models because FastAPI validates request bodies with pydantic: a wrong type,
a missing field or an out-of-range value becomes a 400 naming the field before any handler runs.
Unknown fields are ignored, as upstream and OpenAI-compatible servers do, so clients that send
extra options keep working; options we cannot honour are refused by the handlers instead.

Every number a client sends is bounded here, so that no value the schema admits can overflow
or turn the model's scores into NaN (a probe found ``repetition_penalty: 1e-300`` crashing
sampling); floats must be finite. Token ids are checked against the model's vocabulary by the
``/chat`` route, which knows it. Every string in a body, unknown fields and keys included, must
be valid Unicode: JSON may carry a lone UTF-16 surrogate (``"\\ud800"``) that no tokenizer or
UTF-8 encoder accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

MAX_CHOICES = 16
MAX_STOP_STRINGS = 16
MAX_BEAMS = 16
MAX_INT = 2**31 - 1
"""Upper bound of counts and sizes that have no natural bound of their own (a C ``int``)."""
MIN_PENALTY, MAX_PENALTY = 0.01, 10.0
"""Range of multiplicative penalties (``repetition_penalty``): scores are divided by them."""

TokenId = Annotated[int, Field(ge=0, le=MAX_INT)]
"""A token id; the route checks it against the vocabulary."""
TokenIds = Annotated[list[TokenId], Field(min_length=1)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Penalty = Annotated[float, Field(ge=MIN_PENALTY, le=MAX_PENALTY)]


_Where = tuple[str | int, ...]


def _strings(value: Any, path: _Where) -> Iterator[tuple[_Where, str]]:
    """Every string in decoded JSON (dict keys too), with where it is."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield (*path, key), key
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def require_unicode(data: Any) -> None:
    """Raise a validation error naming the first string that cannot be encoded as UTF-8."""
    for path, text in _strings(data, ()):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = ".".join(str(p) for p in path) or "body"
            raise PydanticCustomError(
                "unicode_text",
                "{where}: contains U+{code}, a lone surrogate; text must be valid Unicode",
                {
                    "where": where.encode("utf-8", "backslashreplace").decode(),
                    "code": f"{ord(text[exc.start]):04X}",
                },
            ) from None


class _Model(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


class _Body(_Model):
    """A whole request body: every string in it must be valid Unicode."""

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        require_unicode(data)
        return data


class TextPart(_Model):
    """One part of a multi-part message content (only text is supported)."""

    type: str
    text: str | None = None


class ChatMessage(_Model):
    role: str = Field(min_length=1, max_length=64)
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The content as one string; non-text parts raise ``ValueError``."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        pieces = []
        for part in self.content:
            if part.type != "text" or part.text is None:
                raise ValueError(f"message content of type {part.type!r} is not supported")
            pieces.append(part.text)
        return "".join(pieces)


# --- upstream /chat ----------------------------------------------------------------------------


class GenerateKwargs(_Model):
    """``generate_kwargs`` of ``/chat``: upstream's defaults and the further ``generate`` keys
    the server accepts; any other key is refused by the route."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    max_length: int = Field(default=200, ge=1, le=MAX_INT)
    min_length: Count = 0
    do_sample: bool = True
    early_stopping: bool = False
    num_beams: int = Field(default=1, ge=1, le=MAX_BEAMS)
    temperature: float = Field(default=1.0, gt=0, le=100)
    top_k: Count = 10
    top_p: float = Field(default=1.0, gt=0, le=1)
    typical_p: float = Field(default=1.0, gt=0, le=1)
    repetition_penalty: Penalty = 1.0
    max_new_tokens: int | None = Field(default=None, ge=1, le=MAX_INT)
    min_new_tokens: Count | None = None
    pad_token_id: TokenId | None = None
    eos_token_id: TokenId | TokenIds | None = None
    # further generate() keys, passed on only when the request sets them
    begin_suppress_tokens: list[TokenId] | None = None
    bad_words_ids: list[TokenIds] | None = Field(default=None, min_length=1)
    diversity_penalty: float | None = Field(default=None, ge=0, le=100)
    encoder_repetition_penalty: Penalty | None = None
    epsilon_cutoff: float | None = Field(default=None, ge=0, lt=1)
    eta_cutoff: float | None = Field(default=None, ge=0, lt=1)
    exponential_decay_length_penalty: (
        tuple[Count, Annotated[float, Field(ge=0, le=MAX_PENALTY)]] | None
    ) = None
    """(start index, decay factor); the route checks the factor cannot overflow the scores."""
    forced_eos_token_id: TokenId | TokenIds | None = None
    length_penalty: float | None = Field(default=None, ge=-MAX_PENALTY, le=MAX_PENALTY)
    max_time: float | None = Field(default=None, gt=0)
    min_p: float | None = Field(default=None, ge=0, le=1)
    no_repeat_ngram_size: Count | None = None
    num_beam_groups: int | None = Field(default=None, ge=1, le=MAX_BEAMS)
    remove_invalid_values: bool | None = None
    renormalize_logits: bool | None = None
    stop_strings: str | list[str] | None = None
    suppress_tokens: list[TokenId] | None = None
    use_cache: bool | None = None


UPSTREAM_GENERATE_KEYS = (
    "max_length",
    "min_length",
    "do_sample",
    "early_stopping",
    "num_beams",
    "temperature",
    "top_k",
    "top_p",
    "typical_p",
    "repetition_penalty",
    "max_new_tokens",
    "min_new_tokens",
    "pad_token_id",
    "eos_token_id",
)
"""The ``generate_kwargs`` upstream documents (with defaults); the rest of
:class:`GenerateKwargs` are extra ``generate`` keys."""

EXTRA_GENERATE_KEYS = frozenset(GenerateKwargs.model_fields) - frozenset(UPSTREAM_GENERATE_KEYS)
"""Further ``generate`` keys accepted in ``generate_kwargs``."""

TOKEN_ID_KEYS = (
    "pad_token_id",
    "eos_token_id",
    "begin_suppress_tokens",
    "bad_words_ids",
    "forced_eos_token_id",
    "suppress_tokens",
)
"""``generate_kwargs`` holding token ids (an id, or lists of ids)."""


class UnifiedRequest(_Body):
    """``POST /chat``: ``prompt`` (text generation) or ``messages`` (conversational)."""

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    prefix: str | None = None
    handle_long_generation: Literal["hole"] | None = None
    generate_kwargs: GenerateKwargs = Field(default_factory=GenerateKwargs)


# --- OpenAI -----------------------------------------------------------------------------------


class StreamOptions(_Model):
    include_usage: bool = False


class SamplingFields(_Body):
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1, le=MAX_CHOICES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    presence_penalty: float = Field(default=0.0, ge=-2, le=2)
    frequency_penalty: float = Field(default=0.0, ge=-2, le=2)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**64 - 1)
    user: str | None = None
    # vLLM's extensions, also understood by its OpenAI server
    top_k: int | None = Field(default=None, ge=-1, le=MAX_INT)
    min_tokens: Count = 0
    ignore_eos: bool = False
    repetition_penalty: Penalty | None = None

    def stop_list(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOP_STRINGS:
            raise ValueError(f"stop: at most {MAX_STOP_STRINGS} stop strings are supported")
        return tuple(s for s in stops if s)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_INT)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_INT)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[object] | None = None


class CompletionRequest(SamplingFields):
    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
    max_tokens: int | None = Field(default=16, ge=1, le=MAX_INT)
    echo: bool = False
    logprobs: int | None = Field(default=None, ge=0, le=5)
    suffix: str | None = None
