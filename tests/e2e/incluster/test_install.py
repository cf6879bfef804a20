"""kaito installed with ``make install-local``'s script: pods, leader election between them,
the webhook behind its Service, faults as pods, least privilege as pods, and an uninstall
that leaves nothing behind. The tests run in file order on one install; the last one
uninstalls it.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.testenv.prometheus import Prometheus, kaito_kubernetes_scrape_configs, rules_file
from kaito.testenv.registry import REGISTRY
from tests.e2e.helpers import sample
from tests.e2e.incluster.conftest import COMPONENTS, NAMESPACE, InCluster
from tests.support.promql import (
    PROMETHEUS_RULE,
    Expression,
    alert_rules,
    assert_all_return_data,
    dashboard_expressions,
    data_expressions,
    wait_rules_healthy,
)
from tests.support.waiting import condition, get_json, wait_until

SAMPLE = "workspace-phi-3-mini"
"""The Workspace hack/install-local.sh applies (namespace default, a kwok GPU node)."""
CONTAINERS = {"kaito-manager": "manager", "kaito-provisioner": "provisioner"}
CONTROLLERS = {"kaito-manager": "workspace", "kaito-provisioner": "nodeclaim"}


def ready(found: InCluster, name: str, namespace: str = "default") -> bool:
    got = condition(get_json(found.plane, "workspace", name, "-n", namespace), "WorkspaceReady")
    return bool(got and got["status"] == "True")


def probe_workspace(name: str) -> dict[str, Any]:
    ws = copy.deepcopy(sample("workspace-phi-3-mini.yaml"))
    ws["metadata"] = {"name": name, "namespace": "default"}
    ws["resource"]["labelSelector"] = {"matchLabels": {"apps": name}}
    return ws


def apply_and_wait_ready(found: InCluster, name: str) -> None:
    found.plane.kubectl("apply", "-f", "-", input=json.dumps(probe_workspace(name)))
    wait_until(lambda: ready(found, name), timeout=240, what=f"{name} WorkspaceReady")


def delete_workspace(found: InCluster, name: str) -> None:
    found.kubectl("delete", "workspace", name, "-n", "default", "--timeout=240s")


def reconciles(found: InCluster, pod: dict[str, Any], controller: str) -> float:
    """``controller_runtime_reconcile_total`` of ``controller`` on one pod, every result."""
    total = 0.0
    for line in found.metrics(pod).splitlines():
        if line.startswith("controller_runtime_reconcile_total{") and (
            f'controller="{controller}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


# -- install --------------------------------------------------------------------------------
def test_install_brings_kaito_up_as_pods_and_a_workspace_to_ready(installed: InCluster) -> None:
    install = installed.installed
    assert install is not None
    print(f"hack/install-local.sh: {install.seconds:.1f}s to a ready Workspace")
    assert ready(installed, SAMPLE)
    for component in COMPONENTS:
        pods = installed.ready_pods(component)
        assert len(pods) == 2, component
        for pod in pods:
            assert pod["spec"]["nodeName"] == "kaito-system"
            assert pod["spec"]["serviceAccountName"] == component
            (container,) = pod["spec"]["containers"]
            assert container["image"].startswith(f"{REGISTRY}/kaito/kaito-operator:")
        assert installed.leader(component) in {p["metadata"]["name"] for p in pods}
    # only pods run kaito against this control plane, so a pod reconciled the sample: its
    # NodeClaim was launched by the in-cluster provisioner (kwok node) ...
    (claim,) = get_json(installed.plane, "nodeclaims", "-l", "kaito.sh/workspace=" + SAMPLE)[
        "items"
    ]
    node = get_json(installed.plane, "node", claim["status"]["nodeName"])
    assert node is not None
    assert node["metadata"]["annotations"].get("kwok.x-k8s.io/node") == "fake"


def test_the_webhook_is_served_through_its_service(installed: InCluster) -> None:
    config = get_json(installed.plane, "validatingwebhookconfiguration")
    (hook,) = [
        w
        for item in config["items"]
        for w in item["webhooks"]
        if w["name"] == "validation.workspace.kaito.sh"
    ]
    assert hook["clientConfig"]["service"] == {
        "name": "kaito-webhook",
        "namespace": NAMESPACE,
        "path": "/validate/workspace.kaito.sh",
        "port": 443,
    }
    assert hook["clientConfig"].get("caBundle"), "the manager did not inject its CA"
    bad = probe_workspace("no-such-preset")
    bad["inference"]["preset"]["name"] = "no-such-preset"
    refused = installed.plane.kubectl(
        "create", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False
    )
    assert refused.returncode != 0
    assert 'admission webhook "validation.workspace.kaito.sh" denied the request' in (
        refused.stderr
    )
    assert "no-such-preset" in refused.stderr


# -- a real Prometheus, scraping the pods through Kubernetes discovery -----------------------
def test_prometheus_scrapes_the_pods_and_every_dashboard_query_and_alert_returns_data(
    installed: InCluster, tmp_path: Path
) -> None:
    """The ServiceMonitors' selection (endpoints of the metrics Services, port ``metrics``)
    as kubernetes_sd through the API server; Prometheus on this machine reaches pod IPs
    over the bridge."""
    prometheus = Prometheus(
        tmp_path / "prometheus",
        scrape_configs=kaito_kubernetes_scrape_configs(installed.plane.kubeconfig),
        rule_files=[rules_file(PROMETHEUS_RULE, for_="2s")],
    )
    prometheus.start()
    try:
        targets = prometheus.wait_scraped(4)  # two pods of each component
        pods = {t["labels"]["pod"] for t in targets}
        expected = {p["metadata"]["name"] for c in COMPONENTS for p in installed.ready_pods(c)}
        assert pods == expected
        # a Workspace reconciled while Prometheus watches: rates see its calls
        apply_and_wait_ready(installed, "observed")
        assert_all_return_data(prometheus, dashboard_expressions(), timeout=120)
        alerts = alert_rules()
        wait_rules_healthy(prometheus, [a.name for a in alerts])
        assert_all_return_data(
            prometheus,
            [Expression(f"alert {a.name}", d) for a in alerts for d in data_expressions(a.expr)],
        )

        # With `for: 2s` the Workspace's own NodeClaim, launching for a few seconds, may have
        # fired KaitoNodeClaimsNotLaunching; on a healthy install every alert resolves once
        # the next scrape and evaluation see it launched.
        seen: list[str] = []

        def quiet() -> bool:
            seen[:] = [
                a["labels"]["alertname"] for a in prometheus.alerts() if a["state"] == "firing"
            ]
            return not seen

        try:
            wait_until(quiet, timeout=60, what="no alert firing")
        except AssertionError:
            raise AssertionError(f"alerts firing on a healthy install: {seen}") from None
    finally:
        prometheus.stop()
    delete_workspace(installed, "observed")


# -- faults as pods -------------------------------------------------------------------------
@pytest.mark.parametrize("component", COMPONENTS)
def test_deleting_the_leader_pod_hands_over_to_the_other_replica(
    installed: InCluster, component: str
) -> None:
    installed.wait_rolled_out(component)
    old = installed.leader(component)
    others = {p["metadata"]["name"] for p in installed.ready_pods(component)} - {old}
    assert len(others) == 1
    follow = subprocess.Popen(  # the old leader's last words, should the hand-over be slow
        [str(installed.plane.bin_dir / "kubectl"), f"--kubeconfig={installed.plane.kubeconfig}",
         "logs", "-f", old, "-n", NAMESPACE, "--tail=5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    started = time.monotonic()
    installed.kubectl("delete", "pod", old, "-n", NAMESPACE, "--wait=false")
    try:
        wait_until(
            lambda: installed.leader(component) not in ("", old),
            timeout=60,
            interval=0.1,
            what=f"a new {component} leader",
        )
        gap = time.monotonic() - started
    finally:
        follow.terminate()
        last_words = follow.communicate(timeout=30)[0]
    new = installed.leader(component)
    # the standby asks every retry period (2 s); the replacement pod the Deployment starts
    # asks as soon as it runs, and either may win
    who = "the standby" if new in others else "the replacement pod"
    print(f"{component}: leader hand-over to {who} {gap:.2f}s after the leader pod's deletion")
    assert new in {p["metadata"]["name"] for p in installed.pods(component)} - {old}
    # a released Lease is taken within one retry period (2 s); 15 s would be its expiry
    assert gap < 10, f"{component} hand-over took {gap:.1f}s (Lease not released):\n{last_words}"
    # and the new leader works: a Workspace needs both components
    name = f"after-{component.removeprefix('kaito-')}"
    apply_and_wait_ready(installed, name)
    delete_workspace(installed, name)
    installed.wait_rolled_out(component)


def test_the_webhook_keeps_admitting_while_one_replica_restarts(installed: InCluster) -> None:
    installed.wait_rolled_out("kaito-manager")
    results: list[int] = []
    refusals: list[str] = []
    stop = threading.Event()
    body = probe_workspace("admission-probe")
    path = "/apis/kaito.sh/v1alpha1/namespaces/default/workspaces?dryRun=All"

    def create_continuously() -> None:
        while not stop.is_set():
            status, text = installed.api("POST", path, body)
            results.append(status)
            if status != 201:
                refusals.append(f"{status}: {text[:300]}")

    thread = threading.Thread(target=create_continuously, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(results) >= 5, timeout=60, what="admission before the restart")
        victim = installed.leader("kaito-manager")  # the busier replica
        installed.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=false")
        wait_until(
            lambda: victim not in {p["metadata"]["name"] for p in installed.pods("kaito-manager")},
            timeout=120,
            what=f"{victim} gone",
        )
        installed.wait_rolled_out("kaito-manager")
        after = len(results)
        wait_until(lambda: len(results) >= after + 5, timeout=60, what="admission afterwards")
    finally:
        stop.set()
        thread.join(timeout=60)
    print(f"admission during a manager restart: {len(results)} requests, {len(refusals)} refused")
    assert not refusals, "\n".join(refusals[:5])


def _retag(image: str, tag: str) -> str:
    """The same manifest under another tag in the local registry (a new release, same code)."""
    repository, old_tag = image.removeprefix(f"{REGISTRY}/").rsplit(":", 1)
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
    get = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repository}/manifests/{old_tag}", headers={"Accept": accept}
    )
    with urllib.request.urlopen(get, timeout=30) as resp:
        manifest, media_type = resp.read(), resp.headers["Content-Type"]
    put = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repository}/manifests/{tag}",
        data=manifest,
        headers={"Content-Type": media_type},
        method="PUT",
    )
    with urllib.request.urlopen(put, timeout=30):
        pass
    return f"{REGISTRY}/{repository}:{tag}"


SHOW = "--show-managed-fields"  # kubectl hides them otherwise
OWNED_KINDS = ("deployments", "statefulsets", "services", "configmaps", "controllerrevisions")
FOREIGN_MANAGERS = frozenset(
    {"kube-controller-manager", "kube-scheduler", "kubelet", "kwok", "kwok-controller"}
)
"""Field managers of the cluster's own controllers (status of Deployments, kwok's Node and
pod status): their writes are not the operator's."""


