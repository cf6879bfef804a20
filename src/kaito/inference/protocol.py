"""Request bodies of ``/chat`` (upstream's ``UnifiedRequestModel``) and the OpenAI API.

These are pydantic models because FastAPI validates request bodies with pydantic: a wrong type,
a missing field or an out-of-range value becomes a 400 naming the field before any handler runs.
Unknown fields are ignored, as upstream and OpenAI-compatible servers do, so clients that send
extra options keep working; options we cannot honour are refused by the handlers instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_CHOICES = 16
MAX_STOP_STRINGS = 16


class TextPart(BaseModel):
    """One part of a multi-part message content (only text is supported)."""

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
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


class GenerateKwargs(BaseModel):
    """``generate_kwargs`` of ``/chat``; defaults are upstream's, extra generate keys allowed."""

    model_config = ConfigDict(extra="allow")

    max_length: int = Field(default=200, ge=1)
    min_length: int = Field(default=0, ge=0)
    do_sample: bool = True
    early_stopping: bool = False
    num_beams: int = Field(default=1, ge=1, le=16)
    temperature: float = Field(default=1.0, gt=0, le=100)
    top_k: int = Field(default=10, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    typical_p: float = Field(default=1.0, gt=0, le=1)
    repetition_penalty: float = Field(default=1.0, gt=0)
    max_new_tokens: int | None = Field(default=None, ge=1)
    min_new_tokens: int | None = Field(default=None, ge=0)
    pad_token_id: int | None = Field(default=None, ge=0)
    eos_token_id: int | list[int] | None = None


class UnifiedRequest(BaseModel):
    """``POST /chat``: ``prompt`` (text generation) or ``messages`` (conversational)."""

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    prefix: str | None = None
    handle_long_generation: Literal["hole"] | None = None
    generate_kwargs: GenerateKwargs = Field(default_factory=GenerateKwargs)


# --- OpenAI -----------------------------------------------------------------------------------


class StreamOptions(BaseModel):
    include_usage: bool = False


class SamplingFields(BaseModel):
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1, le=MAX_CHOICES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    presence_penalty: float = Field(default=0.0, ge=-2, le=2)
    frequency_penalty: float = Field(default=0.0, ge=-2, le=2)
    seed: int | None = None
    user: str | None = None
    # vLLM's extensions, also understood by its OpenAI server
    top_k: int | None = Field(default=None, ge=-1)
    min_tokens: int = Field(default=0, ge=0)
    ignore_eos: bool = False
    repetition_penalty: float | None = Field(default=None, gt=0)

    def stop_list(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOP_STRINGS:
            raise ValueError(f"stop: at most {MAX_STOP_STRINGS} stop strings are supported")
        return tuple(s for s in stops if s)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[object] | None = None


class CompletionRequest(SamplingFields):
    prompt: str | list[str] = Field(min_length=1)
    max_tokens: int | None = Field(default=16, ge=1)
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None
