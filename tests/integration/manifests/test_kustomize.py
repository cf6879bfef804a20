"""The install manifests render with kustomize and the real apiserver accepts them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.testenv import ControlPlane

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"


@pytest.mark.parametrize("overlay", ["default", "local", "azure", "prometheus"])
def test_kustomize_renders(control_plane: ControlPlane, overlay: str) -> None:
    rendered = control_plane.kubectl("kustomize", str(MANIFESTS / overlay)).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    assert objects
    kinds = {o["kind"] for o in objects}
    if overlay != "prometheus":
        assert {"Namespace", "CustomResourceDefinition", "Deployment", "ClusterRole"} <= kinds
        assert "ValidatingWebhookConfiguration" in kinds


def test_default_install_passes_server_side_dry_run(control_plane: ControlPlane) -> None:
    control_plane.kubectl("create", "namespace", "kaito-system", check=False)
    result = control_plane.kubectl(
        "apply", "--dry-run=server", "--server-side", "-k", str(MANIFESTS / "default")
    )
    assert "deployment.apps/kaito-manager serverside-applied (server dry run)" in result.stdout
    assert "deployment.apps/kaito-provisioner serverside-applied (server dry run)" in result.stdout


def test_deployments_are_hardened(control_plane: ControlPlane) -> None:
    rendered = control_plane.kubectl("kustomize", str(MANIFESTS / "default")).stdout
    deployments = [o for o in yaml.safe_load_all(rendered) if o and o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"kaito-manager", "kaito-provisioner"}
    for deployment in deployments:
        spec = deployment["spec"]
        assert spec["replicas"] == 2
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["allowPrivilegeEscalation"] is False
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert "--leader-elect" in container["args"]
        assert container["image"].startswith("mcr.microsoft.com/aks/kaito/kaito-operator:")


# -- availability of admission (issue #15 item 7) ------------------------------------------

_RENDERED: dict[str, list[dict[str, Any]]] = {}


def render(control_plane: ControlPlane, overlay: str) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize manifests/<overlay>`` prints (rendered once)."""
    if overlay not in _RENDERED:
        text = control_plane.kubectl("kustomize", str(MANIFESTS / overlay)).stdout
        _RENDERED[overlay] = [o for o in yaml.safe_load_all(text) if o]
    return _RENDERED[overlay]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a matchLabels-only selector (``spec.selector`` of a Service or a PDB) picks
    a pod with ``labels``."""
    match = selector.get("matchLabels", selector)
    assert not selector.get("matchExpressions")
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


INSTALLS = ["default", "local", "azure"]


@pytest.mark.parametrize(
    ("overlay", "provider"), [("default", "azure"), ("local", "kwok"), ("azure", "azure")]
)
def test_each_install_runs_the_provisioner_with_one_provider(
    control_plane: ControlPlane, overlay: str, provider: str
) -> None:
    """The last --provider wins in argparse: an overlay that adds one instead of replacing
    the base's (or replaces the wrong index) would silently run another provider."""
    (container,) = one(render(control_plane, overlay), "Deployment", "kaito-provisioner")["spec"][
        "template"
    ]["spec"]["containers"]
    flags = [a for a in container["args"] if a.startswith("--provider")]
    assert flags == [f"--provider={provider}"]
    assert "--health-probe-bind-address=:8081" in container["args"]


@pytest.mark.parametrize("overlay", INSTALLS)
def test_manager_and_provisioner_keep_one_replica_through_disruptions(
    control_plane: ControlPlane, overlay: str
) -> None:
    objects = render(control_plane, overlay)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for name in ("kaito-manager", "kaito-provisioner"):
        deployment = one(objects, "Deployment", name)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b
            for b in budgets
            if b["metadata"]["namespace"] == deployment["metadata"]["namespace"]
            and selects(b["spec"]["selector"], pod_labels)
        ]
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        (budget,) = covering
        assert budget["apiVersion"] == "policy/v1"
        assert budget["spec"] == {
            "minAvailable": 1,
            "selector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
        }
        assert deployment["spec"]["replicas"] > budget["spec"]["minAvailable"], name


