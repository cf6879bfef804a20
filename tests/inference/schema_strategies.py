"""Hypothesis strategies for request bodies, read from the server's own OpenAPI document.

The bodies follow the JSON schema FastAPI publishes for each route (types, bounds, lengths,
enums, required fields), so every generated body is one a client could build from the
documentation: the server may refuse it (4xx: prompt too long, option not supported) but must
never fail on it (5xx). Strings are drawn from all of Unicode including lone surrogates, which
JSON carries as ``\\ud800`` escapes.

Most bodies drawn straight from the schema are refused (one bad field among twenty is enough),
so :func:`body_strategies` mixes in *plausible* bodies: still schema-valid, but with bounds
narrowed to what the server can serve (token ids inside the vocabulary, a few tokens to
generate, no options the engine refuses), which reach generation with extreme sampling values.
:func:`invalid_body` adds schema-breaking mutations for the fuzz benchmark. Only the JSON schema
subset pydantic emits is understood; an unknown keyword fails loudly rather than generating
bodies the schema forbids.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st

ROUTES = ("/chat", "/v1/chat/completions", "/v1/completions")

_IGNORED = frozenset({"title", "description", "default", "examples", "additionalProperties"})
_KNOWN = _IGNORED | {
    "$ref",
    "anyOf",
    "type",
    "properties",
    "required",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
    "const",
}

_UNICODE = st.characters(codec="utf-8")
_SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)


def text(
    min_size: int = 0, max_size: int = 12, *, surrogates: bool = True
) -> st.SearchStrategy[str]:
    """Short strings over all of Unicode; with ``surrogates`` one in ten holds a lone one."""
    valid = st.text(_UNICODE, min_size=min_size, max_size=max_size)
    if not surrogates:
        return valid
    half = st.text(_UNICODE, max_size=max(max_size // 2 - 1, 0))
    broken = st.tuples(half, _SURROGATE, half).map("".join)
    if min_size > 1:
        broken = broken.map(lambda s: s.ljust(min_size, "x"))
    return st.one_of(*[valid] * 9, broken)


TEXT = text()

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
"""Any JSON value (for properties the schema leaves open)."""


def request_schema(openapi: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The JSON schema of ``POST path``'s body in an OpenAPI document."""
    content = openapi["paths"][path]["post"]["requestBody"]["content"]
    return dict(content["application/json"]["schema"])


@attrs.frozen
class Narrowing:
    """Restrictions that keep generated bodies schema-valid but make them servable."""

    bounds: Mapping[str, tuple[float, float]] = attrs.field(factory=dict)
    """Property name -> (minimum, maximum) for every number below that property."""
    require: Collection[str] = ()
    """Optional properties always included, and not null."""
    omit: Collection[str] = ()
    """Optional properties never included."""
    surrogates: bool = False
    extra_properties: bool = False


PLAIN = Narrowing(surrogates=True, extra_properties=True)


class SchemaStrategies:
    """Builds strategies for schemas of one OpenAPI document (``$ref`` into its components)."""

    def __init__(
        self, openapi: Mapping[str, Any], narrowing: Narrowing = PLAIN, *, max_items: int = 3
    ) -> None:
        self._components = openapi.get("components", {}).get("schemas", {})
        self._narrowing = narrowing
        self._max_items = max_items

    def of(
        self, schema: Mapping[str, Any], bounds: tuple[float, float] | None = None
    ) -> st.SearchStrategy[Any]:
        unknown = set(schema) - _KNOWN
        if unknown:
            raise ValueError(f"schema keyword(s) not understood: {sorted(unknown)}")
        if "$ref" in schema:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            return st.deferred(lambda: self.of(self._components[name], bounds))
        if "anyOf" in schema:
            return st.one_of([self.of(s, bounds) for s in schema["anyOf"]])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(list(schema["enum"]))
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self._object(schema)
        if kind == "array":
            return self._array(schema, bounds)
        if kind == "string":
            low, high = schema.get("minLength", 0), schema.get("maxLength")
            return text(low, min(high or 12, max(low, 12)), surrogates=self._narrowing.surrogates)
        if kind == "integer":
            return self._integer(schema, bounds)
        if kind == "number":
            return self._number(schema, bounds)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind is None:
            return JSON_VALUES
        raise ValueError(f"schema type not understood: {kind!r}")

    def _object(self, schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        narrowing = self._narrowing
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ())) | (set(narrowing.require) & set(properties))

        def prop(name: str) -> st.SearchStrategy[Any]:
            schema = properties[name]
            if name in narrowing.require and "anyOf" in schema:
                members = [s for s in schema["anyOf"] if s.get("type") != "null"]
                schema = {**schema, "anyOf": members}
            return self.of(schema, narrowing.bounds.get(name))

        fixed = {name: prop(name) for name in properties if name in required}
        optional = {
            name: prop(name)
            for name in properties
            if name not in required and name not in narrowing.omit
        }
        objects = st.fixed_dictionaries(fixed, optional=optional)
        if schema.get("additionalProperties") is True and narrowing.extra_properties:
            extra = st.dictionaries(
                TEXT.filter(lambda k: k not in properties), JSON_VALUES, max_size=2
            )
            mixed = st.tuples(objects, extra).map(lambda pair: {**pair[1], **pair[0]})
            return st.one_of(objects, mixed)
        return objects

    def _array(
        self, schema: Mapping[str, Any], bounds: tuple[float, float] | None
    ) -> st.SearchStrategy[Any]:
        if "prefixItems" in schema:
            return st.tuples(*(self.of(s, bounds) for s in schema["prefixItems"])).map(list)
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        high = max(low, self._max_items) if high is None else min(int(high), low + self._max_items)
        return st.lists(self.of(schema.get("items", {}), bounds), min_size=low, max_size=high)

    @staticmethod
    def _integer(
        schema: Mapping[str, Any], bounds: tuple[float, float] | None
    ) -> st.SearchStrategy[int]:
        low, high = _range(schema, bounds)
        if "exclusiveMinimum" in schema and low == schema["exclusiveMinimum"]:
            low = math.floor(low) + 1
        if "exclusiveMaximum" in schema and high == schema["exclusiveMaximum"]:
            high = math.ceil(high) - 1
        lo = None if low is None else math.ceil(low)
        hi = None if high is None else math.floor(high)
        anywhere = st.integers(lo, hi)
        if lo is None:
            return anywhere
        # half the time near the lower bound, where counts and sizes are usable
        return st.one_of(st.integers(lo, lo + 8 if hi is None else min(hi, lo + 8)), anywhere)

    @staticmethod
    def _number(
        schema: Mapping[str, Any], bounds: tuple[float, float] | None
    ) -> st.SearchStrategy[float]:
        low, high = _range(schema, bounds)
        return st.floats(
            low,
            high,
            allow_nan=False,
            allow_infinity=False,
            exclude_min="exclusiveMinimum" in schema and low == schema["exclusiveMinimum"],
            exclude_max="exclusiveMaximum" in schema and high == schema["exclusiveMaximum"],
        )


