"""The configuration files of one local node: containerd, CNI, kubelet, kube-proxy.

Each function returns the text of one file from the node's :class:`~.layout.NodeLayout`;
:func:`write_all` writes them. The settings that matter on these machines (and why) are
next to each value: without ``restrict_oom_score_adj`` and ``failCgroupV1: false`` no pod
starts here at all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import jinja2

from kaito.provisioner.localnode.layout import HOST_ADDRESS, POD_CIDR, NodeLayout

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)


@attrs.frozen
class NodeHost:
    """What a node needs from the machine and the cluster, shared by every local node."""

    bin_dir: Path
    """kubelet, kube-proxy, containerd, containerd-shim-runc-v2, ctr (hack/node/build.sh)."""
    server: str
    """The API server's URL as the nodes reach it."""
    ca_pem: bytes
    """The cluster CA (verifies the API server; the kubelet trusts client certs it signed)."""
    sandbox_image: str
    """containerd's pinned pause image (built here, in the local registry)."""
    insecure_registries: tuple[str, ...] = ()
    """Registries containerd pulls from over plain HTTP (the local registry)."""
    runc: Path = Path("/usr/sbin/runc")
    cni_bin_dir: Path = Path("/usr/lib/cni")


def containerd_toml(layout: NodeLayout, host: NodeHost) -> str:
    return _TEMPLATES.get_template("containerd.toml.j2").render(
        name=layout.name,
        root=layout.containerd_root,
        state=layout.containerd_state,
        socket=layout.containerd_socket,
        runc=host.runc,
        runc_root=layout.runc_root,
        cni_bin_dir=host.cni_bin_dir,
        cni_conf_dir=layout.cni_conf_dir,
        sandbox_image=host.sandbox_image,
        registry_hosts=layout.registry_hosts,
    )


def registry_hosts_toml(registry: str) -> str:
    """containerd's hosts.toml for a plain-HTTP registry ``host:port``."""
    return (
        f'server = "http://{registry}"\n\n'
        f'[host."http://{registry}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
        "  skip_verify = true\n"
    )


def cni_conflist(layout: NodeLayout) -> str:
    """bridge + portmap with a static /24 (the controller-manager allocates no pod CIDRs).

    No IP masquerade: pod traffic is only ever meant for this machine.
    """
    config = {
        "cniVersion": "1.0.0",
        "name": layout.network_name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_ipam_dir),
                    "ranges": [[{"subnet": str(layout.pod_subnet), "gateway": layout.gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def kubeconfig(host: NodeHost, user: str, cert: Path, key: Path) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kaito",
                "cluster": {
                    "server": host.server,
                    "certificate-authority-data": base64.b64encode(host.ca_pem).decode(),
                },
            }
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [{"name": "kaito", "context": {"cluster": "kaito", "user": user}}],
        "current-context": "kaito",
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(layout: NodeLayout) -> str:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # kubelet >= 1.35 refuses cgroup v1 hosts unless told otherwise; these VMs are v1.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": layout.cgroup_root,
        "address": HOST_ADDRESS,
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "providerID": f"local://{layout.name}",
        "podLogsDir": str(layout.pod_logs),
        "resolvConf": str(layout.resolv_conf),
        "clusterDomain": "cluster.local",
        "failSwapOn": False,
        "staticPodPath": "",
        "volumePluginDir": str(layout.dir / "volume-plugins"),
        "rotateCertificates": False,
        "serializeImagePulls": False,
        "registerNode": True,
        # The machine is shared with builds and other tests: evict only when really short.
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        "nodeStatusReportFrequency": "10s",
        "makeIPTablesUtilChains": True,
        "protectKernelDefaults": False,
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text", "verbosity": 1},
    }
    return json.dumps(config, indent=2) + "\n"


def kube_proxy_config(layout: NodeLayout) -> str:
    config: dict[str, Any] = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.proxy_kubeconfig)},
        "hostnameOverride": layout.name,
        "mode": "iptables",
        "bindAddress": HOST_ADDRESS,
        "healthzBindAddress": f"127.0.0.1:{layout.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{layout.proxy_metrics_port}",
        "clusterCIDR": str(POD_CIDR),
        "nodePortAddresses": [f"{HOST_ADDRESS}/32"],
        # Leave the host's conntrack sysctls alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "logging": {"format": "text", "verbosity": 1},
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_flags(
    layout: NodeLayout, host: NodeHost, labels: Mapping[str, str], taints: Iterable[str]
) -> list[str]:
    argv = [
        str(host.bin_dir / "kubelet"),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={layout.kubelet_kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.pki / 'kubelet-serving'}",
        f"--hostname-override={layout.name}",
        f"--node-ip={HOST_ADDRESS}",
    ]
    if labels:
        argv.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    if taint_list := list(taints):
        argv.append("--register-with-taints=" + ",".join(taint_list))
    return argv


def _write(path: Path, content: str | bytes) -> None:
    """Write ``content`` unless the file already holds it: kube-proxy exits when its config
    file changes, and a revived or re-booted node must keep its running daemons."""
    data = content.encode() if isinstance(content, str) else content
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_all(layout: NodeLayout, host: NodeHost) -> None:
    """Write every config file of the node (certificates come from :mod:`.identity`)."""
    for path in (layout.cni_conf_dir, layout.pod_logs, layout.logs, layout.run, layout.pki):
        path.mkdir(parents=True, exist_ok=True)
    _write(layout.containerd_config, containerd_toml(layout, host))
    for registry in host.insecure_registries:
        _write(layout.registry_hosts / registry / "hosts.toml", registry_hosts_toml(registry))
    _write(layout.cni_conf_dir / "10-kaito.conflist", cni_conflist(layout))
    _write(layout.resolv_conf, "")
    _write(layout.pki / "ca.crt", host.ca_pem)
    _write(layout.kubelet_config, kubelet_config(layout))
    _write(layout.proxy_config, kube_proxy_config(layout))
    _write(
        layout.kubelet_kubeconfig,
        kubeconfig(host, "kubelet", layout.pki / "kubelet.crt", layout.pki / "kubelet.key"),
    )
    _write(
        layout.proxy_kubeconfig,
        kubeconfig(
            host, "kube-proxy", layout.pki / "kube-proxy.crt", layout.pki / "kube-proxy.key"
        ),
    )
