"""In-cluster fixtures: kaito installed the way users install it, on a control plane of its own.

``hack/install-local.sh`` (what ``make install-local`` runs) installs into a fresh control
plane: a real node for kaito's own pods, the operator image from the local registry,
``kubectl apply -k`` of manifests/local pointed at it. Nothing here runs kaito as a host
process, so whatever reconciles a Workspace in these tests is a pod. The control plane is
not the session's: host-run operators of other modules must not meet the in-cluster ones,
and the uninstall test compares against a cluster kaito never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from kaito.provisioner.localnode.hostnet import mounts_under, unmount_under
from kaito.testenv import ControlPlane
from tests.e2e.conftest import REPO
from tests.support.waiting import get_json, wait_until

NAMESPACE = "kaito-system"
COMPONENTS = ("kaito-manager", "kaito-provisioner")
INSTALL = REPO / "hack" / "install-local.sh"


@attrs.define
class Install:
    """The output and duration of ``hack/install-local.sh`` (or its ``--uninstall``)."""

    returncode: int
    output: str
    seconds: float


@attrs.define
class InCluster:
    """kaito's install in its own control plane, and ways to look at it as kubectl would."""

    plane: ControlPlane
    env: dict[str, str]
    installed: Install | None = None

    def script(self, *args: str, timeout: float = 900) -> Install:
        started = time.monotonic()
        proc = subprocess.run(
            [str(INSTALL), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Install(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, check=check, timeout=300)

    def pods(self, component: str) -> list[dict[str, Any]]:
        got = get_json(
            self.plane, "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/name={component}"
        )
        return list((got or {}).get("items") or [])

    def ready_pods(self, component: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.pods(component)
            if not p["metadata"].get("deletionTimestamp")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]

    def leader(self, component: str) -> str:
        """The pod holding ``component``'s Lease (its identity is ``<pod>_<uuid>``)."""
        lease = get_json(self.plane, "lease", component, "-n", NAMESPACE) or {}
        holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        return holder.rsplit("_", 1)[0]

    def wait_rolled_out(self, component: str) -> None:
        self.kubectl(
            "rollout", "status", f"deployment/{component}", "-n", NAMESPACE, "--timeout=300s"
        )
        wait_until(
            lambda: len(self.ready_pods(component)) == 2 == len(self.pods(component)),
            timeout=120,
            what=f"{component}: two Ready pods and no terminating one",
        )

    def metrics(self, pod: dict[str, Any]) -> str:
        """A pod's ``/metrics``, fetched through the bridge (this host routes to pod IPs)."""
        url = f"http://{pod['status']['podIP']}:8080/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
        """One request as the cluster admin; returns the status and the response body."""
        context = ssl.create_default_context(cafile=str(self.plane.pki / "ca.crt"))
        context.load_cert_chain(
            str(self.plane.pki / "admin.crt"), str(self.plane.pki / "admin.key")
        )
        request = urllib.request.Request(
            f"{self.plane.server}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def logs(self) -> str:
        parts = []
        for component in COMPONENTS:
            out = self.kubectl(
                "logs",
                "-n",
                NAMESPACE,
                "-l",
                f"app.kubernetes.io/name={component}",
                "--tail=40",
                "--prefix",
                check=False,
            )
            parts.append(f"--- {component}\n{out.stdout}{out.stderr}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InCluster]:
    """A fresh control plane and the environment that points the install script at it."""
    if os.geteuid() != 0:
        pytest.skip("kaito's pods need a real node, which needs root")
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("incluster"))
    plane.start()
    # short: the kubelet's unix sockets live below it (at most 108 bytes)
    node_dir = Path(tempfile.mkdtemp(prefix="kaito-sys-", dir="/tmp"))
    env = {
        **os.environ,
        "KAITO_TESTENV_DIR": str(plane.workdir),
        "KAITO_SYSTEM_NODE_DIR": str(node_dir),
    }
    env.pop("KUBECONFIG", None)
    found = InCluster(plane, env)
    try:
        yield found
    finally:
        stopped = found.script("--stop-node")
        plane.stop()
        left = mounts_under(node_dir)
        if stopped.returncode != 0 or left:
            warnings.warn(
                f"the system node was not cleaned up (exit {stopped.returncode}, {len(left)} "
                f"mounts left under {node_dir}):\n{stopped.output[-3000:]}",
                stacklevel=1,
            )
            unmount_under(node_dir)  # later tests need the host clean
        shutil.rmtree(node_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(cluster: InCluster) -> InCluster:
    """kaito installed by ``hack/install-local.sh`` (once per module)."""
    if cluster.installed is None:
        cluster.installed = cluster.script()
    if cluster.installed.returncode != 0:
        pytest.fail(f"hack/install-local.sh failed:\n{cluster.installed.output[-6000:]}")
    return cluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the in-cluster components' logs to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    found = getattr(item, "funcargs", {}).get("installed")
    if report.failed and isinstance(found, InCluster):
        report.sections.append(("kaito pods' logs", found.logs()))
