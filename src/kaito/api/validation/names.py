"""apimachinery's name checks with their exact messages (``util/validation``).

A Workspace name must be a DNS-1123 label (it names the Service and pods); an
adapter or data-source name must be a DNS-1123 subdomain (it names a container,
a directory and an environment variable). Label keys are qualified names and label
values have their own syntax (:func:`label_key_errors`, :func:`label_value_errors`):
a selector's labels are stamped on NodeClaims and nodes, so the API server's rules
apply. Lengths are counted in bytes, as Go's ``len`` does.
"""

from __future__ import annotations

import re
from typing import Final

_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT: Final = _LABEL_FMT + r"(\." + _LABEL_FMT + ")*"
# fullmatch, never "^...$": Python's "$" also matches before a trailing newline (Go's does not).
_LABEL_RE: Final = re.compile(_LABEL_FMT, re.ASCII)
_SUBDOMAIN_RE: Final = re.compile(_SUBDOMAIN_FMT, re.ASCII)
_QUALIFIED_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT: Final = f"({_QUALIFIED_FMT})?"
_QUALIFIED_RE: Final = re.compile(_QUALIFIED_FMT, re.ASCII)
_LABEL_VALUE_RE: Final = re.compile(_LABEL_VALUE_FMT, re.ASCII)
_QUALIFIED_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
LABEL_MAX: Final = 63
SUBDOMAIN_MAX: Final = 253
QUALIFIED_NAME_MAX: Final = 63
LABEL_VALUE_MAX: Final = 63


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


def _len(value: str) -> int:
    return len(value.encode())


def dns1123_label_errors(value: str) -> list[str]:
    """``validation.IsDNS1123Label``: empty when valid."""
    errs: list[str] = []
    if _len(value) > LABEL_MAX:
        errs.append(_max_len(LABEL_MAX))
    if not _LABEL_RE.fullmatch(value):
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
    if _len(value) > SUBDOMAIN_MAX:
        errs.append(_max_len(SUBDOMAIN_MAX))
    if not _SUBDOMAIN_RE.fullmatch(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errs


def label_key_errors(value: str) -> list[str]:
    """``validation.IsQualifiedName`` (a label key): empty when valid."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_MSG, _QUALIFIED_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + _max_len(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_RE.fullmatch(name):
        errs.append(
            "name part "
            + _regex_error(_QUALIFIED_MSG, _QUALIFIED_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    """``validation.IsValidLabelValue``: empty when valid ("" is a valid value)."""
    errs: list[str] = []
    if _len(value) > LABEL_VALUE_MAX:
        errs.append(_max_len(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs
