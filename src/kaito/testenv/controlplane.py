"""A real Kubernetes control plane on loopback, for tests and the local demo.

This is what envtest does for controller-runtime, plus the parts envtest leaves
out and kaito needs: kube-controller-manager (garbage collection of owned
objects, Deployments becoming Available), kube-scheduler (pods pending on
``Insufficient nvidia.com/gpu``) and kwok (simulated kubelets keeping GPU Nodes
Ready and pods Running). Every component is the upstream binary built by
``hack/testenv/build.sh``; TLS, client certificates, RBAC and service-account
keys are on, exactly as in a cluster.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509

from kaito.testenv import certs
from kaito.testenv.binaries import require_binaries
from kaito.testenv.registry import HOST_ADDRESS, HostAddressError, ensure_host_address

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.0.0.0/16"  # room for thousands of ClusterIP Services (benchmarks)
POD_CIDR = "10.244.0.0/16"
KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
LOOPBACK = "127.0.0.1"
KUBERNETES_SERVICE_IP = "10.0.0.1"
"""The ``kubernetes`` Service's ClusterIP: the first address of :data:`SERVICE_CIDR`."""
APISERVER_NAMES = (
    LOOPBACK,
    "localhost",
    HOST_ADDRESS,
    KUBERNETES_SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
"""What the apiserver's serving certificate is valid for: both listen addresses and every
name in-cluster clients use for it."""


def serving_address() -> str:
    """Where the apiserver listens: the kaito host address when this machine has it (or can
    add it, as root), else loopback.

    Pods reach the host address through their default route (it is on ``lo``, so it is
    still reachable from this machine only), which lets in-cluster clients use the
    ``kubernetes`` Service; loopback inside a pod is the pod's own. Without root there are
    no real nodes, hence no pods that would need it.
    """
    try:
        ensure_host_address()
    except HostAddressError:
        return LOOPBACK
    return HOST_ADDRESS


IDENTITIES: dict[str, tuple[str, str | None]] = {
    "admin": ("kaito-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("kwok-controller", "system:masters"),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
}
"""Client certificate identities (CN, O) of the kubeconfig each component uses."""
NO_KUBECONFIG = frozenset({"apiserver-kubelet-client"})
"""Identities that only the apiserver presents (to kubelets): a certificate, no kubeconfig."""


class ControlPlaneError(RuntimeError):
    """A component did not start or did not become ready; the message names its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.frozen
class Ports:
    """Loopback ports of every listener, chosen once so restarts keep them."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(*(free_port() for _ in range(6)))


def _kubeconfig(server: str, ca: Path, client: certs.KeyPair, user: str) -> str:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kaito-testenv",
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client.cert),
                    "client-key-data": b64(client.key),
                },
            }
        ],
        "contexts": [
            {"name": "kaito-testenv", "context": {"cluster": "kaito-testenv", "user": user}}
        ],
        "current-context": "kaito-testenv",
    }
    return json.dumps(config, indent=2)


