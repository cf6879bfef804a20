"""A tolerant check of container image references (adapter images, tuning input/output).

Upstream parses with ``distribution/reference.ParseDockerRef``, which rejects
upper-case repository names -- and with it upstream's own quick-start examples
(``ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1``), which kaito must accept
unchanged. So we accept any case and underscores in names, and still reject what
can never be pulled: empty parts, whitespace, a scheme, a bad tag or digest.
"""

from __future__ import annotations

import re
from typing import Final

# Whole-string matches (fullmatch) of ASCII-only patterns: Python's "$" also matches before
# a trailing newline, and its "\d" / "\w" take any Unicode digit or letter; Go's do neither.
_COMPONENT: Final = re.compile(r"[A-Za-z0-9]+(?:(?:[._]|__|-+)[A-Za-z0-9]+)*", re.ASCII)
_DOMAIN: Final = re.compile(
    r"(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?", re.ASCII
)
_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_DIGEST: Final = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}", re.ASCII
)

INVALID_FORMAT: Final = "invalid reference format"


def image_reference_error(ref: str) -> str | None:
    """``None`` when ``ref`` looks pullable, else a short reason (docker's wording)."""
    if not ref or any(ch.isspace() for ch in ref) or "://" in ref:
        return INVALID_FORMAT
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        return "invalid checksum digest format"
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return INVALID_FORMAT
    if len(name) > 255:
        return "repository name must not be more than 255 characters"
    parts = name.split("/")
    first, rest = parts[0], parts[1:]
    looks_like_domain = bool(rest) and (
        "." in first or ":" in first or first == "localhost" or first.startswith("[")
    )
    if looks_like_domain:
        if not _DOMAIN.fullmatch(first):
            return INVALID_FORMAT
    else:
        rest = parts
    if not rest or not all(_COMPONENT.fullmatch(p) for p in rest):
        return INVALID_FORMAT
    return None
