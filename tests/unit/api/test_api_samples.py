"""manifests/samples: upstream's examples unchanged, plus ours, all valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito.api import workspace_from_dict
from kaito.api.validation import validate_create
from tests.unit.api.api_builders import CATALOG, CLOUD

SAMPLES = Path(__file__).parents[3] / "manifests" / "samples"
# The shared examples sit beside the checkout (../shared), in CI and in development.
EXAMPLES = Path(__file__).parents[3].parent / "shared" / "examples"


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_sample_is_valid(path: Path) -> None:
    """Valid under kaito's contract; under upstream's, as upstream v0.12 would judge it."""
    ws = workspace_from_dict(yaml.safe_load(path.read_text()))
    assert validate_create(ws, catalog=CATALOG, cloud=CLOUD, runtime_contract="kaito").errors == []
    strength = any(a.strength for a in (ws.inference.adapters if ws.inference else None) or ())
    upstream = validate_create(ws, catalog=CATALOG, cloud=CLOUD, runtime_contract="upstream")
    # upstream's own adapter sample predates vLLM as its default runtime, which has no strength
    expected = (
        ["Runtime validation: vLLM does not support adapter strength: inference.adapters"]
        if strength and "kaito.sh/runtime" not in ws.annotations
        else []
    )
    assert upstream.errors == expected


def test_samples_cover_both_versions_and_a_template() -> None:
    docs = [yaml.safe_load(p.read_text()) for p in SAMPLES.glob("*.yaml")]
    versions = {d["apiVersion"] for d in docs}
    assert versions == {"kaito.sh/v1alpha1", "kaito.sh/v1beta1"}
    assert any("template" in (d.get("inference") or {}) for d in docs)
    assert sum("tuning" in d for d in docs) >= 2


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="shared examples not mounted")
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_upstream_examples_copied_unchanged(path: Path) -> None:
    assert (SAMPLES / path.name).read_bytes() == path.read_bytes()
