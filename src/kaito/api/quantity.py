"""Kubernetes resource quantities ("16Gi", "1.5G", "500M", "1e3") <-> integer bytes.

The admission messages quote memory the way Go's ``resource.Quantity.String()``
does for binary-SI values (``16Gi``, ``16896Mi`` for 16.5Gi), so users see the
same text as upstream. Only what kaito needs: parsing rounds up to whole units
(like ``Quantity.Value()``), formatting is binary-SI canonical form.
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