def _range(
    schema: Mapping[str, Any], bounds: tuple[float, float] | None
) -> tuple[float | None, float | None]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if bounds is not None:
        low = bounds[0] if low is None else max(low, bounds[0])
        high = bounds[1] if high is None else min(high, bounds[1])
    return low, high


TOKEN_ID_PROPERTIES = (
    "pad_token_id",
    "eos_token_id",
    "begin_suppress_tokens",
    "bad_words_ids",
    "forced_eos_token_id",
    "suppress_tokens",
)


def plausible(vocab_size: int, max_tokens: int) -> Narrowing:
    """Schema-valid bodies a server with this vocabulary and ``max_output_tokens`` serves."""
    bounds: dict[str, tuple[float, float]] = dict.fromkeys(TOKEN_ID_PROPERTIES, (0, vocab_size - 1))
    for name in ("max_tokens", "max_completion_tokens", "max_new_tokens"):
        bounds[name] = (1, max_tokens)
    bounds["max_length"] = (1, 3 * max_tokens)
    for name in ("presence_penalty", "frequency_penalty", "top_logprobs"):
        bounds[name] = (0, 0)  # the transformers engine refuses them
    return Narrowing(
        bounds=bounds,
        require=("prompt", "generate_kwargs", "max_new_tokens", "max_tokens"),
        omit=("model", "logprobs", "suffix", "tools", "handle_long_generation"),
    )


def body_strategies(
    openapi: Mapping[str, Any], *, vocab_size: int, max_tokens: int
) -> dict[str, st.SearchStrategy[Any]]:
    """For each generating route, schema-valid bodies: half as the schema allows, half
    :func:`plausible`."""
    plain = SchemaStrategies(openapi)
    served = SchemaStrategies(openapi, plausible(vocab_size, max_tokens))
    return {
        path: st.one_of(
            plain.of(request_schema(openapi, path)), served.of(request_schema(openapi, path))
        )
        for path in ROUTES
    }


def invalid_body(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Bodies that break the schema: wrong types, dropped fields, any JSON, broken JSON."""

    def retype(body: Any, index: int, value: Any) -> Any:
        """``body`` with one field's value replaced by arbitrary JSON."""
        if isinstance(body, dict) and body:
            return {**body, sorted(body)[index % len(body)]: value}
        return value

    def drop(body: Any, index: int) -> Any:
        if isinstance(body, dict) and body:
            key = sorted(body)[index % len(body)]
            return {k: v for k, v in body.items() if k != key}
        return body

    index = st.integers(0, 63)
    return st.one_of(
        st.tuples(valid, index, JSON_VALUES).map(lambda t: encode(retype(*t))),
        st.tuples(valid, index).map(lambda t: encode(drop(*t))),
        JSON_VALUES.map(encode),
        st.binary(max_size=64),
        valid.map(encode).map(lambda raw: raw[: max(1, len(raw) // 2)]),
    )


def encode(body: Any) -> bytes:
    """JSON with ``\\uXXXX`` escapes, so lone surrogates survive the trip (UTF-8 cannot hold
    them)."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")
