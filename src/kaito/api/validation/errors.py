"""Validation results and knative-style field errors.

Upstream's webhook returns knative ``apis.FieldError`` values, which render as
``<message>: <path>`` -- e.g. ``invalid value: Unsupported inference preset name
foo: inference.preset.name`` -- and are sent to kubectl prefixed with
``validation failed: ``. We keep that rendering so users (and their scripts) see
the same text. Paths here are the real JSON paths of the offending field. Like knative, errors
with the same message are merged (paths joined) and the list is sorted by message.

Sizes are bounded: a value repeated in a message is cut to :data:`MAX_QUOTED` characters
(:func:`shorten`, :func:`quoted`), and the denial text to :data:`MAX_MESSAGE` bytes, ending
with "... and N more errors" when errors had to be left out.
"""

from __future__ import annotations

import json
from typing import Final

import attrs

MAX_QUOTED: Final = 100
"""Characters of a user's value repeated in a message (names are valid up to 253)."""
MAX_MESSAGE: Final = 2048
"""Bytes of the denial message; kubectl prints it whole, and one line per error is plenty."""
PREFIX: Final = "validation failed: "


def shorten(value: object, limit: int = MAX_QUOTED) -> str:
    """``str(value)``, cut to ``limit`` characters with ``...`` when longer."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def quoted(value: object, limit: int = MAX_QUOTED) -> str:
    """``value`` as a double-quoted string (Go's ``%q`` look: control characters escaped),
    shortened to ``limit`` characters first."""
    return json.dumps(shorten(value, limit), ensure_ascii=False)


@attrs.frozen
class FieldError:
    """One problem: a message and the field paths it concerns."""

    message: str
    paths: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.message}: {', '.join(self.paths)}" if self.paths else self.message


def invalid_value(value: object, path: str) -> FieldError:
    """knative ``ErrInvalidValue``: ``invalid value: <value>: <path>``."""
    return FieldError(f"invalid value: {value}", (path,))


def missing_field(*paths: str) -> FieldError:
    """knative ``ErrMissingField``: ``missing field(s): <paths>``."""
    return FieldError("missing field(s)", paths)


def generic(message: str, *paths: str) -> FieldError:
    """knative ``ErrGeneric``: the message, then the paths if any."""
    return FieldError(message, paths)


@attrs.frozen
class ValidationResult:
    """What validation found: ``errors`` reject the object, ``warnings`` are shown by kubectl."""

    errors: list[str] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)

    @property
    def allowed(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        """The denial text, as knative's admission controller words it ("" when allowed).

        At most :data:`MAX_MESSAGE` bytes: the errors that fit, in order, then
        ``... and N more errors``; a single error longer than that is cut.
        """
        return capped_message(self.errors) if self.errors else ""


@attrs.define
class Collector:
    """Accumulates errors and warnings while the rules run."""

    errors: list[FieldError] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)

    def add(self, error: FieldError) -> None:
        if error not in self.errors:
            self.errors.append(error)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def result(self) -> ValidationResult:
        return ValidationResult([str(e) for e in merge(self.errors)], list(self.warnings))


def _size(text: str) -> int:
    return len(text.encode())


def _cut(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` UTF-8 bytes (never inside a character), ``...`` ended."""
    if _size(text) <= size:
        return text
    return text.encode()[: max(size - 3, 0)].decode(errors="ignore") + "..."


def _more(count: int) -> str:
    return f"... and {count} more error{'s' if count != 1 else ''}"


def capped_message(errors: list[str], limit: int = MAX_MESSAGE) -> str:
    """``validation failed: `` and the errors one per line, within ``limit`` bytes.

    Errors are kept in order while they fit, leaving room for the line that counts the
    ones left out; a first error that alone is too long is cut.
    """
    lines: list[str] = []
    used = _size(PREFIX)
    for i, error in enumerate(errors):
        later = len(errors) - i - 1
        reserve = _size("\n" + _more(later)) if later else 0
        cost = _size(error) + (1 if lines else 0)
        if used + cost + reserve <= limit:
            lines.append(error)
            used += cost
            continue
        if lines:
            lines.append(_more(later + 1))
        else:
            lines.append(_cut(error, limit - used - reserve))
            if later:
                lines.append(_more(later))
        break
    return PREFIX + "\n".join(lines)


def merge(errors: list[FieldError]) -> list[FieldError]:
    """knative's ``merge``: one entry per message with its paths combined and sorted,
    entries sorted by message -- the order kubectl shows them in."""
    paths: dict[str, list[str]] = {}
    for error in errors:
        paths.setdefault(error.message, []).extend(error.paths)
    return [FieldError(msg, tuple(sorted(set(paths[msg])))) for msg in sorted(paths)]
