"""Where one real node keeps its files, and the addresses and ports it uses.

Everything a node writes goes under its own directory (``<state root>/<node name>``); the
names of the host-wide objects it creates (bridge, cgroup root, iptables chains) are derived
from its index so that teardown can find exactly those.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import attrs

HOST_ADDRESS = "10.245.0.1"
"""The machine's address for pods (on ``lo``): the node IP, and where the local registry
listens, so pods and containerd reach both without any traffic leaving the machine."""
POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
"""The cluster's pod range; node ``i`` gets ``10.244.(100+i).0/24`` (kwok uses the low ones)."""
SERVICE_CIDR = ipaddress.ip_network("10.0.0.0/16")
"""The control plane's Service range (``kaito.testenv.controlplane.SERVICE_CIDR``)."""
BRIDGE_PREFIX = "kaito"
"""Bridges are ``kaito<index>``; the isolation rules let pod traffic out through these only."""
FIRST_POD_SUBNET = 100
RUN_DIR = Path("/run/kaito")
"""Host-wide runtime directory: node slots (:mod:`.slots`) and containerd sockets."""
MAX_SOCKET_PATH = 104
"""Unix socket paths longer than this fail to bind (108 bytes with the terminator and margin)."""
BASE_PORT = 10250
"""Node ``i`` listens on ``BASE_PORT + 10*i + k``: kubelet 0, healthz 8, kube-proxy health 6
and metrics 9 (the kubelet's usual numbers, shifted per node)."""


@attrs.frozen
class NodeLayout:
    """Paths, names and ports of the node ``name`` with index ``index`` under ``root``."""

    root: Path
    """The state root shared by every local node (``--local-state-dir``)."""
    name: str
    index: int

    @property
    def dir(self) -> Path:
        return self.root / self.name

    # -- files ------------------------------------------------------------------------
    @property
    def claim_file(self) -> Path:
        """The request the node was created for (written first: the node exists from then)."""
        return self.dir / "claim.json"

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def run(self) -> Path:
        """Pid files."""
        return self.dir / "run"

    @property
    def containerd_root(self) -> Path:
        return self.dir / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.dir / "containerd-state"

    @property
    def sockets(self) -> Path:
        """containerd's sockets: a short host-wide path (a unix socket path has at most 108
        bytes, and state directories can be deep)."""
        return RUN_DIR / f"node{self.index}"

    @property
    def containerd_socket(self) -> Path:
        return self.sockets / "containerd.sock"

    @property
    def longest_socket(self) -> Path:
        """The longest unix socket path the kubelet makes under its root directory."""
        return self.kubelet_root / "pod-resources" / "kubelet.sock"

    @property
    def containerd_config(self) -> Path:
        return self.dir / "containerd.toml"

    @property
    def registry_hosts(self) -> Path:
        """containerd's ``config_path``: one ``<registry>/hosts.toml`` per registry."""
        return self.dir / "certs.d"

    @property
    def runc_root(self) -> Path:
        return self.dir / "runc"

    @property
    def cni_conf_dir(self) -> Path:
        return self.dir / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.dir / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.dir / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.dir / "kubelet.kubeconfig"

    @property
    def pod_logs(self) -> Path:
        return self.dir / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        """An empty resolv.conf for pods: no DNS server outside the machine is ever asked."""
        return self.dir / "resolv.conf"

    @property
    def proxy_config(self) -> Path:
        return self.dir / "kube-proxy.yaml"

    @property
    def proxy_kubeconfig(self) -> Path:
        return self.dir / "kube-proxy.kubeconfig"

    # -- host-wide names ----------------------------------------------------------------
    @property
    def bridge(self) -> str:
        return f"{BRIDGE_PREFIX}{self.index}"

    @property
    def network_name(self) -> str:
        """The CNI network name (also names its cached results in /var/lib/cni)."""
        return f"kaito-{self.name}"

    @property
    def cgroup_root(self) -> str:
        """The kubelet's ``cgroupRoot``: every pod cgroup of this node lives below it."""
        return f"/kaito-{self.name}"

    @property
    def pod_subnet(self) -> ipaddress.IPv4Network:
        base = int(POD_CIDR.network_address) + ((FIRST_POD_SUBNET + self.index) << 8)
        return ipaddress.IPv4Network((base, 24))

    @property
    def gateway(self) -> str:
        return str(self.pod_subnet.network_address + 1)

    # -- ports -----------------------------------------------------------------------------
    def _port(self, offset: int) -> int:
        return BASE_PORT + 10 * self.index + offset

    @property
    def kubelet_port(self) -> int:
        return self._port(0)

    @property
    def kubelet_healthz_port(self) -> int:
        return self._port(8)

    @property
    def proxy_healthz_port(self) -> int:
        return self._port(6)

    @property
    def proxy_metrics_port(self) -> int:
        return self._port(9)


def read_claim(layout: NodeLayout) -> dict[str, Any] | None:
    """The recorded request of the node, or None when the node has no (complete) record."""
    try:
        data = json.loads(layout.claim_file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def existing_nodes(root: Path) -> dict[str, NodeLayout]:
    """Every node recorded under ``root``, by name."""
    found: dict[str, NodeLayout] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.iterdir()):
        record = read_claim(NodeLayout(root, path.name, 0))
        if record is not None and isinstance(record.get("index"), int):
            found[path.name] = NodeLayout(root, path.name, record["index"])
    return found