@pytest.mark.parametrize("overlay", INSTALLS)
def test_every_manager_replica_serves_admission(control_plane: ControlPlane, overlay: str) -> None:
    objects = render(control_plane, overlay)
    hooks = one(objects, "ValidatingWebhookConfiguration", "validation.workspace.kaito.sh")
    (hook,) = hooks["webhooks"]
    target = hook["clientConfig"]["service"]
    assert hook["failurePolicy"] == "Fail"
    service = one(objects, "Service", target["name"])
    assert service["metadata"]["namespace"] == target["namespace"]
    manager = one(objects, "Deployment", "kaito-manager")
    pod = manager["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    args = container["args"]
    # The Service picks pods by the labels every replica's template carries (the same set the
    # Deployment selects), not by anything only the leader has.
    assert selects(service["spec"]["selector"], pod["metadata"]["labels"])
    assert service["spec"]["selector"] == manager["spec"]["selector"]["matchLabels"]
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == target["port"]]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port["targetPort"] in (ports["webhook"], "webhook")
    assert f"--webhook-port={ports['webhook']}" in args
    assert f"--webhook-service={target['namespace']}/{target['name']}" in args
    assert "--disable-webhook" not in args
    # Readiness is /readyz on the probe port, which lists the webhook (see test_rbac.py): a
    # replica whose webhook is not serving is taken out of the Service's endpoints.
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/readyz"
    assert f"--health-probe-bind-address=:{ports[probe['port']]}" in args
    # A rollout never takes a serving replica away before its replacement is ready.
    assert manager["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = pod["spec"]["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spread} == {"kubernetes.io/hostname"}
    assert all(s["whenUnsatisfiable"] == "ScheduleAnyway" for s in spread)


# -- least privilege (issue #15 item 9) -----------------------------------------------------


def granted(
    objects: list[dict[str, Any]], account: str, namespace: str = "kaito-system"
) -> list[tuple[str | None, dict[str, Any]]]:
    """Every RBAC rule the rendered install grants ServiceAccount ``namespace/account``, as
    (namespace the rule applies in, or None for cluster-wide; the rule)."""
    roles = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
    }
    rules: list[tuple[str | None, dict[str, Any]]] = []
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subjects = binding.get("subjects") or []
        if not any(
            s["kind"] == "ServiceAccount"
            and s["name"] == account
            and s.get("namespace") == namespace
            for s in subjects
        ):
            continue
        scope = binding["metadata"].get("namespace")  # None for a ClusterRoleBinding
        ref = binding["roleRef"]
        role_namespace = scope if ref["kind"] == "Role" else None
        role = roles[(ref["kind"], role_namespace, ref["name"])]
        rules += [(scope, rule) for rule in role["rules"]]
    return rules


def verbs_on(rules: list[tuple[str | None, dict[str, Any]]], group: str, resource: str) -> set[str]:
    return {
        verb
        for _, rule in rules
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize(
    ("overlay", "creates_nodes"), [("default", False), ("azure", False), ("local", True)]
)
def test_only_installs_that_make_node_objects_may_create_nodes(
    control_plane: ControlPlane, overlay: str, creates_nodes: bool
) -> None:
    """AKS nodes register themselves; only the kwok provider (manifests/local) writes Node
    objects. Deleting the Node of a terminated NodeClaim stays in every install: the
    provider-independent finalizer does it (kaito.provisioner.nodeclaim)."""
    rules = granted(render(control_plane, overlay), "kaito-provisioner")
    verbs = verbs_on(rules, "", "nodes")
    assert {"get", "list", "watch", "delete"} <= verbs
    assert ("create" in verbs) is creates_nodes
    assert "*" not in verbs


@pytest.mark.parametrize("overlay", INSTALLS)
def test_manager_reaches_only_the_webhook_certificate_secret(
    control_plane: ControlPlane, overlay: str
) -> None:
    objects = render(control_plane, overlay)
    secret_rules = [
        (scope, rule)
        for scope, rule in granted(objects, "kaito-manager")
        if "" in rule["apiGroups"] and "secrets" in rule["resources"]
    ]
    assert secret_rules
    for scope, rule in secret_rules:
        assert scope == "kaito-system", rule
        assert rule["resources"] == ["secrets"], rule
        assert rule.get("resourceNames") == ["kaito-webhook-cert"], rule
        assert set(rule["verbs"]) <= {"get", "update"}, rule
    assert verbs_on(secret_rules, "", "secrets") == {"get", "update"}
    # RBAC cannot limit create by name, so the Secret ships with the install, empty: the
    # manager fills it (kaito.controllers.webhook.shared_certificate).
    secret = one(objects, "Secret", "kaito-webhook-cert")
    assert secret["metadata"]["namespace"] == "kaito-system"
    assert "manager" in secret["metadata"]["annotations"]["kaito.sh/filled-by"]
    assert not secret.get("data") and not secret.get("stringData")
    for _, rule in granted(objects, "kaito-provisioner"):
        assert "secrets" not in rule["resources"], rule
