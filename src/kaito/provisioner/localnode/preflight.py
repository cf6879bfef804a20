"""Can this machine host a real node? If not, say exactly what is missing.

The local provider refuses NodeClaims with this message (as a cloud refuses a quota), and
``kaito provisioner --provider=local`` logs it at start, so a machine without root, cgroups
or overlayfs still runs kwok nodes and explains why no real ones.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

NODE_BINARIES = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr")
HOST_PROGRAMS = ("runc", "iptables", "iptables-save", "ip", "conntrack", "umount")
CGROUP_CONTROLLERS = ("cpu", "memory", "pids")


def _cgroup_controllers() -> set[str]:
    root = Path("/sys/fs/cgroup")
    found: set[str] = set()
    unified = root / "cgroup.controllers"
    if unified.exists():
        found.update(unified.read_text().split())
    if root.is_dir():
        for entry in root.iterdir():
            found.update(entry.name.split(","))
    return found


def missing(bin_dir: Path, cni_bin_dir: Path = Path("/usr/lib/cni")) -> list[str]:
    """What this machine lacks to run kubelet + containerd here, in words; empty if nothing."""
    lacks: list[str] = []
    if os.geteuid() != 0:
        lacks.append("root (containerd, kubelet and CNI need it)")
    controllers = _cgroup_controllers()
    if absent := [c for c in CGROUP_CONTROLLERS if c not in controllers]:
        lacks.append(f"cgroup controllers {', '.join(absent)} under /sys/fs/cgroup")
    try:
        filesystems = Path("/proc/filesystems").read_text()
    except OSError:
        filesystems = ""
    if "overlay" not in filesystems.split():
        lacks.append("the overlay filesystem (overlayfs) in the kernel")
    if not Path("/proc/sys/net/bridge").exists():
        lacks.append("bridge netfilter (/proc/sys/net/bridge: modprobe br_netfilter)")
    if absent := [b for b in NODE_BINARIES if not (bin_dir / b).is_file()]:
        lacks.append(f"{', '.join(absent)} in {bin_dir} (build them with hack/node/build.sh)")
    if absent := [p for p in HOST_PROGRAMS if shutil.which(p, path=_sbin_path()) is None]:
        lacks.append(f"programs {', '.join(absent)} (Debian: runc iptables iproute2 conntrack)")
    for plugin in ("bridge", "host-local", "portmap", "loopback"):
        if not (cni_bin_dir / plugin).is_file():
            lacks.append(f"CNI plugins in {cni_bin_dir} (Debian: containernetworking-plugins)")
            break
    return lacks


def _sbin_path() -> str:
    return os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    )


def refusal(lacks: list[str]) -> str:
    return "this machine cannot host a real node: it lacks " + "; ".join(lacks)
