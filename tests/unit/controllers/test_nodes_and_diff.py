"""Node selection and the desired-vs-observed comparison that keeps writes at zero."""

from __future__ import annotations

from typing import Any

from kaito.api.meta import LabelSelector, LabelSelectorRequirement
from kaito.controllers.diff import is_subset, needs_apply
from kaito.controllers.nodes import plan_nodes, selector_matches

SELECTOR = LabelSelector(match_labels={"apps": "phi-3"})


def node(
    name: str,
    *,
    ready: bool = True,
    gpus: int = 1,
    labels: dict[str, str] | None = None,
    sku: str = "Standard_NC6s_v3",
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"apps": "phi-3", "node.kubernetes.io/instance-type": sku, **(labels or {})},
        },
        "status": {
            "capacity": {"nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_selector_semantics() -> None:
    sel = LabelSelector(
        match_labels={"apps": "phi-3"},
        match_expressions=[
            LabelSelectorRequirement(key="tier", operator="In", values=["gpu"]),
            LabelSelectorRequirement(key="spot", operator="DoesNotExist"),
        ],
    )
    assert selector_matches(sel, {"apps": "phi-3", "tier": "gpu"})
    assert not selector_matches(sel, {"apps": "phi-3", "tier": "cpu"})
    assert not selector_matches(sel, {"apps": "phi-3", "tier": "gpu", "spot": "1"})
    assert not selector_matches(LabelSelector(), {"apps": "phi-3"})


def test_no_nodes_means_one_nodeclaim_per_required_node() -> None:
    plan = plan_nodes(
        selector=SELECTOR,
        instance_type="Standard_NC6s_v3",
        required=2,
        nodes=[],
        own_claim_nodes=[],
    )
    assert plan.worker_nodes == ()
    assert plan.nodeclaims_wanted == 2


def test_byo_nodes_are_used_first_and_reduce_nodeclaims() -> None:
    plan = plan_nodes(
        selector=SELECTOR,
        instance_type="Standard_NC6s_v3",
        required=2,
        nodes=[node("byo-1"), node("not-ready", ready=False), node("no-gpu", gpus=0)],
        own_claim_nodes=[],
    )
    assert plan.worker_nodes == ("byo-1",)
    assert plan.nodeclaims_wanted == 1


def test_other_workspaces_provisioned_nodes_are_never_taken() -> None:
    theirs = node("theirs", labels={"karpenter.sh/nodepool": "kaito"})
    mine = node("mine", labels={"karpenter.sh/nodepool": "kaito"})
    plan = plan_nodes(
        selector=SELECTOR,
        instance_type="Standard_NC6s_v3",
        required=1,
        nodes=[theirs, mine],
        own_claim_nodes=["mine"],
    )
    assert plan.worker_nodes == ("mine",)
    assert plan.nodeclaims_wanted == 1


def test_wrong_instance_type_does_not_qualify_with_auto_provisioning() -> None:
    plan = plan_nodes(
        selector=SELECTOR,
        instance_type="Standard_NC24ads_A100_v4",
        required=1,
        nodes=[node("v100")],
        own_claim_nodes=[],
    )
    assert plan.worker_nodes == ()
    byo = plan_nodes(
        selector=SELECTOR,
        instance_type=None,
        required=1,
        nodes=[node("v100")],
        own_claim_nodes=[],
        auto_provisioning=False,
    )
    assert byo.worker_nodes == ("v100",)
    assert byo.nodeclaims_wanted == 0


def test_preferred_nodes_win() -> None:
    plan = plan_nodes(
        selector=SELECTOR,
        instance_type=None,
        required=1,
        nodes=[node("a"), node("b")],
        own_claim_nodes=[],
        preferred=["b"],
        auto_provisioning=False,
    )
    assert plan.worker_nodes == ("b",)


def test_subset_ignores_server_defaults_but_not_changes() -> None:
    desired = {"spec": {"ports": [{"port": 80, "targetPort": 5000}], "type": "ClusterIP"}}
    observed = {
        "spec": {
            "ports": [{"port": 80, "targetPort": 5000, "protocol": "TCP"}],
            "type": "ClusterIP",
            "clusterIP": "10.0.0.12",
        }
    }
    assert is_subset(desired, observed)
    observed["spec"]["ports"][0]["targetPort"] = 5001
    assert not is_subset(desired, observed)
    assert not is_subset({"a": [1, 2]}, {"a": [1]})
    assert is_subset({"cpu": "1"}, {"cpu": 1})
    assert not is_subset({"flag": True}, {"flag": "True"})


def test_needs_apply() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"a": "b"}, "ownerReferences": [{"uid": "1"}]},
        "data": {"k": "v"},
    }
    observed = {
        "metadata": {"name": "x", "labels": {"a": "b"}, "resourceVersion": "5"},
        "data": {"k": "v"},
    }
    assert not needs_apply(desired, observed)
    assert needs_apply(desired, None)
    assert needs_apply({**desired, "data": {"k": "w"}}, observed)
