"""Render kaito's Jinja templates (``templates/``) into Kubernetes manifests.

Every object kaito creates is written as a template a person can read next to the
YAML it produces; Python computes the values (typed, unit-tested), the templates
only lay them out. Values are emitted with the ``tojson`` filter, so any string is
quoted correctly (JSON is YAML), and the rendered text is parsed back into a
dict: a template that produces invalid YAML fails loudly at render time.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

__all__ = ["TemplateError", "dump_documents", "render", "render_text", "templates_dir"]


class TemplateError(RuntimeError):
    """A template is missing, refers to an undefined value, or renders invalid YAML."""


_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (6x faster than pure Python)."""


def templates_dir() -> Path:
    """``kaito/templates`` inside an installed wheel, else the checkout's ``templates/``."""
    packaged = Path(__file__).resolve().parents[1] / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def _to_yaml(value: Any, indent: int = 0) -> str:
    """Block YAML for nested values (kept for readability of large free-form parts)."""
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.splitlines()).lstrip()


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}
    env.filters["to_yaml"] = _to_yaml
    return env


def render_text(template: str, **values: Any) -> str:
    """Render ``template`` (a path under ``templates/``) to YAML text."""
    try:
        return _environment().get_template(template).render(**values)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {template!r} not found in {templates_dir()}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{template}: {exc.message}") from exc


def render(template: str, **values: Any) -> dict[str, Any]:
    """Render ``template`` and parse it into one manifest dict."""
    text = render_text(template, **values)
    try:
        manifest = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{template} rendered invalid YAML: {exc}\n{text}") from exc
    if not isinstance(manifest, dict):
        raise TemplateError(f"{template} did not render a mapping")
    return manifest


class _ReadableDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks (``|``)."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _str_representer)


def dump_documents(manifests: list[dict[str, Any]]) -> str:
    """Manifests as one multi-document YAML text, as ``kubectl apply -f`` takes it."""
    return yaml.dump_all(manifests, Dumper=_ReadableDumper, sort_keys=False)
