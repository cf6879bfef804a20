"""Simulated GPU Nodes for tests: kwok keeps a Node Ready when it carries the
``kwok.x-k8s.io/node: fake`` annotation (the control plane starts kwok with that
selector)."""

from __future__ import annotations

from typing import Any


def gpu_node(
    name: str,
    *,
    gpus: int = 1,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A Node manifest kwok will manage, with ``nvidia.com/gpu`` capacity."""
    capacity = {
        "cpu": "8",
        "memory": "64Gi",
        "pods": "110",
        "ephemeral-storage": "100Gi",
        "nvidia.com/gpu": str(gpus),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **(labels or {}),
            },
        },
        "spec": {"taints": taints or []},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }
