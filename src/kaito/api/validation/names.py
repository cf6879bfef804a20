"""apimachinery's DNS-1123 name checks with their exact messages (``util/validation``).

A Workspace name must be a DNS-1123 label (it names the Service and pods); an
adapter or data-source name must be a DNS-1123 subdomain (it names a container,
a directory and an environment variable).
"""

from __future__ import annotations

import re
from typing import Final

_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT: Final = _LABEL_FMT + r"(\." + _LABEL_FMT + ")*"
_LABEL_RE: Final = re.compile(f"^{_LABEL_FMT}$")
_SUBDOMAIN_RE: Final = re.compile(f"^{_SUBDOMAIN_FMT}$")
LABEL_MAX: Final = 63
SUBDOMAIN_MAX: Final = 253


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Go's validation.RegexError, spacing included.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            out += " or "
        out += f"'{example}', "
    return out + f"regex used for validation is '{fmt}')"


def _max_len(length: int) -> str:
    return f"must be no more than {length} characters"


def dns1123_label_errors(value: str) -> list[str]:
    """``validation.IsDNS1123Label``: empty when valid."""
    errs: list[str] = []
    if len(value) > LABEL_MAX:
        errs.append(_max_len(LABEL_MAX))
    if not _LABEL_RE.match(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``validation.IsDNS1123Subdomain``: empty when valid."""
    errs: list[str] = []
    if len(value) > SUBDOMAIN_MAX:
        errs.append(_max_len(SUBDOMAIN_MAX))
    if not _SUBDOMAIN_RE.match(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errs
