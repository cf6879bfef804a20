"""Validation of a tuning ConfigMap's ``training_config.yaml``, with upstream Kaito's words.

Upstream (``api/v1beta1/tuning_config_validation.go``) runs three checks on the ConfigMap named
by ``tuning.config`` (or the default ``lora-params-template`` / ``qlora-params-template``) and
collects their knative ``apis.FieldError`` values:

1. schema: ``training_config`` must be a map whose keys are the six known sections;
2. method: ``load_in_4bit`` / ``load_in_8bit`` must be booleans (or absent), not both true,
   neither true for ``lora``, one of them true for ``qlora``;
3. training arguments: ``TrainingArguments.output_dir``, when given, must be a string naming a
   directory below ``/mnt``.

Each check stops at its first problem, exactly as upstream does. The result is rendered as knative
renders a ``FieldError`` (``<message>: <paths>``, identical messages merged, sorted by message), so
that a webhook built on this module denies a request with the same text as upstream. The admission
message wraps it once more: :func:`admission_message`.

Pure: no I/O, no Kubernetes client. The caller fetches the ConfigMap.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import yaml

from kaito.contracts.tuning_configmaps import CONFIG_KEY, SECTIONS, TEMPLATE_NAMES

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_CONFIGMAP",
    "SECTIONS",
    "FieldError",
    "admission_message",
    "config_errors",
    "validate_training_config",
    "validate_tuning_configmap",
]

DEFAULT_CONFIGMAP: Final = TEMPLATE_NAMES
"""The ConfigMap used when ``tuning.config`` is empty, by (lower-case) method."""

_OUTPUT_BASE: Final = "/mnt"


@attrs.frozen
class FieldError:
    """One knative ``apis.FieldError`` leaf: a message and the field paths it is about."""

    message: str
    """The diagnostic, e.g. ``invalid value: Unrecognized section: Foo``."""
    paths: tuple[str, ...] = ()
    """The field paths, rendered after the message joined by ``", "``."""

    def __str__(self) -> str:
        return f"{self.message}: {', '.join(self.paths)}"

    @classmethod
    def generic(cls, message: str, *paths: str) -> FieldError:
        """``apis.ErrGeneric``."""
        return cls(message, paths)

    @classmethod
    def invalid(cls, value: str, path: str) -> FieldError:
        """``apis.ErrInvalidValue``."""
        return cls(f"invalid value: {value}", (path,))

    @classmethod
    def missing(cls, *paths: str) -> FieldError:
        """``apis.ErrMissingField``."""
        return cls("missing field(s)", paths)


def merge(errors: Sequence[FieldError]) -> list[FieldError]:
    """Knative's ``merge``: one error per message with paths combined, sorted by message."""
    by_message: dict[str, list[str]] = {}
    for error in errors:
        paths = by_message.setdefault(error.message, [])
        paths.extend(p for p in error.paths if p not in paths)
    return [FieldError(m, tuple(sorted(p))) for m, p in sorted(by_message.items())]


def admission_message(errors: Sequence[str], field: str = "tuning.Config") -> str:
    """The text upstream's webhook puts around the ConfigMap errors.

    ``TuningSpec.validateCreate`` wraps them as
    ``apis.ErrGeneric("Failed to evaluate validateConfigMap: " + err, "Config")`` and the caller
    adds the ``tuning`` prefix.
    """
    return f"Failed to evaluate validateConfigMap: {chr(10).join(errors)}: {field}"


# --- Go / YAML helpers --------------------------------------------------------------------------


class _ParseError(Exception):
    """A document that does not decode into the Go type it is unmarshalled into."""


def _go_type(value: object) -> str:
    """``fmt.Sprintf("%T", v)`` for a value that gopkg.in/yaml.v2 decoded into interface{}."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[interface {}]interface {}"
    return type(value).__name__


def _yaml_tag(value: object) -> str:
    """The short YAML tag and value text yaml.v2 prints in an unmarshal type error."""
    if isinstance(value, list):
        return "!!seq"
    if isinstance(value, bool):
        tag, text = "!!bool", "true" if value else "false"
    elif isinstance(value, int):
        tag, text = "!!int", str(value)
    elif isinstance(value, float):
        tag, text = "!!float", repr(value)
    else:
        tag, text = "!!str", str(value)
    if len(text) > 10:
        text = text[:7] + "..."
    return f"{tag} `{text}`"


def _as_map(value: object, into: str) -> dict[Any, Any] | None:
    """Unmarshal a decoded YAML value into a Go map; ``None`` for YAML null."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    raise _ParseError(
        f"yaml: unmarshal errors:\n  line 1: cannot unmarshal {_yaml_tag(value)} into {into}"
    )


def _search(section: object, key: str) -> tuple[object, bool]:
    """``utils.SearchRawExtension``: look ``key`` up in a section's map."""
    try:
        data = _as_map(section, "map[string]interface {}")
    except _ParseError as err:
        raise _ParseError(f"failed to unmarshal runtime.RawExtension: {err}") from None
    if data is None or key not in data:
        return None, False
    return data[key], True