def _writes(item: dict[str, Any]) -> dict[str, str]:
    """(manager, operation, subresource) -> time of that manager's last write, kaito's only."""
    return {
        f"{m.get('manager')} {m.get('operation')} {m.get('subresource', '')}".strip(): str(
            m.get("time")
        )
        for m in item["metadata"].get("managedFields") or []
        if m.get("manager") not in FOREIGN_MANAGERS
    }


def owned_objects(found: InCluster) -> dict[str, Any]:
    """What the operator wrote to everything it made for the sample (managedFields times),
    and the identity and restarts of the model pods."""
    seen: dict[str, Any] = {}
    for kind in OWNED_KINDS:
        for item in get_json(found.plane, kind, "-n", "default", SHOW)["items"]:
            meta = item["metadata"]
            if not meta["name"].startswith(SAMPLE):  # the sample's, not a deleted probe's
                continue
            seen[f"{kind}/{meta['name']}"] = _writes(item)
    for kind in ("nodeclaims", "nodes"):
        selector = "kaito.sh/workspace=" + SAMPLE
        for item in get_json(found.plane, kind, "-l", selector, SHOW)["items"]:
            seen[f"{kind}/{item['metadata']['name']}"] = _writes(item)
    ws = get_json(found.plane, "workspace", SAMPLE, "-n", "default", SHOW)
    seen[f"workspace/{SAMPLE}"] = _writes(ws)
    for pod in get_json(found.plane, "pods", "-n", "default")["items"]:
        if not pod["metadata"]["name"].startswith(SAMPLE):
            continue
        restarts = [c.get("restartCount") for c in pod["status"].get("containerStatuses") or []]
        seen[f"pods/{pod['metadata']['name']}"] = (pod["metadata"]["uid"], restarts)
    return seen


