"""The host-wide pieces of local nodes: the pod address, isolation rules, and their cleanup.

Pod and Service traffic must never leave the machine. Pods get no IP masquerade and an
empty resolv.conf, and the ``KAITO-ISOLATION`` chain (the first rule of mangle
``POSTROUTING``, where the outgoing interface is final) lets packets out through kaito's
bridges and ``lo`` only and drops any other packet from or to the pod range; a Service IP
that is still a Service IP after kube-proxy's DNAT has no endpoints and is dropped rather
than routed to the default gateway. Pods reach the machine itself through
:data:`~.layout.HOST_ADDRESS` on ``lo`` (the node IP and the local registry).

Teardown removes exactly what a node made: its bridge, its CNI results, its mounts and
cgroups; and, with the last node, the isolation chain and every iptables chain kubelet,
kube-proxy and the CNI plugins created (``KUBE-*``, ``CNI-*``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from kaito.provisioner.localnode.layout import (
    BRIDGE_PREFIX,
    HOST_ADDRESS,
    POD_CIDR,
    SERVICE_CIDR,
    NodeLayout,
)

ISOLATION_CHAIN = "KAITO-ISOLATION"
ISOLATION_TABLE = "mangle"
OWNED_CHAIN_PREFIXES = ("KUBE-", "CNI-", "KAITO-")
CNI_RESULTS = Path("/var/lib/cni/results")
SHIM_SOCKETS = Path("/run/containerd/s")
CGROUP_FS = Path("/sys/fs/cgroup")


class HostError(RuntimeError):
    """A host command failed; the message has the command and its output."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise HostError(f"{shlex.join(argv)}: {(proc.stderr or proc.stdout).strip()}")
    return proc


# -- set-up ------------------------------------------------------------------------------
def ensure_host_address() -> None:
    """Put :data:`HOST_ADDRESS` on ``lo`` (idempotent)."""
    shown = _run("ip", "-4", "-o", "addr", "show", "dev", "lo").stdout
    if f" {HOST_ADDRESS}/" not in shown:
        _run("ip", "addr", "add", f"{HOST_ADDRESS}/32", "dev", "lo")


