"""The shape of ``inference.template``: enough of a PodTemplateSpec for kaito to run it.

The CRD keeps the template schemaless (upstream does the same), so the API server takes
``containers: "nope"`` or ``containers: []`` and only refuses the Deployment kaito then
builds from it -- on every reconcile, forever. These checks refuse such a Workspace at
admission instead, in the API server's words for the same faults: a ``spec`` with at
least one container, each an object with a DNS-1123-label ``name`` (unique) and a
non-empty ``image``, and the parts kaito edits (``metadata.labels``, ``spec.affinity``,
``spec.tolerations``) of the type it edits them as. Everything else in the template is
left to the API server, which checks it when the Deployment is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaito.api.validation.errors import Collector, generic, invalid_value, missing_field, quoted
from kaito.api.validation.names import dns1123_label_errors, label_key_errors, label_value_errors


def _kind(value: Any) -> str:
    """The JSON type of ``value``, as Go's decoder names it in its errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _wrong_type(out: Collector, value: Any, want: str, path: str) -> None:
    out.add(invalid_value(f"must be {want}, got {_kind(value)}", path))


def check_pod_template(out: Collector, template: Mapping[str, Any], path: str) -> None:
    """``template`` is a usable PodTemplateSpec; problems reported under ``path``."""
    metadata = template.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            _wrong_type(out, metadata, "an object", f"{path}.metadata")
        else:
            _check_labels(out, metadata.get("labels"), f"{path}.metadata.labels")
    spec = template.get("spec")
    if spec is None:
        out.add(missing_field(f"{path}.spec"))
        return
    if not isinstance(spec, Mapping):
        _wrong_type(out, spec, "an object", f"{path}.spec")
        return
    affinity = spec.get("affinity")
    if affinity is not None and not isinstance(affinity, Mapping):
        _wrong_type(out, affinity, "an object", f"{path}.spec.affinity")
    tolerations = spec.get("tolerations")
    if tolerations is not None:
        if not isinstance(tolerations, list):
            _wrong_type(out, tolerations, "a list of tolerations", f"{path}.spec.tolerations")
        else:
            for i, toleration in enumerate(tolerations):
                if not isinstance(toleration, Mapping):
                    _wrong_type(out, toleration, "an object", f"{path}.spec.tolerations[{i}]")
    _check_containers(out, spec.get("containers"), f"{path}.spec.containers")


def _check_labels(out: Collector, labels: Any, path: str) -> None:
    if labels is None:
        return
    if not isinstance(labels, Mapping):
        _wrong_type(out, labels, "a map of strings", path)
        return
    for key, value in labels.items():
        for msg in label_key_errors(str(key)):
            out.add(invalid_value(f"{quoted(key)}: {msg}", path))
        if not isinstance(value, str):
            _wrong_type(out, value, "a string", f"{path}[{key}]")
            continue
        for msg in label_value_errors(value):
            out.add(invalid_value(f"{quoted(value)}: {msg}", f"{path}[{key}]"))


def _check_containers(out: Collector, containers: Any, path: str) -> None:
    if containers is None or containers == []:
        out.add(missing_field(path))
        return
    if not isinstance(containers, list):
        _wrong_type(out, containers, "a list of containers", path)
        return
    seen: set[str] = set()
    for i, container in enumerate(containers):
        at = f"{path}[{i}]"
        if not isinstance(container, Mapping):
            _wrong_type(out, container, "an object", at)
            continue
        name = container.get("name")
        if name is None or name == "":
            out.add(missing_field(f"{at}.name"))
        elif not isinstance(name, str):
            _wrong_type(out, name, "a string", f"{at}.name")
        else:
            for msg in dns1123_label_errors(name):
                out.add(invalid_value(msg, f"{at}.name"))
            if name in seen:
                out.add(generic(f"Duplicate value: {quoted(name)}", f"{at}.name"))
            seen.add(name)
        image = container.get("image")
        if image is None or image == "":
            out.add(missing_field(f"{at}.image"))
        elif not isinstance(image, str):
            _wrong_type(out, image, "a string", f"{at}.image")
        elif image != image.strip():
            out.add(invalid_value("must not have leading or trailing whitespace", f"{at}.image"))
