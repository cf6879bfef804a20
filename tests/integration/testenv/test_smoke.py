"""The local control plane is the real thing: CRDs with a status subresource and
printer columns, watches, kwok GPU nodes, scheduling on ``nvidia.com/gpu``."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from typing import Any

from kaito.testenv import ControlPlane
from tests.support.kwok_nodes import gpu_node
from tests.support.waiting import apply, condition, get_json, wait_until

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.kaito.sh"},
    "spec": {
        "group": "smoke.kaito.sh",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                    },
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer"}},
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "conditions": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "type": {"type": "string"},
                                                "status": {"type": "string"},
                                            },
                                        },
                                    }
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


def _crd_established(plane: ControlPlane) -> bool:
    crd = get_json(plane, "crd", "widgets.smoke.kaito.sh")
    cond = condition(crd, "Established")
    return bool(cond and cond["status"] == "True")


def test_version_is_served(control_plane: ControlPlane) -> None:
    version = json.loads(control_plane.kubectl("get", "--raw", "/version").stdout)
    assert version["major"] == "1"
    assert int(version["minor"]) >= 33
    assert version["gitVersion"].startswith("v1.")


def test_crd_status_subresource_printer_columns_and_watch(
    control_plane: ControlPlane, namespace: str
) -> None:
    apply(control_plane, WIDGET_CRD)
    wait_until(lambda: _crd_established(control_plane), what="widget CRD established")

    # Watch from the start with kubectl; collect the event stream in a thread.
    watcher = subprocess.Popen(
        [
            str(control_plane.bin_dir / "kubectl"),
            f"--kubeconfig={control_plane.kubeconfig}",
            "get",
            "widgets",
            "-n",
            namespace,
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    events: list[dict[str, Any]] = []

    def collect() -> None:
        assert watcher.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for line in watcher.stdout:
            buffer += line
            try:
                event, end = decoder.raw_decode(buffer.strip())
            except json.JSONDecodeError:
                continue
            events.append(event)
            buffer = buffer.strip()[end:]

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    try:
        apply(
            control_plane,
            {
                "apiVersion": "smoke.kaito.sh/v1",
                "kind": "Widget",
                "metadata": {"name": "w1", "namespace": namespace},
                "spec": {"size": 3},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
        )
        created = get_json(control_plane, "widget", "w1", "-n", namespace)
        assert created is not None
        # the main resource ignores status: only the subresource can write it
        assert "status" not in created or not created["status"].get("conditions")

        control_plane.kubectl(
            "patch",
            "widget",
            "w1",
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        table = control_plane.kubectl("get", "widgets", "-n", namespace).stdout.splitlines()
        assert table[0].split() == ["NAME", "SIZE", "READY", "AGE"]
        assert table[1].split()[:3] == ["w1", "3", "True"]

        control_plane.kubectl("delete", "widget", "w1", "-n", namespace)
        kinds = wait_until(
            lambda: [e["type"] for e in events] if len(events) >= 3 else None,
            what="ADDED, MODIFIED and DELETED watch events",
        )
        assert kinds[0] == "ADDED"
        assert "MODIFIED" in kinds
        assert kinds[-1] == "DELETED"
        patched = next(e for e in events if e["type"] == "MODIFIED")["object"]
        assert condition(patched, "Ready") == {"type": "Ready", "status": "True"}
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)


def _gpu_deployment(name: str, namespace: str, node_label: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"smoke.kaito.sh/node": node_label},
                    "containers": [
                        {
                            "name": "model",
                            "image": "registry.invalid/model:1",
                            "resources": {
                                "requests": {"nvidia.com/gpu": "1"},
                                "limits": {"nvidia.com/gpu": "1"},
                            },
                        }
                    ],
                },
            },
        },
    }


def test_gpu_node_becomes_ready_and_schedules_exactly_its_capacity(
    control_plane: ControlPlane, namespace: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    node_name = f"gpu-{tag}"
    apply(control_plane, gpu_node(node_name, gpus=1, labels={"smoke.kaito.sh/node": tag}))
    try:
        node = wait_until(
            lambda: (
                n
                if (n := get_json(control_plane, "node", node_name))
                and (c := condition(n, "Ready"))
                and c["status"] == "True"
                else None
            ),
            what=f"node {node_name} Ready",
        )
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "1"

        apply(control_plane, _gpu_deployment("first", namespace, tag))
        deployment = wait_until(
            lambda: (
                d
                if (d := get_json(control_plane, "deployment", "first", "-n", namespace))
                and (c := condition(d, "Available"))
                and c["status"] == "True"
                else None
            ),
            timeout=90,
            what="deployment first Available",
        )
        assert deployment["status"]["availableReplicas"] == 1
        pods = get_json(control_plane, "pods", "-n", namespace, "-l", "app=first")
        assert pods is not None
        assert [p["spec"]["nodeName"] for p in pods["items"]] == [node_name]

        apply(control_plane, _gpu_deployment("second", namespace, tag))

        def unschedulable() -> str | None:
            listed = get_json(control_plane, "pods", "-n", namespace, "-l", "app=second")
            for pod in (listed or {}).get("items", []):
                cond = condition(pod, "PodScheduled")
                if cond and cond["status"] == "False":
                    message: str = cond.get("message", "")
                    return message
            return None

        message = wait_until(unschedulable, what="second pod reported unschedulable")
        assert "Insufficient nvidia.com/gpu" in message
        listed = get_json(control_plane, "pods", "-n", namespace, "-l", "app=second")
        assert listed is not None
        assert [p["status"]["phase"] for p in listed["items"]] == ["Pending"]
    finally:
        control_plane.kubectl("delete", "node", node_name, "--ignore-not-found", check=False)
