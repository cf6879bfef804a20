"""The JSON text Go writes for a value after decoding it into a Go type.

Upstream Kaito hashes a Workspace spec as its Go structs come out of ``encoding/json``:
fields in declaration order (embedded structs inlined), ``omitempty`` / ``omitzero``
applied, unknown keys gone, a non-pointer struct always written (``presetOptions: {}``),
map keys sorted, no spaces, ``<``, ``>``, ``&`` escaped as ``\\u003c``..., and the types
with their own JSON methods (``resource.Quantity``, ``intstr.IntOrString``,
``metav1.Time``) in their canonical text. :func:`encode` reproduces that text from the
wire dict the API server sent, given the Go type's name in the struct table
``schema/gotypes.json`` (generated from the Go sources by ``hack/gen_gotypes.py``).

Type names: ``*T``, ``[]T``, ``map[string]T``, ``string``, ``int``, ``bool``, ``bytes``,
``quantity``, ``intorstring``, ``time``, ``raw``, or a struct of the table such as
``v1beta1.ResourceSpec``. A value of the wrong JSON type (Go would refuse the whole
object) is written as plain compact JSON, so that it still counts in a hash.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from kaito.api.quantity import QuantityError, canonical_quantity


class GoField(NamedTuple):
    name: str
    type: str
    omitempty: bool
    omitzero: bool


@cache
def struct_table() -> dict[str, tuple[GoField, ...]]:
    """Every struct of ``schema/gotypes.json``: its JSON fields in Go declaration order."""
    text = resources.files("kaito.api").joinpath("schema", "gotypes.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    return {
        name: tuple(
            GoField(key, type_, "omitempty" in flags, "omitzero" in flags)
            for key, type_, flags in fields
        )
        for name, fields in raw.items()
        if not name.startswith("_")
    }


def encode(value: Any, go_type: str) -> str:
    """What ``json.Marshal`` writes for ``value`` (a decoded JSON value) read into ``go_type``."""
    out: list[str] = []
    _encode(value, go_type, out)
    return "".join(out)


def _encode(value: Any, t: str, out: list[str]) -> None:
    if t.startswith("*"):
        if value is None:
            out.append("null")
        else:
            _encode(value, t[1:], out)
    elif t.startswith("[]"):
        if value is None:
            out.append("null")
        elif isinstance(value, list):
            out.append("[")
            for i, item in enumerate(value):
                if i:
                    out.append(",")
                _encode(item, t[2:], out)
            out.append("]")
        else:
            out.append(_raw(value))
    elif t.startswith("map[string]"):
        if value is None:
            out.append("null")
        elif isinstance(value, Mapping):
            out.append("{")
            for i, key in enumerate(sorted(value)):
                if i:
                    out.append(",")
                out.append(go_string(str(key)) + ":")
                _encode(value[key], t[len("map[string]") :], out)
            out.append("}")
        else:
            out.append(_raw(value))
    elif t in _SCALARS:
        out.append(_SCALARS[t](value))
    else:
        _struct(value, struct_table()[t], out)


def _struct(value: Any, fields: tuple[GoField, ...], out: list[str]) -> None:
    if value is not None and not isinstance(value, Mapping):
        out.append(_raw(value))
        return
    present = value or {}
    out.append("{")
    first = True
    for field in fields:
        item = present.get(field.name)
        if (field.omitempty and _empty(item, field.type)) or (
            field.omitzero and _zero(item, field.type)
        ):
            continue
        if not first:
            out.append(",")
        first = False
        out.append(go_string(field.name) + ":")
        _encode(item, field.type, out)
    out.append("}")


def _empty(value: Any, t: str) -> bool:
    """``omitempty``: false, 0, "", a nil pointer, an empty slice or map (never a struct)."""
    if t.startswith("*") or t == "raw":
        return value is None
    if t.startswith(("[]", "map[")) or t == "bytes":
        return value is None or (isinstance(value, list | Mapping | str) and len(value) == 0)
    if t == "string":
        return value is None or value == ""
    if t == "int":
        return value is None or (_is_number(value) and value == 0)
    if t == "bool":
        return value is None or value is False
    return False


def _zero(value: Any, t: str) -> bool:
    """``omitzero``: the type's zero value, or its ``IsZero()`` where it has one."""
    if t.startswith(("*", "[]", "map[")) or t in ("bytes", "raw"):
        return value is None
    if t in ("string", "int", "bool"):
        return _empty(value, t)
    if t == "time":
        return _time(value) == "null"
    if t == "quantity":
        return _quantity(value) == '"0"'
    if t == "intorstring":
        return value is None or (_is_number(value) and value == 0)
    if value is None:
        return True
    if not isinstance(value, Mapping):
        return False
    return all(_zero(value.get(f.name), f.type) for f in struct_table()[t])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- scalars --------------------------------------------------------------------------------
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_string(text: str) -> str:
    """A JSON string as Go's encoder writes it: HTML-safe, U+2028/2029 escaped, UTF-8 kept.

    A lone surrogate (from a ``\\ud800`` escape) is U+FFFD, as Go decoded it.
    """
    parts = ['"']
    for ch in text:
        escaped = _ESCAPES.get(ch)
        if escaped is not None:
            parts.append(escaped)
        elif ch < " ":
            parts.append(f"\\u{ord(ch):04x}")
        elif "\ud800" <= ch <= "\udfff":
            parts.append("\ufffd")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def go_float(value: float) -> str:
    """A float64 as Go's encoder writes it (how the API server stored a schemaless number)."""
    if value != value or value in (float("inf"), float("-inf")):
        return json.dumps(str(value))  # Go refuses these; no API server sends them
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    text = repr(value)
    mantissa, _, exp = text.partition("e")
    digits = mantissa.lstrip("-").replace(".", "")
    point = mantissa.lstrip("-").find(".")
    point = len(mantissa.lstrip("-")) if point < 0 else point
    exponent = int(exp or 0) + point  # value = 0.DIGITS * 10**exponent
    stripped = digits.lstrip("0")
    exponent -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if 1e-6 <= abs(value) < 1e21:
        if exponent <= 0:
            return f"{sign}0.{'0' * -exponent}{digits}"
        if exponent >= len(digits):
            return f"{sign}{digits}{'0' * (exponent - len(digits))}"
        return f"{sign}{digits[:exponent]}.{digits[exponent:]}"
    tail = f".{digits[1:]}" if len(digits) > 1 else ""
    e = exponent - 1
    return f"{sign}{digits[0]}{tail}e{'-' if e < 0 else '+'}{abs(e):02d}".replace("e-0", "e-")


