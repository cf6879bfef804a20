"""The manager caches Pods and Nodes trimmed (controllers.cache_options): whatever the
reconciler's readers conclude from a full object they must conclude from its cached form."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from kaito.api import constants as c
from kaito.controllers.cache_options import BY_OBJECT, node_summary, pod_summary
from kaito.controllers.nodes import plan_nodes
from kaito.controllers.pod_failures import classify_pod
from kaito.runtime import resources as r
from kaito.runtime.cache import InformerCache

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def container_status(name: str, state: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A container status with the fields a kubelet of 1.36 reports, read or not."""
    return {
        "name": name,
        "image": "127.0.0.1:5000/kaito/inference:0.1.0",
        "imageID": "127.0.0.1:5000/kaito/inference@sha256:" + "0" * 64,
        "containerID": "containerd://" + "1" * 64,
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": state,
        "lastState": {},
        "volumeMounts": [{"name": "weights", "mountPath": "/workspace/weights"}],
        "resources": {"requests": {"cpu": "2"}},
        "allocatedResources": {"cpu": "2"},
        "user": {"linux": {"uid": 0, "gid": 0}},
        **extra,
    }


def full_pod(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "ws-0",
            "namespace": "default",
            "uid": "u-1",
            "resourceVersion": "42",
            "labels": {c.LABEL_WORKSPACE: "ws"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "now"},
            "ownerReferences": [{"kind": "StatefulSet", "name": "ws", "uid": "s-1"}],
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"containers": [{"name": "server", "image": "x", "env": [{"name": "A"}] * 20}]},
        "status": {
            "hostIP": "10.245.0.2",
            "podIPs": [{"ip": "10.246.0.5"}],
            "qosClass": "Burstable",
            "startTime": "2026-12-03T08:00:00Z",
            **status,
        },
    }


CRASHED = {"terminated": {"exitCode": 3, "reason": "Error", "message": "boom\nlast line"}}
POD_STATES: list[dict[str, Any]] = [
    {"phase": "Running", "containerStatuses": [container_status("server", {"running": {}})]},
    {"containerStatuses": [container_status("server", {"waiting": {"reason": "ErrImagePull"}})]},
    {
        "initContainerStatuses": [
            container_status(
                "weights",
                {"waiting": {"reason": "CrashLoopBackOff"}},
                lastState={"terminated": {"exitCode": 1, "message": "manifest unknown"}},
                restartCount=4,
            )
        ],
    },
    {"containerStatuses": [container_status("server", CRASHED)]},
    {
        "containerStatuses": [
            container_status(
                "server",
                {"running": {"startedAt": "2026-12-03T08:59:58Z"}},
                lastState=CRASHED,
                restartCount=2,
            )
        ]
    },
    {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."},
    {
        "phase": "Pending",
        "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no"}
        ],
    },
    {"containerStatuses": [container_status("server", {"terminated": {"reason": "OOMKilled"}})]},
]


@pytest.mark.parametrize("status", POD_STATES)
def test_a_cached_pod_is_judged_as_the_full_pod(status: dict[str, Any]) -> None:
    pod = full_pod(**status)
    cached = pod_summary(copy.deepcopy(pod))
    assert classify_pod(cached, NOW) == classify_pod(pod, NOW)
    assert "spec" not in cached
    assert "managedFields" not in cached["metadata"]
    assert cached["metadata"]["labels"] == pod["metadata"]["labels"]
    assert cached["metadata"]["ownerReferences"] == pod["metadata"]["ownerReferences"]


def test_a_cached_pod_being_deleted_keeps_its_mark() -> None:
    pod = full_pod(phase="Running")
    pod["metadata"]["deletionTimestamp"] = "2026-12-03T09:00:00Z"
    assert pod_summary(pod)["metadata"]["deletionTimestamp"] == "2026-12-03T09:00:00Z"


def full_node(name: str, *, ready: str = "True", gpus: str | None = "1", **labels: str) -> Any:
    capacity = {"cpu": "24", "memory": "220Gi", **({"nvidia.com/gpu": gpus} if gpus else {})}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"u-{name}",
            "labels": {c.LABEL_INSTANCE_TYPE: "Standard_NC24ads_A100_v4", **labels},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"providerID": f"kwok://{name}", "taints": []},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}],
            "images": [{"names": ["registry/image:tag"], "sizeBytes": 1 << 30}] * 30,
            "nodeInfo": {"kubeletVersion": "v1.36.3"},
            "addresses": [{"type": "InternalIP", "address": "10.245.0.2"}],
        },
    }


def test_cached_nodes_are_planned_as_the_full_nodes() -> None:
    nodes = [
        full_node("a", app="x"),
        full_node("b", app="x", ready="False"),
        full_node("c", app="x", gpus=None),
        full_node("d", app="x", **{c.LABEL_NODEPOOL: "other"}),
        full_node("e", app="y"),
    ]
    nodes[0]["metadata"]["deletionTimestamp"] = None
    from kaito.api.meta import LabelSelector

    def plan(given: list[Any]) -> Any:
        return plan_nodes(
            selector=LabelSelector(match_labels={"app": "x"}),
            instance_type="Standard_NC24ads_A100_v4",
            required=2,
            nodes=given,
            own_claim_nodes=[],
        )

    cached = [node_summary(copy.deepcopy(n)) for n in nodes]
    assert plan(cached) == plan(nodes)
    assert plan(cached).worker_nodes == ("a",)
    assert all("images" not in n["status"] and "spec" not in n for n in cached)


def test_the_pod_informer_lists_only_workspace_pods_for_every_reader() -> None:
    cache = InformerCache(None, by_object=BY_OBJECT)  # type: ignore[arg-type]
    informer = cache.informer(r.POD)
    assert informer.reflector.label_selector == c.LABEL_WORKSPACE
    informer.replace([pod_summary(full_pod(phase="Running"))], "1")
    # a cached read of the type goes to the same (selected, trimmed) informer
    assert cache.get(r.POD, "ws-0", "default") is not None
    assert len(cache.informers) == 1
    # a caller that asks for another selector gets its own informer
    assert cache.informer(r.POD, label_selector="app=x") is not informer
