"""Real Kubernetes nodes on this machine: containerd + kubelet + kube-proxy per NodeClaim.

The ``local`` cloud provider (:mod:`kaito.provisioner.cloud.local`) turns a NodeClaim whose
instance type this machine can honour into a node that runs pods for real. Each node lives
in one state directory (configs, certificates, pid files, containerd's root and state, the
kubelet's root, pod logs); the few host-wide things a kubelet needs (a bridge, iptables
chains, cgroups, the shim socket directory, the CNI result cache) are named after the node
and removed when it is deleted. Processes run in their own sessions, so a provisioner that
dies leaves its nodes running and its successor adopts them from their pid files.

Modules: :mod:`.layout` (paths and addresses), :mod:`.configs` (config files),
:mod:`.identity` (client certificates through the CertificateSigningRequest API),
:mod:`.daemons` (start, adopt and stop processes), :mod:`.hostnet` (bridge, isolation rules,
cleanup), :mod:`.preflight` (what this machine lacks), :mod:`.node` (boot and teardown).
"""