def enable_forwarding() -> None:
    """Pods reach each other and Services through the host's routing."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    bridge_nf = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    if bridge_nf.exists() and bridge_nf.read_text().strip() != "1":
        bridge_nf.write_text("1\n")


def _isolation_rules() -> list[list[str]]:
    pods, services, bridges = str(POD_CIDR), str(SERVICE_CIDR), f"{BRIDGE_PREFIX}+"
    return [
        ["-o", bridges, "-j", "RETURN"],
        ["-o", "lo", "-j", "RETURN"],
        ["-s", pods, "-m", "comment", "--comment", "pod traffic stays here", "-j", "DROP"],
        ["-d", pods, "-m", "comment", "--comment", "pods are on kaito bridges", "-j", "DROP"],
        ["-d", services, "-m", "comment", "--comment", "service without endpoints", "-j", "DROP"],
    ]


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run("iptables", "-w", "-t", ISOLATION_TABLE, *args, check=check)


def ensure_isolation() -> None:
    """Create ``KAITO-ISOLATION`` and make it the first rule of mangle ``POSTROUTING``.

    POSTROUTING, because only there is the outgoing interface final: a host connection to
    a ClusterIP is DNATed to a pod in nat OUTPUT, but every OUTPUT chain still sees the
    interface of the original (default) route.
    """
    if _iptables("-n", "-L", ISOLATION_CHAIN, check=False).returncode != 0:
        _iptables("-N", ISOLATION_CHAIN)
    current = _iptables("-S", ISOLATION_CHAIN).stdout.splitlines()[1:]
    wanted = [shlex.join(["-A", ISOLATION_CHAIN, *rule]) for rule in _isolation_rules()]
    if [" ".join(shlex.split(line)) for line in current] != [
        " ".join(shlex.split(line)) for line in wanted
    ]:
        _iptables("-F", ISOLATION_CHAIN)
        for rule in _isolation_rules():
            _iptables("-A", ISOLATION_CHAIN, *rule)
    ensure_isolation_first()


def ensure_isolation_first() -> None:
    """Put the jump to ``KAITO-ISOLATION`` back at the top of POSTROUTING if it moved."""
    rules = _iptables("-S", "POSTROUTING").stdout.splitlines()
    jump = f"-A POSTROUTING -j {ISOLATION_CHAIN}"
    if len(rules) > 1 and rules[1] == jump:
        return
    while _iptables("-C", "POSTROUTING", "-j", ISOLATION_CHAIN, check=False).returncode == 0:
        _iptables("-D", "POSTROUTING", "-j", ISOLATION_CHAIN)
    _iptables("-I", "POSTROUTING", "1", "-j", ISOLATION_CHAIN)


def isolation_counters() -> dict[str, int]:
    """Packets each DROP rule of the isolation chain has stopped, by comment."""
    out = _iptables("-n", "-v", "-x", "-L", ISOLATION_CHAIN).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines()[2:]:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "DROP" and "/*" in line:
            comment = line.split("/*", 1)[1].split("*/", 1)[0].strip()
            counts[comment] = int(fields[0])
    return counts


# -- teardown -----------------------------------------------------------------------------
def delete_bridge(layout: NodeLayout) -> None:
    if Path(f"/sys/class/net/{layout.bridge}").exists():
        _run("ip", "link", "del", layout.bridge, check=False)


def remove_cni_results(layout: NodeLayout) -> None:
    if CNI_RESULTS.is_dir():
        for entry in CNI_RESULTS.glob(f"{layout.network_name}-*"):
            entry.unlink(missing_ok=True)


def mounts_under(directory: Path) -> list[str]:
    """The mount points below ``directory`` (this process's mount namespace)."""
    prefix = str(directory.resolve()) + "/"
    points = [
        line.split()[4].replace("\\040", " ")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    return [point for point in points if point.startswith(prefix)]


def unmount_under(directory: Path) -> None:
    """Unmount every mount below ``directory``, deepest first (pod volumes, rootfs, netns)."""
    for _ in range(3):
        points = mounts_under(directory)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            _run("umount", "-l", point, check=False)


def cgroup_hierarchies() -> list[Path]:
    """The mounted cgroup hierarchies: the unified root on cgroup v2, one per controller on v1."""
    if (CGROUP_FS / "cgroup.controllers").exists():
        return [CGROUP_FS]
    return [h for h in CGROUP_FS.iterdir() if h.is_dir() and not h.is_symlink()]


def make_cgroup_root(layout: NodeLayout) -> None:
    """The kubelet's ``cgroupRoot`` must exist in every hierarchy before it starts."""
    relative = layout.cgroup_root.lstrip("/")
    for hierarchy in cgroup_hierarchies():
        (hierarchy / relative).mkdir(exist_ok=True)


def kill_cgroup_tree(layout: NodeLayout) -> None:
    """SIGKILL every process in the node's pod cgroups and remove the cgroups."""
    relative = layout.cgroup_root.lstrip("/")
    roots = [h / relative for h in cgroup_hierarchies() if (h / relative).is_dir()]
    for root in roots:
        for procs in root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
    for root in roots:
        for _ in range(50):
            dirs = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for path in [*dirs, root]:
                with contextlib.suppress(OSError):
                    path.rmdir()
            if not root.exists():
                break
            time.sleep(0.1)


def _owned(chain: str) -> bool:
    return chain.startswith(OWNED_CHAIN_PREFIXES)


def remove_owned_chains() -> None:
    """Delete the jumps into ``KUBE-*``/``CNI-*``/``KAITO-*`` chains and the chains themselves."""
    for table in ("filter", "nat", "mangle"):
        saved = _run("iptables-save", "-t", table, check=False).stdout
        owned: list[str] = []
        for line in saved.splitlines():
            if line.startswith(":") and _owned(line[1:].split()[0]):
                owned.append(line[1:].split()[0])
            elif line.startswith("-A "):
                words = shlex.split(line)
                chain = words[1]
                target = words[words.index("-j") + 1] if "-j" in words else ""
                if not _owned(chain) and _owned(target):
                    _run("iptables", "-w", "-t", table, "-D", *words[1:], check=False)
        for chain in owned:
            _run("iptables", "-w", "-t", table, "-F", chain, check=False)
        for chain in owned:
            _run("iptables", "-w", "-t", table, "-X", chain, check=False)


DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
"""Hard-coded in the kubelet (one per host): its registration socket lives here."""


def remove_device_plugin_dir() -> None:
    (DEVICE_PLUGINS / "kubelet.sock").unlink(missing_ok=True)
    for path in (DEVICE_PLUGINS, DEVICE_PLUGINS.parent):
        with contextlib.suppress(OSError):
            path.rmdir()


def remove_empty_shim_dir() -> None:
    with contextlib.suppress(OSError):
        SHIM_SOCKETS.rmdir()
        SHIM_SOCKETS.parent.rmdir()
