"""The cache indexes the Workspace reconciler reads nodes and NodeClaims through: looking a
selector up in the label index must find exactly the nodes a full scan would."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.api import constants as c
from kaito.api.meta import LabelSelector, LabelSelectorRequirement
from kaito.controllers.nodes import (
    label_pairs,
    plan_nodes,
    selector_index_value,
    selector_matches,
    workspace_of,
)
from kaito.runtime.store import Store

KEYS = ("apps", "tier", "zone", c.LABEL_WORKSPACE)
VALUES = ("a", "b", "c")


def node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {
            "capacity": {"nvidia.com/gpu": "1"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


labels_st = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=4)
requirement_st = st.builds(
    LabelSelectorRequirement,
    key=st.sampled_from(KEYS),
    operator=st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")),
    values=st.lists(st.sampled_from(VALUES), min_size=1, max_size=2),
)
selector_st = st.builds(
    LabelSelector,
    match_labels=st.none() | labels_st,
    match_expressions=st.none() | st.lists(requirement_st, max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(labels_st, max_size=12), selector_st)
def test_index_lookup_finds_every_node_a_scan_matches(
    all_labels: list[dict[str, str]], selector: LabelSelector
) -> None:
    nodes = [node(f"n{i}", labels) for i, labels in enumerate(all_labels)]
    store = Store({"labels": label_pairs}, key_func=lambda o: o["metadata"]["name"])
    for n in nodes:
        store.upsert(n)
    pair = selector_index_value(selector)
    candidates = store.by_index("labels", pair) if pair else store.list()
    matching = {
        n["metadata"]["name"] for n in nodes if selector_matches(selector, n["metadata"]["labels"])
    }
    assert matching <= {n["metadata"]["name"] for n in candidates}

    def plan(over: list[dict[str, Any]]) -> tuple[tuple[str, ...], int]:
        p = plan_nodes(
            selector=selector, instance_type=None, required=2, nodes=over, own_claim_nodes=[]
        )
        return p.worker_nodes, p.nodeclaims_wanted

    assert plan(candidates) == plan(nodes)


def test_index_value_skips_reserved_labels_and_uses_single_value_in() -> None:
    reserved_only = LabelSelector(match_labels={c.LABEL_WORKSPACE: "ws"})
    assert selector_index_value(reserved_only) is None
    assert selector_index_value(None) is None
    both = LabelSelector(match_labels={c.LABEL_WORKSPACE: "ws", "apps": "phi-3"})
    assert selector_index_value(both) == "apps=phi-3"
    one_in = LabelSelector(
        match_expressions=[LabelSelectorRequirement(key="tier", operator="In", values=["gpu"])]
    )
    assert selector_index_value(one_in) == "tier=gpu"
    two_in = LabelSelector(
        match_expressions=[
            LabelSelectorRequirement(key="tier", operator="In", values=["gpu", "cpu"])
        ]
    )
    assert selector_index_value(two_in) is None


def test_index_follows_label_changes() -> None:
    store = Store({"labels": label_pairs}, key_func=lambda o: o["metadata"]["name"])
    store.upsert(node("n1", {"apps": "a"}))
    assert [n["metadata"]["name"] for n in store.by_index("labels", "apps=a")] == ["n1"]
    store.upsert(node("n1", {"apps": "b"}))
    assert store.by_index("labels", "apps=a") == []
    assert [n["metadata"]["name"] for n in store.by_index("labels", "apps=b")] == ["n1"]


def test_workspace_of_needs_both_labels() -> None:
    claim = {
        "metadata": {"labels": {c.LABEL_WORKSPACE: "phi", c.LABEL_WORKSPACE_NAMESPACE: "team-a"}}
    }
    assert workspace_of(claim) == ["team-a/phi"]
    assert workspace_of({"metadata": {"labels": {c.LABEL_WORKSPACE: "phi"}}}) == []
    assert workspace_of({"metadata": {}}) == []
