"""Does the object in the cluster already say what we want? Then send nothing.

The API server adds defaults and metadata to whatever we apply, so "equal" means
"every field we set has the value we set": desired is a *subset* of observed. A
steady-state reconcile therefore makes zero write requests.
"""

from __future__ import annotations

from typing import Any

IGNORED_METADATA = frozenset({"ownerReferences"})


def is_subset(desired: Any, observed: Any) -> bool:
    """True when every value in ``desired`` appears, equal, in ``observed``.

    Dicts compare key by key; lists must have the same length and compare
    element-wise (order matters for containers, env, ports ...); scalars compare
    after normalising ints rendered as strings by the API (e.g. quantities).
    """
    if isinstance(desired, dict):
        if not isinstance(observed, dict):
            return False
        return all(k in observed and is_subset(v, observed[k]) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(desired) != len(observed):
            return False
        return all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
    if desired == observed:
        return True
    return str(desired) == str(observed) and not isinstance(desired, bool)


def needs_apply(desired: dict[str, Any], observed: dict[str, Any] | None) -> bool:
    """Whether ``desired`` must be applied over ``observed`` (absent counts as different)."""
    if observed is None:
        return True
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")}
    meta = {k: v for k, v in (desired.get("metadata") or {}).items() if k not in IGNORED_METADATA}
    return not (is_subset(meta, observed.get("metadata") or {}) and is_subset(body, observed))
