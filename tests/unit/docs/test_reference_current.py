"""docs/workspace-reference.md is generated from the CRD; it must match it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_workspace_reference_is_generated_from_the_current_crd() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "hack" / "gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "docs" / "workspace-reference.md").read_text()
    assert current == module.render(), "run: .venv/bin/python hack/gen_reference.py"
    assert "## `inference.adapters`" in current
