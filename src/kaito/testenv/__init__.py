"""A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok) for kaito's tests and local demo."""

from kaito.testenv.binaries import BinariesMissingError, bin_dir, require_binaries
from kaito.testenv.controlplane import ControlPlane, ControlPlaneError, running_control_plane

__all__ = [
    "BinariesMissingError",
    "ControlPlane",
    "ControlPlaneError",
    "bin_dir",
    "require_binaries",
    "running_control_plane",
]
