"""Upstream's node estimate for vLLM Workspaces under the ``upstream`` contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito.api import workspace_from_dict
from kaito.controllers import desired
from kaito.controllers.node_estimate import estimate_nodes, max_model_len
from kaito.controllers.settings import Settings
from kaito.presets import default_catalog, get_sku
from kaito.presets.upstream import upstream_runtimes

DATA = Path(__file__).resolve().parents[2] / "data" / "upstream-rendered"
CATALOG = default_catalog()


def _live(case: str) -> dict:  # type: ignore[type-arg]
    docs = yaml.safe_load_all((DATA / f"{case}.yaml").read_text())
    (live,) = [d for d in docs if d and d["kind"] == "Workspace" and "status" in d]
    return live


@pytest.mark.parametrize(
    "case",
    ["01-phi3-vllm", "03a-mistral-adapter-vllm", "04-phi4-tp2", "05-llama70b-multinode"],
)
def test_the_estimate_is_upstreams_target_node_count(case: str) -> None:
    live = _live(case)
    ws = workspace_from_dict({**live, "metadata": {**live["metadata"], "uid": "u"}})
    config = None
    if case.startswith("05"):  # the ConfigMap the Workspace names (max-model-len: 16384)
        docs = list(yaml.safe_load_all((DATA / f"{case}.yaml").read_text()))
        (cm,) = [d for d in docs if d and d.get("kind") == "ConfigMap"][:1]
        config = cm["data"]["inference_config.yaml"]
    resolved = desired.resolve(ws, CATALOG, Settings(runtime_contract="upstream"), config)
    assert resolved.nodes == live["status"]["targetNodeCount"]


def test_count_does_not_decide_for_vllm_under_upstream_but_does_under_kaito() -> None:
    raw = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w", "namespace": "n", "uid": "u"},
        "resource": {"count": 3, "instanceType": "Standard_NC24ads_A100_v4"},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    ws = workspace_from_dict(raw)
    assert desired.resolve(ws, CATALOG, Settings(runtime_contract="upstream")).nodes == 1
    assert desired.resolve(ws, CATALOG, Settings(runtime_contract="kaito")).nodes == 3
    tfs = workspace_from_dict(
        {
            **raw,
            "metadata": {**raw["metadata"], "annotations": {"kaito.sh/runtime": "transformers"}},
        }
    )
    assert desired.resolve(tfs, CATALOG, Settings(runtime_contract="upstream")).nodes == 3


def test_a_longer_context_can_need_more_gpus() -> None:
    entry = upstream_runtimes().preset("llama-3.3-70b-instruct")
    sku = get_sku("Standard_NC24ads_A100_v4")  # 1 x A100 80Gi per node
    assert sku is not None
    short = estimate_nodes(entry, sku, 2048)
    long = estimate_nodes(entry, sku, 131072)
    assert short is not None and long is not None and long > short


def test_max_model_len_reads_only_a_positive_integer() -> None:
    assert max_model_len("vllm:\n  max-model-len: 16384\n") == 16384
    assert max_model_len("vllm:\n  max-model-len: auto\n") == 2048
    assert max_model_len("not: [valid") == 2048
    assert max_model_len(None) == 2048
