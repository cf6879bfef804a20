"""Validation results and knative-style field errors.

Upstream's webhook returns knative ``apis.FieldError`` values, which render as
``<message>: <path>`` -- e.g. ``invalid value: Unsupported inference preset name
foo: inference.preset.name`` -- and are sent to kubectl prefixed with
``validation failed: ``. We keep that rendering so users (and their scripts) see
the same text. Paths here are the real JSON paths of the offending field. Like knative, errors
with the same message are merged (paths joined) and the list is sorted by message.
"""

from __future__ import annotations

import attrs


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
        """The denial text, as knative's admission controller words it ("" when allowed)."""
        return "validation failed: " + "\n".join(self.errors) if self.errors else ""


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


def merge(errors: list[FieldError]) -> list[FieldError]:
    """knative's ``merge``: one entry per message with its paths combined and sorted,
    entries sorted by message -- the order kubectl shows them in."""
    paths: dict[str, list[str]] = {}
    for error in errors:
        paths.setdefault(error.message, []).extend(error.paths)
    return [FieldError(msg, tuple(sorted(set(paths[msg])))) for msg in sorted(paths)]
