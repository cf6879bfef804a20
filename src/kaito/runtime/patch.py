"""Minimal JSON merge patches (RFC 7386), computed from an old and a new document.

controller-runtime's ``client.MergeFrom(old)`` sends exactly the difference: changed keys,
``null`` for removed ones, nested objects recursively, lists whole. Sending the difference,
and nothing when there is none, is what keeps a steady-state resync free of writes.
"""

from __future__ import annotations

from typing import Any


def merge_patch_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that turns ``old`` into ``new`` (``{}`` when they are equal)."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(old[key], dict):
            nested = merge_patch_diff(old[key], value)
            if nested:
                patch[key] = nested
        elif value != old[key]:
            patch[key] = value
    return patch
