"""Kubernetes resource quantities ("16Gi", "1.5G", "500M", "1e3") <-> integer bytes.

The admission messages quote memory the way Go's ``resource.Quantity.String()``
does for binary-SI values (``16Gi``, ``16896Mi`` for 16.5Gi), so users see the
same text as upstream. Only what kaito needs: parsing rounds up to whole units
(like ``Quantity.Value()``), formatting is binary-SI canonical form, and
:func:`canonical_quantity` is the text Go writes back for any quantity it read (which the
upstream spec hash sees, e.g. in a custom pod template's resources).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Final

_BINARY: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL: Final = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
# ASCII digits only, whole string (fullmatch): Python's "\d" takes any Unicode digit.
_PATTERN: Final = re.compile(
    r"(?P<num>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?",
    re.ASCII,
)

GI: Final = 1024**3


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(text: str | int) -> int:
    """``"16Gi"`` -> 17179869184; fractions round up to a whole unit."""
    if isinstance(text, int):
        return text
    match = _PATTERN.fullmatch(text.strip())
    if not match:
        raise QuantityError(f"quantities must match the regular expression: {text!r}")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"invalid quantity {text!r}") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        value = number * (Decimal(1024) ** _BINARY[suffix])
    elif suffix in _DECIMAL:
        value = number * (Decimal(10) ** _DECIMAL[suffix])
    else:
        value = number * (Decimal(10) ** int(suffix[1:]))
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def format_binary(value: int) -> str:
    """Canonical binary-SI text: the largest of Ki..Ei that divides ``value`` exactly."""
    if value == 0:
        return "0"
    best = str(value)
    for suffix, power in _BINARY.items():
        unit = 1024**power
        if value % unit:
            break
        best = f"{value // unit}{suffix}"
    return best


def format_memory(value: int) -> str:
    """For people: whole GiB as ``16Gi``, other sizes of 1GiB or more as GiB to two decimals
    (``16.5Gi``, ``131.42Gi`` rather than Go's ``16896Mi`` and ``141111150511``)."""
    if value < GI:
        return format_binary(value)
    if value % GI == 0:
        return f"{value // GI}Gi"
    return f"{value / GI:.2f}".rstrip("0").rstrip(".") + "Gi"


def gib(value: float) -> int:
    """Bytes in ``value`` GiB (rounded up), for writing tables and tests readably."""
    return int((Decimal(str(value)) * GI).to_integral_value(rounding=ROUND_CEILING))


# -- Go's canonical text: what ``Quantity.MarshalJSON`` writes after ``UnmarshalJSON`` --------
_SCAN_LETTERS: Final = "eEinumkKMGTP"
_DIGITS: Final = "0123456789"
_SI_SUFFIX: Final = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BIN_SUFFIX: Final = {power: suffix for suffix, power in _BINARY.items()}
_MAX_INT64: Final = 2**63 - 1
_NANO: Final = 10**9


def _scan(text: str) -> tuple[bool, str, str, str]:
    """apimachinery ``parseQuantityString``: sign, integer digits, fraction digits, suffix."""
    end = len(text)
    pos = 1 if text[0] in "+-" else 0
    positive = text[0] != "-"
    while pos < end and text[pos] == "0":
        pos += 1
    if pos == end:
        return positive, "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        start = pos = pos + 1
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    suffix = text[pos:]
    rest = suffix.lstrip(_SCAN_LETTERS)
    rest = rest[1:] if rest[:1] in ("+", "-") else rest
    if any(ch not in _DIGITS for ch in rest):
        raise QuantityError(f"quantities must match the regular expression: {text!r}")
    return positive, num, denom, suffix


def _interpret(suffix: str) -> tuple[int, str]:
    """``quantitySuffixer.interpret``: (exponent, format); binary exponents are powers of 2."""
    if suffix in _DECIMAL:
        return _DECIMAL[suffix], "DecimalSI"
    if suffix in _BINARY:
        return 10 * _BINARY[suffix], "BinarySI"
    sign, digits = (suffix[1:2], suffix[2:]) if suffix[1:2] in ("+", "-") else ("", suffix[1:])
    if suffix[:1] in ("e", "E") and digits and all(ch in _DIGITS for ch in digits):
        parsed = int(sign + digits)
        if -(2**63) <= parsed <= _MAX_INT64:  # strconv.ParseInt, then Go's int32(...)
            return (parsed + 2**31) % 2**32 - 2**31, "DecimalExponent"
    raise QuantityError(f"unable to parse quantity's suffix: {suffix!r}")


def canonical_quantity(text: str) -> str:
    """``resource.ParseQuantity(text)`` written back to JSON (without the quotes), as Go does.

    Go keeps the text when it already looks canonical (so ``+1Gi`` stays as given);
    otherwise the value, rounded up to nano units, is written in the canonical form of
    its format: ``1000m`` -> ``1``, ``1024Mi`` -> ``1Gi``, ``1.5Gi`` -> ``1536Mi``,
    ``0.5`` -> ``500m``, ``1e3`` -> ``1e3``.
    """
    text = text.strip()
    if not text:
        raise QuantityError("quantities must match the regular expression: ''")
    if text == "0":
        return text
    positive, num, denom, suffix = _scan(text)
    exponent, fmt = _interpret(suffix)
    if len(num) + len(denom) > 1000:
        raise QuantityError(f"quantity too long to canonicalise: {text[:40]!r}...")
    digits = int(num + denom)
    if fmt == "BinarySI":
        precision = 15 - len(num) - exponent * 3 // 10 - 1 if not denom else -1
        if precision >= 0 and digits << exponent <= _MAX_INT64:  # Go's int64 fast path
            if digits & 0x07:
                return text
            return _canonical(positive, digits << exponent, 0, fmt)
        nanos = -(-(digits << exponent) * _NANO // 10 ** len(denom))  # rounded up to 1n
        nanos = min(nanos, _MAX_INT64 * _NANO)
        return _canonical(positive, nanos, -9, "DecimalSI" if nanos < _NANO else fmt)
    scale = exponent - len(denom)
    if len(num) + len(denom) <= 18 and scale >= -9:  # Go's int64 fast path
        shifted = num + denom
        if scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
            return text
        return _canonical(positive, digits, scale, fmt)
    if scale < -9 and digits:  # rounded up (away from zero) to 1n
        drop = -9 - scale
        digits = -(-digits // 10**drop) if drop <= len(str(digits)) else 1
        scale = -9
    return _canonical(positive, digits, scale, fmt)


def _canonical(positive: bool, mantissa: int, scale: int, fmt: str) -> str:
    """``Quantity.CanonicalizeBytes`` of ``±mantissa * 10**scale`` (``mantissa`` >= 0)."""
    if mantissa == 0:
        return "0"
    sign = "" if positive else "-"
    if fmt == "BinarySI":
        whole, frac = divmod(mantissa, 10**-scale) if scale < 0 else (mantissa * 10**scale, 0)
        if whole >= 1024 and not frac:
            power = 0
            while whole >= 1024 and whole % 1024 == 0:
                whole //= 1024
                power += 1
            return f"{sign}{whole}{_BIN_SUFFIX.get(power, '')}"
        fmt = "DecimalSI"  # between -1024 and 1024, or not whole: no rounding
    while mantissa % 10 == 0:
        mantissa //= 10
        scale += 1
    shift = scale % 3  # the exponent goes down to a multiple of three
    mantissa *= 10**shift
    scale -= shift
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{scale}" if scale else "")
    return f"{sign}{mantissa}{_SI_SUFFIX.get(scale, '')}"  # Go writes no suffix beyond n..E
