"""cattrs conversion between the API types and the camelCase JSON dicts of the API server.

Rules, applied to every attrs class of :mod:`kaito.api`:

* attribute ``image_pull_secrets`` <-> key ``imagePullSecrets`` (explicit wire names
  for initialisms such as ``providerID``);
* a field equal to its default (``None`` for optional fields) is left out, unless
  marked "always" -- so ``to_dict(from_dict(d)) == d`` for every valid object;
* unknown keys are ignored when reading (the API server prunes them anyway);
  schemaless dicts (``template``, ``volumeSource``, ``metadata``) are kept as-is;
* scalars are checked strictly: a number where a string belongs is a
  :class:`WireError`, never silently turned into ``"1"``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from kaito.api.fields import always_written, camel, wire_name
from kaito.api.nodeclaim import NodeClaim, Quantity
from kaito.api.workspace import Workspace

T = TypeVar("T")


class WireError(ValueError):
    """A dict does not have the shape of the requested API type."""


def _strict(kind: type[Any], name: str) -> Callable[[Any, type[Any]], Any]:
    def hook(value: Any, _: type[Any]) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {name}, got boolean {value!r}")
        if not isinstance(value, kind):
            raise TypeError(f"expected {name}, got {type(value).__name__} {value!r}")
        return value

    return hook


def _quantity(value: Any, _: type[Any]) -> Quantity:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"expected a quantity (string or integer), got {value!r}")
    return value


def _any(value: Any, _: type[Any]) -> Any:
    return copy.deepcopy(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict(str, "string"))
    conv.register_structure_hook(int, _strict(int, "integer"))
    conv.register_structure_hook(bool, _strict(bool, "boolean"))
    conv.register_structure_hook(Quantity, _quantity)
    conv.register_structure_hook(Any, _any)
    conv.register_unstructure_hook(Any, copy.deepcopy)

    def structure_factory(cls: type[Any]) -> Callable[[Mapping[str, Any], type[Any]], Any]:
        overrides = {a.name: override(rename=wire_name(a)) for a in attrs.fields(cls)}
        inner = make_dict_structure_fn(cls, conv, **overrides)  # type: ignore[arg-type]

        def structure(value: Any, target: type[Any]) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__} {value!r}")
            return inner(value, target)

        return structure

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
        overrides = {
            a.name: override(rename=wire_name(a), omit_if_default=not always_written(a))
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **overrides)  # type: ignore[arg-type]

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


converter = _make_converter()
"""The shared converter; prefer the functions below."""


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Structure ``data`` as ``cls``; raises :class:`WireError` with every problem found."""
    if not isinstance(data, Mapping):
        raise WireError(f"expected an object, got {type(data).__name__}")
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise WireError(_describe(exc)) from exc


def to_dict(obj: Any) -> dict[str, Any]:
    """The camelCase wire dict of an API object (a fresh copy; safe to mutate)."""
    out: dict[str, Any] = converter.unstructure(obj)
    return out


def workspace_from_dict(data: Mapping[str, Any]) -> Workspace:
    """A Workspace; its ``metadata`` (kept as a dict) must have ObjectMeta's shape where
    :class:`Workspace` reads it (name, namespace, labels, annotations, finalizers)."""
    ws = from_dict(Workspace, data)
    _check_metadata(ws.metadata)
    return ws


_METADATA_STRINGS = ("name", "namespace", "uid", "resourceVersion", "deletionTimestamp")


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    """What the API server guarantees of ObjectMeta, for dicts that did not come from it."""
    for key in _METADATA_STRINGS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            raise WireError(f"metadata.{key}: expected string, got {type(value).__name__}")
    for key in ("labels", "annotations"):
        value = metadata.get(key)
        if value is None:
            continue
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise WireError(f"metadata.{key}: expected a map of strings")
    finalizers = metadata.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        raise WireError("metadata.finalizers: expected a list of strings")
    generation = metadata.get("generation")
    if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)):
        raise WireError(f"metadata.generation: expected integer, got {type(generation).__name__}")


def workspace_to_dict(ws: Workspace) -> dict[str, Any]:
    return to_dict(ws)


def nodeclaim_from_dict(data: Mapping[str, Any]) -> NodeClaim:
    return from_dict(NodeClaim, data)


def nodeclaim_to_dict(nc: NodeClaim) -> dict[str, Any]:
    return to_dict(nc)


def _describe(exc: BaseException) -> str:
    """Flatten cattrs' exception groups into ``path: problem`` items."""
    return "; ".join(f"{path}: {msg}" if path else msg for path, msg in _problems(exc, ""))


def _problems(exc: BaseException, path: str) -> list[tuple[str, str]]:
    if isinstance(exc, cattrs.BaseValidationError):
        out: list[tuple[str, str]] = []
        for inner in exc.exceptions:
            step = ""
            for note in getattr(inner, "__notes__", ()):
                step = _note_step(str(note)) or step
            joined = f"{path}.{step}" if path and step and not step.startswith("[") else path + step
            out.extend(_problems(inner, joined))
        return out
    if isinstance(exc, KeyError):
        return [(path, "required field is missing")]
    return [(path, str(exc))]


def _note_step(note: str) -> str:
    # cattrs notes: "Structuring class Foo @ attribute bar", "... @ index 0", "... @ key k".
    if "@ attribute " in note:
        return camel(note.rsplit("@ attribute ", 1)[1])
    if "@ index " in note:
        return f"[{note.rsplit('@ index ', 1)[1]}]"
    if "@ key " in note:
        return f"[{note.rsplit('@ key ', 1)[1]}]"
    return ""
