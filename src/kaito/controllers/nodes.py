"""Which GPU nodes a Workspace runs on, and how many NodeClaims it still needs.

Pure functions over Node and NodeClaim dicts, following upstream Kaito: a node
qualifies when it carries the ``labelSelector``'s labels, is Ready, has
``nvidia.com/gpu`` capacity and (with auto-provisioning) the requested instance
type. Nodes someone brought themselves (no ``karpenter.sh/nodepool`` label) are
used first; NodeClaims are created only for what is still missing. A CPU preset
(``needs_gpu=False``) qualifies Ready nodes without ``nvidia.com/gpu`` capacity too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from kaito.api import constants as c
from kaito.api.meta import LabelSelector
from kaito.runtime.conditions import is_object_condition_true

GPU_RESOURCE = "nvidia.com/gpu"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """apimachinery label selector semantics (an empty selector matches nothing here)."""
    if selector is None or not (selector.match_labels or selector.match_expressions):
        return False
    for key, value in (selector.match_labels or {}).items():
        if key in c.RESERVED_SELECTOR_LABELS:
            continue
        if labels.get(key) != value:
            return False
    for expr in selector.match_expressions or ():
        present = expr.key in labels
        values = set(expr.values or ())
        if (
            (expr.operator == "In" and (not present or labels[expr.key] not in values))
            or (expr.operator == "NotIn" and present and labels[expr.key] in values)
            or (expr.operator == "Exists" and not present)
            or (expr.operator == "DoesNotExist" and present)
        ):
            return False
    return True


def selector_text(selector: LabelSelector | None) -> str:
    """``apps=phi-3,tier In (gpu)`` for messages."""
    if selector is None:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or ():
        values = f" ({','.join(expr.values or ())})" if expr.values else ""
        parts.append(f"{expr.key} {expr.operator}{values}")
    return ",".join(parts) or "<empty>"


def label_pairs(obj: Mapping[str, Any]) -> list[str]:
    """Index function: every ``key=value`` label of an object.

    With it the reconciler finds the nodes a selector can match in one index lookup
    (:func:`selector_index_value`) instead of scanning every node of the cluster on each
    reconcile, which made a reconcile O(nodes) and N Workspaces O(N^2).
    """
    return [f"{k}={v}" for k, v in (_meta(obj).get("labels") or {}).items()]


def selector_index_value(selector: LabelSelector | None) -> str | None:
    """A ``key=value`` pair (a :func:`label_pairs` value) that every node matching
    ``selector`` carries, or None when there is none and all nodes must be considered."""
    if selector is None:
        return None
    for key, value in sorted((selector.match_labels or {}).items()):
        if key not in c.RESERVED_SELECTOR_LABELS:
            return f"{key}={value}"
    for expr in selector.match_expressions or ():
        if expr.operator == "In" and len(expr.values or ()) == 1:
            return f"{expr.key}={(expr.values or [''])[0]}"
    return None


def workspace_of(obj: Mapping[str, Any]) -> list[str]:
    """Index function: ``namespace/name`` of the Workspace a NodeClaim or node belongs to."""
    labels = _meta(obj).get("labels") or {}
    name, namespace = labels.get(c.LABEL_WORKSPACE), labels.get(c.LABEL_WORKSPACE_NAMESPACE)
    return [f"{namespace}/{name}"] if name and namespace else []


def node_ready(node: Mapping[str, Any]) -> bool:
    return not _meta(node).get("deletionTimestamp") and is_object_condition_true(node, "Ready")


def gpu_capacity(node: Mapping[str, Any]) -> int:
    raw = ((node.get("status") or {}).get("capacity") or {}).get(GPU_RESOURCE, "0")
    try:
        return int(str(raw))
    except ValueError:
        return 0


def provisioned_by_kaito(node: Mapping[str, Any]) -> bool:
    return c.LABEL_NODEPOOL in (_meta(node).get("labels") or {})


@attrs.frozen(kw_only=True)
class NodePlan:
    """The nodes in use and how many NodeClaims should exist."""

    worker_nodes: tuple[str, ...]
    """Ready GPU nodes the workload runs on, sorted."""
    nodeclaims_wanted: int
    """How many NodeClaims (indices 0..n-1) the Workspace needs."""


def plan_nodes(
    *,
    selector: LabelSelector | None,
    instance_type: str | None,
    required: int,
    nodes: Sequence[Mapping[str, Any]],
    own_claim_nodes: Sequence[str],
    preferred: Sequence[str] = (),
    previous_workers: Sequence[str] = (),
    auto_provisioning: bool = True,
    needs_gpu: bool = True,
) -> NodePlan:
    """Pick ``required`` qualified nodes, and say how many NodeClaims cover the rest.

    ``own_claim_nodes`` are the node names backing this Workspace's NodeClaims; other
    provisioned nodes (another Workspace's) are never taken.
    """
    own = set(own_claim_nodes)
    qualified: list[Mapping[str, Any]] = []
    for node in nodes:
        labels = _meta(node).get("labels") or {}
        if not (selector_matches(selector, labels) and node_ready(node)):
            continue
        if needs_gpu and not gpu_capacity(node):
            continue
        if (
            auto_provisioning
            and instance_type
            and labels.get(c.LABEL_INSTANCE_TYPE, "").lower() != instance_type.lower()
        ):
            continue
        name = _meta(node).get("name", "")
        if provisioned_by_kaito(node) and name not in own:
            continue
        qualified.append(node)

    preferred_set, previous_set = set(preferred), set(previous_workers)

    def rank(node: Mapping[str, Any]) -> tuple[int, str]:
        name = str(_meta(node).get("name", ""))
        if name in preferred_set:
            return (0, name)
        if name in previous_set:
            return (1, name)
        if name in own:
            return (2, name)
        return (3, name)

    byo = [n for n in qualified if not provisioned_by_kaito(n)]
    chosen = sorted(qualified, key=rank)[:required]
    wanted = max(0, required - len(byo)) if auto_provisioning else 0
    return NodePlan(
        worker_nodes=tuple(sorted(str(_meta(n).get("name", "")) for n in chosen)),
        nodeclaims_wanted=wanted,
    )