def _raw(value: Any) -> str:
    """Compact JSON of a schemaless value, keys in the order received."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{go_string(str(k))}:{_raw(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_raw(v) for v in value) + "]"
    return go_string(str(value))


def _string(value: Any) -> str:
    if value is None:
        return '""'
    return go_string(value) if isinstance(value, str) else _raw(value)


def _int(value: Any) -> str:
    if value is None:
        return "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if _is_number(value) and isinstance(value, int) else _raw(value)


def _bool(value: Any) -> str:
    if value is None:
        return "false"
    return _raw(value)


def _bytes(value: Any) -> str:
    return "null" if value is None else _raw(value)


def _quantity(value: Any) -> str:
    """``resource.Quantity``: its canonical text; JSON null is the zero quantity, ``"0"``."""
    if value is None:
        return '"0"'
    if isinstance(value, str):
        text = value
    elif _is_number(value):
        text = go_float(value) if isinstance(value, float) else str(value)
    else:
        return _raw(value)
    try:
        return go_string(canonical_quantity(text))
    except QuantityError:
        return _raw(value)


def _intorstring(value: Any) -> str:
    """``intstr.IntOrString``: a number stays a number, a string a string (null is 0)."""
    if value is None:
        return "0"
    if isinstance(value, str):
        return go_string(value)
    return _int(value)


def _time(value: Any) -> str:
    """``metav1.Time``: null when zero, else RFC 3339 in UTC to the second."""
    if value is None:
        return "null"
    if not isinstance(value, str):
        return _raw(value)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return _raw(value)
    if parsed.tzinfo is None:
        return _raw(value)  # not RFC 3339: Go refuses it
    utc = parsed.astimezone(datetime.UTC)
    if utc == datetime.datetime(1, 1, 1, tzinfo=datetime.UTC):
        return "null"
    return go_string(
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


_SCALARS = {
    "string": _string,
    "int": _int,
    "bool": _bool,
    "bytes": _bytes,
    "quantity": _quantity,
    "intorstring": _intorstring,
    "time": _time,
    "raw": _raw,
}