def _load(text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise _ParseError(f"yaml: {err}".replace("\n", " ")) from None


def _sections(document: object) -> dict[str, object]:
    """Upstream's ``yaml.Unmarshal(text, &Config{})``: the known sections that are present.

    A present section maps to its value (possibly ``None``); an absent one is left out.
    """
    top = _as_map(document, "v1beta1.Config") or {}
    training = _as_map(top.get("training_config"), "map[string]interface {}") or {}
    return {str(k): v for k, v in training.items() if str(k) in SECTIONS}


# --- the three checks ---------------------------------------------------------------------------


def _check_schema(document: object, parse_error: str | None) -> FieldError | None:
    if parse_error is not None:
        return FieldError.invalid(parse_error, CONFIG_KEY)
    training = document.get("training_config") if isinstance(document, dict) else None
    if not isinstance(training, dict):
        return FieldError.invalid("Expected 'training_config' key to contain a map", CONFIG_KEY)
    for section in training:
        if not isinstance(section, str):
            return FieldError.invalid("Section key must be a string", CONFIG_KEY)
        if section not in SECTIONS:
            return FieldError.invalid(f"Unrecognized section: {section}", CONFIG_KEY)
    return None


def _check_method(sections: dict[str, object], method: str, name: str) -> FieldError | None:
    qlora_missing = FieldError.missing(
        f"For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be true in "
        f"ConfigMap '{name}'",
        "QuantizationConfig",
    )
    if "QuantizationConfig" not in sections:
        return qlora_missing if method == "qlora" else None
    quantization = sections["QuantizationConfig"]
    flags: dict[str, object] = {}
    for key in ("load_in_4bit", "load_in_8bit"):
        try:
            flags[key], _ = _search(quantization, key)
        except _ParseError as err:
            return FieldError.invalid(str(err), key)
    for key, value in flags.items():
        if value is not None and not isinstance(value, bool):
            return FieldError.invalid(
                f"value must be either nil or a boolean, got type {_go_type(value)}", key
            )
    four, eight = flags["load_in_4bit"] is True, flags["load_in_8bit"] is True
    if four and eight:
        return FieldError.generic(
            f"Cannot set both 'load_in_4bit' and 'load_in_8bit' to true in ConfigMap '{name}'",
            "QuantizationConfig",
        )
    if method == "lora" and (four or eight):
        return FieldError.generic(
            f"For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap '{name}' "
            "must not be true",
            "QuantizationConfig",
        )
    if method == "qlora" and not (four or eight):
        return qlora_missing
    return None


def _check_training_arguments(
    sections: dict[str, object], name: str, namespace: str
) -> FieldError | None:
    if "TrainingArguments" not in sections:
        return None
    try:
        output_dir, found = _search(sections["TrainingArguments"], "output_dir")
    except _ParseError as err:
        return FieldError.generic(
            f"Failed to parse 'output_dir' in ConfigMap '{name}' in namespace '{namespace}': {err}",
            "output_dir",
        )
    if not found:
        return None
    if not isinstance(output_dir, str):
        return FieldError.invalid(
            f"output_dir is not a string in ConfigMap '{name}' in namespace '{namespace}'",
            "output_dir",
        )
    # filepath.Clean(filepath.Join("/mnt", dir)): Go's Join never discards "/mnt".
    clean = posixpath.normpath(f"{_OUTPUT_BASE}/{output_dir}")
    if clean == _OUTPUT_BASE or not clean.startswith(_OUTPUT_BASE):
        return FieldError.invalid(
            f"Invalid output_dir specified: '{output_dir}', must be a directory", "output_dir"
        )
    return None


# --- entry points -------------------------------------------------------------------------------


def config_errors(
    config: str | Mapping[str, Any] | None,
    method: str,
    *,
    configmap: str = "",
    namespace: str = "",
) -> list[FieldError]:
    """The merged :class:`FieldError` list for one ``training_config.yaml``.

    ``config`` is the YAML text, an already decoded document, or ``None`` when the ConfigMap has
    no ``training_config.yaml`` key. ``method`` is the Workspace's ``tuning.method`` (compared
    lower-case). ``configmap`` and ``namespace`` only appear in the messages.
    """
    method = method.lower()
    if config is None:
        missing = FieldError.generic(
            f"ConfigMap '{configmap}' does not contain '{CONFIG_KEY}' in namespace '{namespace}'",
            "config",
        )
        return merge([FieldError.missing(f"{CONFIG_KEY} in ConfigMap"), missing, missing])

    document: object = config if isinstance(config, str) else dict(config)
    parse_error: str | None = None
    if isinstance(config, str):
        try:
            document = _load(config)
        except _ParseError as err:
            parse_error = str(err)
    errors: list[FieldError] = []
    schema = _check_schema(document, parse_error)
    if schema is not None:
        errors.append(schema)
    try:
        if parse_error is not None:
            raise _ParseError(parse_error)
        sections = _sections(document)
    except _ParseError as err:
        failed = FieldError.generic(
            f"Failed to parse '{CONFIG_KEY}' in ConfigMap '{configmap}' in namespace "
            f"'{namespace}': {err}",
            "config",
        )
        errors += [failed, failed]
    else:
        for check in (
            _check_method(sections, method, configmap),
            _check_training_arguments(sections, configmap, namespace),
        ):
            if check is not None:
                errors.append(check)
    return merge(errors)


def validate_training_config(
    config: str | Mapping[str, Any] | None,
    method: str,
    *,
    configmap: str = "",
    namespace: str = "",
) -> list[str]:
    """Upstream's error strings for one ``training_config.yaml``; empty when it is valid.

    Each string is one knative error as upstream renders it, for example
    ``invalid value: Unrecognized section: Foo: training_config.yaml``.
    """
    return [str(e) for e in config_errors(config, method, configmap=configmap, namespace=namespace)]


def validate_tuning_configmap(configmap: Mapping[str, Any], method: str) -> list[str]:
    """:func:`validate_training_config` for a whole ConfigMap object as the API returns it."""
    metadata = configmap.get("metadata") or {}
    data = configmap.get("data") or {}
    return validate_training_config(
        data.get(CONFIG_KEY),
        method,
        configmap=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
    )
