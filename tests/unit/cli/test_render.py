"""``kaito render -f``: what the reconciler would create, for inference and tuning samples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito.cli import main

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"


def _render(capsys: pytest.CaptureFixture[str], sample: str, *flags: str) -> list[dict]:
    assert main(["render", "-f", str(SAMPLES / sample), *flags]) == 0
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def test_a_tuning_workspace_renders_its_nodeclaim_default_config_and_job(capsys) -> None:
    objects = _render(capsys, "workspace-tuning-phi-3-mini.yaml", "--runtime-contract=kaito")
    assert [o["kind"] for o in objects] == ["NodeClaim", "ConfigMap", "Job"]
    job = objects[-1]
    assert job["metadata"]["annotations"]["workspace.kaito.io/revision"] == "1"
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert any(
        (v.get("configMap") or {}).get("name") == objects[1]["metadata"]["name"]
        for v in volumes.values()
    ), "the Job mounts the default ConfigMap rendered beside it"


def test_an_upstream_tuning_workspace_renders_upstreams_job(capsys) -> None:
    objects = _render(capsys, "workspace-tuning-phi-3-mini.yaml", "--runtime-contract=upstream")
    assert [o["kind"] for o in objects] == ["NodeClaim", "Job"]


def test_an_inference_workspace_still_renders_its_workload(capsys) -> None:
    kinds = [o["kind"] for o in _render(capsys, "workspace-phi-3-mini.yaml")]
    assert kinds[0] == "NodeClaim" and kinds[-1] in ("Deployment", "StatefulSet")