def test_a_new_operator_image_tag_changes_nothing_the_operator_owns(
    installed: InCluster,
) -> None:
    wait_until(lambda: ready(installed, SAMPLE), timeout=120, what=f"{SAMPLE} ready")
    before = owned_objects(installed)
    assert any(k.startswith("nodeclaims/") for k in before)
    assert any(k.startswith(("deployments/", "statefulsets/")) for k in before)
    assert any(k.startswith("pods/") for k in before)
    writers = sorted({m for v in before.values() if isinstance(v, dict) for m in v})
    print("kaito's writes (field managers):", writers)
    assert any(w.startswith("kaito-workspace") for w in writers), writers
    deployment = get_json(installed.plane, "deployment", "kaito-manager", "-n", NAMESPACE)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    new_image = _retag(image, image.rsplit(":", 1)[1] + "-next")
    for component in COMPONENTS:
        installed.kubectl(
            "set", "image", f"deployment/{component}", "-n", NAMESPACE,
            f"{CONTAINERS[component]}={new_image}",
        )  # fmt: skip
    for component in COMPONENTS:
        installed.wait_rolled_out(component)
        pods = installed.ready_pods(component)
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {new_image}
        # the new leader (a new pod) has looked at every object once: its reconciles ran
        leader = next(p for p in pods if p["metadata"]["name"] == installed.leader(component))
        wait_until(
            lambda leader=leader, component=component: (
                reconciles(installed, leader, CONTROLLERS[component]) >= 1
            ),
            timeout=120,
            what=f"the new {component} leader reconciling",
        )
    after = owned_objects(installed)
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()}
    changed = {k: v for k, v in changed.items() if v[0] != v[1]}
    assert not changed, f"objects changed by an image-only rollout: {changed}"