@attrs.define
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok.

    ``start()`` generates certificates, starts every component as a child process
    (each in its own process group, logging to ``workdir/logs``) and waits until the
    apiserver's ``/readyz`` passes. ``stop()`` ends exactly the processes it started.
    """

    workdir: Path
    bin_dir: Path = attrs.field(factory=require_binaries)
    ports: Ports = attrs.field(factory=Ports.pick)
    pids: dict[str, int] = attrs.field(factory=dict)
    address: str = ""
    """The apiserver's listen and advertise address (:func:`serving_address` on start)."""
    _procs: dict[str, subprocess.Popen[bytes]] = attrs.field(factory=dict, alias="_procs")

    # -- paths -------------------------------------------------------------------------
    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (``system:masters``) for kubectl and tests."""
        return self.workdir / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.workdir / "state.json"

    @property
    def server(self) -> str:
        return f"https://{self.address or LOOPBACK}:{self.ports.apiserver}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.etcd_client}"

    # -- set-up ------------------------------------------------------------------------
    def _write_pki(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        ca = certs.make_ca(self.pki)
        self._issue_serving_cert(ca)
        certs.make_service_account_keys(self.pki)
        for stem, (user, group) in IDENTITIES.items():
            certs.issue(ca, self.pki, stem, common_name=user, organization=group)

    def _issue_serving_cert(self, ca: certs.KeyPair) -> None:
        certs.issue(
            ca,
            self.pki,
            "apiserver",
            common_name="kube-apiserver",
            hosts=APISERVER_NAMES,
            server=True,
        )

    def _reissue_serving_cert_without(self, address: str) -> None:
        """A new serving certificate when the workdir's predates ``address`` in its names."""
        cert = x509.load_pem_x509_certificate((self.pki / "apiserver.crt").read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if ipaddress.ip_address(address) not in names.get_values_for_type(x509.IPAddress):
            self._issue_serving_cert(certs.KeyPair(self.pki / "ca.crt", self.pki / "ca.key"))

    def _write_missing_client_certs(self) -> None:
        """Client certificates added after a workdir's PKI was made (older state dirs)."""
        ca = certs.KeyPair(self.pki / "ca.crt", self.pki / "ca.key")
        for stem, (user, group) in IDENTITIES.items():
            if not (self.pki / f"{stem}.crt").exists():
                certs.issue(ca, self.pki, stem, common_name=user, organization=group)

    def _write_kubeconfigs(self) -> None:
        """Kubeconfigs for this start's apiserver port (the port may differ between starts)."""
        ca = self.pki / "ca.crt"
        for stem, (user, _group) in IDENTITIES.items():
            if stem in NO_KUBECONFIG:
                continue
            pair = certs.KeyPair(self.pki / f"{stem}.crt", self.pki / f"{stem}.key")
            path = self.kubeconfig if stem == "admin" else self.workdir / f"{stem}.kubeconfig"
            path.write_text(_kubeconfig(self.server, ca, pair, user))
            path.chmod(0o600)

    def _argv(self, component: str) -> list[str]:
        pki, work = self.pki, self.workdir
        binary = str(self.bin_dir / component)
        p = self.ports
        if component == "etcd":
            peer = f"http://127.0.0.1:{p.etcd_peer}"
            return [
                binary,
                "--name=default",
                f"--data-dir={work / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ]
        if component == "kube-apiserver":
            address = self.address or LOOPBACK
            return [
                binary,
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={address}",
                f"--advertise-address={address}",
                f"--secure-port={p.apiserver}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                # logs/exec reach real kubelets by the node IP, authenticated by this client
                # certificate (kubelets use webhook authn/authz against this apiserver)
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                # the `kubernetes` Service's endpoints name the advertise address, which
                # must not be loopback: with the host address pods reach the apiserver
                # through that Service (in-cluster config); on loopback it has none
                f"--endpoint-reconciler-type={'none' if address == LOOPBACK else 'lease'}",
                "--allow-privileged=true",
                "--profiling=false",
                f"--cert-dir={pki}",
                "--v=1",
            ]
        if component == "kube-controller-manager":
            kubeconfig = work / "controller-manager.kubeconfig"
            return [
                binary,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.controller_manager}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--cluster-cidr={POD_CIDR}",
                "--allocate-node-cidrs=false",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
                "--v=1",
            ]
        if component == "kube-scheduler":
            kubeconfig = work / "scheduler.kubeconfig"
            return [
                binary,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.scheduler}",
                "--leader-elect=false",
                "--v=1",
            ]
        if component == "kwok":
            return [
                binary,
                f"--kubeconfig={work / 'kwok.kubeconfig'}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom",
                f"--cidr={POD_CIDR}",
                "--node-ip=10.96.0.1",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{p.kwok}",
                f"--config={KWOK_STAGES}",
            ]
        raise ValueError(f"unknown component {component!r}")

    def _spawn(self, component: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{component}.log").open("ab")
        proc = subprocess.Popen(
            self._argv(component),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        self._procs[component] = proc
        self.pids[component] = proc.pid
        self._save_state()

    # -- readiness ---------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _get(self, url: str, *, context: ssl.SSLContext | None = None, timeout: float = 2) -> int:
        try:
            with urllib.request.urlopen(url, context=context, timeout=timeout) as resp:
                status: int = resp.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return 0

    def _wait(self, component: str, url: str, timeout: float, *, tls: bool = True) -> None:
        deadline = time.monotonic() + timeout
        context: ssl.SSLContext | None = None
        if tls:
            context = self._ssl_context()
            if component != "kube-apiserver":
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # self-signed serving certs
        while time.monotonic() < deadline:
            proc = self._procs.get(component)
            if proc is not None and proc.poll() is not None:
                raise ControlPlaneError(
                    f"{component} exited with code {proc.returncode}; "
                    f"see {self.logs / (component + '.log')}"
                )
            if self._get(url, context=context) == 200:
                return
            time.sleep(0.1)
        raise ControlPlaneError(
            f"{component} not ready after {timeout:.0f}s ({url}); "
            f"see {self.logs / (component + '.log')}"
        )

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Start every component and wait until the cluster can serve requests."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.address = serving_address()
        if not (self.pki / "ca.crt").exists():
            self._write_pki()
        self._reissue_serving_cert_without(HOST_ADDRESS)
        self._write_missing_client_certs()
        self._write_kubeconfigs()
        try:
            self._spawn("etcd")
            self._wait("etcd", f"{self.etcd_url}/health", timeout, tls=False)
            self._spawn("kube-apiserver")
            self._wait("kube-apiserver", f"{self.server}/readyz", timeout)
            for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
                self._spawn(component)
            port = self.ports
            self._wait(
                "kube-controller-manager",
                f"https://127.0.0.1:{port.controller_manager}/healthz",
                timeout,
            )
            self._wait("kube-scheduler", f"https://127.0.0.1:{port.scheduler}/healthz", timeout)
            self._wait("kwok", f"http://127.0.0.1:{port.kwok}/healthz", timeout, tls=False)
        except BaseException:
            self.stop()
            raise

    def stop(self, grace: float = 10) -> None:
        """Stop the processes this control plane started (and only those), newest first."""
        for component in reversed(COMPONENTS):
            self._stop_one(component, grace)
        self._save_state()

    def _stop_one(self, component: str, grace: float) -> None:
        pid = self.pids.pop(component, None)
        proc = self._procs.pop(component, None)
        if pid is None or not _is_our_process(pid, self.bin_dir / component):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _alive(pid, proc):
            time.sleep(0.05)
        if _alive(pid, proc):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        if proc is not None:
            proc.wait()

    def restart_apiserver(self, timeout: float = 60) -> None:
        """Stop kube-apiserver (dropping every watch) and start it again on the same port."""
        self._stop_one("kube-apiserver", grace=10)
        self._spawn("kube-apiserver")
        self._wait("kube-apiserver", f"{self.server}/readyz", timeout)

    # -- helpers for tests -------------------------------------------------------------
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the version-matched kubectl against this cluster."""
        proc = subprocess.run(
            [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(
                proc.returncode, proc.args, output=proc.stdout, stderr=proc.stderr
            )
        return proc

    def _etcd_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.etcd_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            result: dict[str, Any] = json.load(resp)
            return result

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision so older resourceVersions answer 410."""
        key = base64.b64encode(b"\0").decode()
        header = self._etcd_post("/v3/kv/range", {"key": key, "range_end": key, "limit": 1})
        revision = int(header["header"]["revision"])
        self._etcd_post("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory of each running component, from /proc."""
        usage: dict[str, int] = {}
        for component, pid in self.pids.items():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        usage[component] = int(line.split()[1]) * 1024
        return usage

    # -- state for `kaito testenv up/down` -------------------------------------------------
    def _save_state(self) -> None:
        state = {
            "server": self.server,
            "address": self.address,
            "kubeconfig": str(self.kubeconfig),
            "bin_dir": str(self.bin_dir),
            "ports": attrs.asdict(self.ports),
            "pids": self.pids,
        }
        self.state_file.write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, workdir: Path) -> ControlPlane:
        """Re-attach to a control plane started earlier (by another process) in ``workdir``."""
        state = json.loads((workdir / "state.json").read_text())
        return cls(
            workdir=workdir,
            bin_dir=Path(state["bin_dir"]),
            ports=Ports(**state["ports"]),
            pids={k: int(v) for k, v in state["pids"].items()},
            address=state.get("address", LOOPBACK),
        )

    def running(self) -> dict[str, bool]:
        return {
            c: _is_our_process(self.pids[c], self.bin_dir / c) if c in self.pids else False
            for c in COMPONENTS
        }


def _alive(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie we cannot reap still counts as gone
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _is_our_process(pid: int, binary: Path) -> bool:
    """True when ``pid`` still runs ``binary`` (guards against recycled pids)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return Path(exe.removesuffix(" (deleted)")) == binary


@contextlib.contextmanager
def running_control_plane(workdir: Path) -> Iterator[ControlPlane]:
    """Start a control plane in ``workdir`` for the duration of the block."""
    plane = ControlPlane(workdir=workdir)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
