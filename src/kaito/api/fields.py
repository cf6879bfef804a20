"""Field helpers shared by the API types: wire names and the "always written" marker.

Kubernetes JSON is camelCase and mostly ``omitempty``. Our attrs classes use
snake_case attribute names; :mod:`kaito.api.wire` derives the camelCase key from
the attribute name unless a field carries an explicit ``wire`` name (for the
Go-style initialisms such as ``providerID``). Optional fields default to ``None``
and are left out of the wire form when ``None``, so that an object read from the
API server and written back is byte-for-byte the same dict. Fields marked
:func:`always` are written even when they hold their default (``metadata``,
``apiVersion``, a condition's ``message``).
"""

from __future__ import annotations

from typing import Any, Final

import attrs

WIRE: Final = "kaito.wire"
ALWAYS: Final = "kaito.always"


def camel(name: str) -> str:
    """``image_pull_secrets`` -> ``imagePullSecrets``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(attribute: attrs.Attribute[Any]) -> str:
    """The JSON key of an attrs attribute."""
    explicit = attribute.metadata.get(WIRE)
    return str(explicit) if explicit else camel(attribute.name)


def always_written(attribute: attrs.Attribute[Any]) -> bool:
    return bool(attribute.metadata.get(ALWAYS, False))


def meta(*, wire: str | None = None, always: bool = False) -> dict[str, Any]:
    """Field metadata: an explicit wire name and/or "write even when default"."""
    out: dict[str, Any] = {}
    if wire is not None:
        out[WIRE] = wire
    if always:
        out[ALWAYS] = True
    return out