# -- least privilege, as pods ---------------------------------------------------------------
def test_a_verb_removed_from_the_managers_role_is_reported_not_a_silent_stall(
    installed: InCluster,
) -> None:
    role = get_json(installed.plane, "clusterrole", "kaito-manager")
    original = copy.deepcopy(role)
    for rule in role["rules"]:
        if "services" in rule.get("resources", []):
            rule["verbs"] = [v for v in rule["verbs"] if v != "create"]
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        role["metadata"].pop(key, None)
        original["metadata"].pop(key, None)
    installed.plane.kubectl("replace", "-f", "-", input=json.dumps(role))
    name = "rbac-probe"
    try:
        installed.plane.kubectl("apply", "-f", "-", input=json.dumps(probe_workspace(name)))

        def refusal() -> dict[str, Any] | None:
            got = condition(
                get_json(installed.plane, "workspace", name, "-n", "default"),
                "WorkspaceSucceeded",
            )
            return got if got and got.get("reason") == "PermissionDenied" else None

        wait_until(lambda: refusal() is not None, timeout=180, what="a PermissionDenied condition")
        message = refusal()["message"]  # type: ignore[index]
        # the rule covers services and configmaps: whichever is created first is refused
        assert re.search(r'cannot create resource "(services|configmaps)"', message), message
        assert "system:serviceaccount:kaito-system:kaito-manager" in message, message
        leader = installed.leader("kaito-manager")
        logs = installed.kubectl("logs", leader, "-n", NAMESPACE).stdout
        assert "Reconciler error" in logs and "forbidden" in logs.lower()
    finally:
        installed.plane.kubectl("replace", "-f", "-", input=json.dumps(original))
    # with the verb back, the retries (backoff) finish the Workspace without anyone touching it
    wait_until(lambda: ready(installed, name), timeout=300, what=f"{name} ready after the fix")
    delete_workspace(installed, name)


# -- uninstall (last) -----------------------------------------------------------------------
def cluster_scoped_kaito_objects(found: InCluster) -> list[str]:
    names = []
    for kind in (
        "crd",
        "clusterrole",
        "clusterrolebinding",
        "validatingwebhookconfiguration",
        "namespace",
    ):
        for item in get_json(found.plane, kind)["items"]:
            name = item["metadata"]["name"]
            if "kaito" in name or name.endswith("karpenter.sh"):
                names.append(f"{kind}/{name}")
    return names


def test_uninstall_leaves_nothing_behind(installed: InCluster) -> None:
    apply_and_wait_ready(installed, "left-for-uninstall")  # one more with a NodeClaim
    uninstall = installed.script("--uninstall")
    print(f"hack/install-local.sh --uninstall: {uninstall.seconds:.1f}s")
    assert uninstall.returncode == 0, uninstall.output[-4000:]
    assert cluster_scoped_kaito_objects(installed) == []
    nodes = [n["metadata"]["name"] for n in get_json(installed.plane, "nodes")["items"]]
    assert nodes == [], f"nodes left: {nodes}"
    leftovers = yaml.safe_dump(
        get_json(installed.plane, "all", "-n", "default")["items"], default_flow_style=True
    )
    assert "kaito" not in leftovers.replace("kubernetes", ""), leftovers[:2000]
