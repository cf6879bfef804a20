"""End-to-end fixtures: kaito's CRDs installed and the real ``kaito manager`` and
``kaito provisioner --provider=kwok`` processes running against the local control plane.

Tests drive everything through kubectl, as a user would. The processes are the console
entry points, so ``kill -9`` in a test is a real crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaito.testenv import ControlPlane
from kaito.testenv.controlplane import free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


class OperatorProcess:
    """One ``kaito <command>`` child process with its log file and metrics port."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kaito.cli",
                *self.args,
                f"--metrics-bind-address=127.0.0.1:{self.metrics_port}",
                f"--health-probe-bind-address=127.0.0.1:{self.health_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO,
        )
        log.close()
        wait_until(self.ready, timeout=60, what=f"{self.name} /readyz")

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            )
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}/readyz", timeout=2
            ) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release, exactly like a crashed pod."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as resp:
            text: str = resp.read().decode()
            return text

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""


class Operator:
    """kaito's manager and provisioner running against one control plane."""

    def __init__(
        self,
        plane: ControlPlane,
        log_dir: Path,
        manager_args: list[str],
        *,
        manager_kubeconfig: Path | None = None,
        provisioner_kubeconfig: Path | None = None,
        provisioner_args: tuple[str, ...] = (),
    ) -> None:
        self.plane = plane
        self.manager = OperatorProcess(
            "manager",
            [
                "manager",
                f"--kubeconfig={manager_kubeconfig or plane.kubeconfig}",
                "--webhook-host=127.0.0.1",
                f"--webhook-port={free_port()}",
                # the local install's contract (manifests/local); a test may pass another
                "--runtime-contract=kaito",
                *manager_args,
            ],
            log_dir,
        )
        self.provisioner = OperatorProcess(
            "provisioner",
            [
                "provisioner",
                f"--kubeconfig={provisioner_kubeconfig or plane.kubeconfig}",
                "--provider=kwok",
                "--boot-delay=1",
                *provisioner_args,
            ],
            log_dir,
        )

    def start(self) -> None:
        self.provisioner.start()
        self.manager.start()

    def stop(self) -> None:
        # Finish what the tests started while kaito still runs: Workspaces left behind (their
        # namespaces are being deleted) would otherwise keep NodeClaims and nodes forever,
        # and be reconciled by whichever manager a later test starts.
        if self.manager.running() and self.provisioner.running():
            self.plane.kubectl(
                "delete",
                "workspaces",
                "--all",
                "--all-namespaces",
                "--timeout=180s",
                check=False,
                timeout=200,
            )
        self.manager.stop()
        self.provisioner.stop()
        # The manager registered a cluster-wide webhook pointing at itself; with it gone,
        # that configuration would make every later Workspace write fail.
        self.plane.kubectl(
            "delete",
            "validatingwebhookconfiguration",
            "validation.workspace.kaito.sh",
            "--ignore-not-found",
            check=False,
        )

    def logs(self) -> str:
        return (
            f"--- manager ---\n{self.manager.log_tail()}\n"
            f"--- provisioner ---\n{self.provisioner.log_tail()}"
        )


def install_crds(plane: ControlPlane) -> None:
    plane.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "crd"))
    plane.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/workspaces.kaito.sh",
        "crd/nodeclaims.karpenter.sh",
        "--timeout=60s",
    )
    # Established is the CRD's word; a busy apiserver serves the kinds a little later
    for kind in ("workspaces.kaito.sh", "nodeclaims.karpenter.sh"):
        wait_until(
            lambda kind=kind: plane.kubectl("get", kind, "-A", check=False).returncode == 0,
            timeout=60,
            what=f"{kind} served",
        )


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    install_crds(control_plane)
    op = Operator(control_plane, tmp_path_factory.mktemp("operator"), ["--sync-period=20s"])
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the operator's log tails to a failing e2e test's report."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    op = funcargs.get("operator") or funcargs.get("real_operator")
    if report.failed and isinstance(op, Operator):
        report.sections.append(("kaito operator logs", op.logs()))


def wait_seconds(seconds: float) -> None:
    time.sleep(seconds)
