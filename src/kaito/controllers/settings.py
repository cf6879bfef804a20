"""Operator-wide settings the workspace controller renders manifests with.

One frozen object, built once from flags and environment (``PRESET_REGISTRY_NAME``
as upstream), so every manifest is a pure function of (Workspace, settings).
"""

from __future__ import annotations

import functools
import os

import attrs

from kaito.api import constants as c
from kaito.urlguard import Network, parse_networks


@attrs.frozen(kw_only=True)
class Settings:
    runtime_contract: str = c.CONTRACT_UPSTREAM
    """Whose image serves a preset unless its Workspace says (``kaito.sh/runtime-contract``):
    ``upstream`` (upstream's published ``kaito-base`` image and command lines: what runs on
    AKS unchanged) or ``kaito`` (kaito's own :attr:`inference_image`). Presets only kaito
    ships (the CPU presets) always use ``kaito``."""
    preset_registry: str = "mcr.microsoft.com/aks/kaito"
    """Registry of the preset model images (``<registry>/kaito-<preset>:<tag>``)."""
    puller_image: str = "mcr.microsoft.com/aks/skopeo:1.14.4-6"
    """Init-container image that pulls adapter images into ``/mnt/adapter/<name>``."""
    inference_image: str = "kaito-inference:0.1.0"
    """kaito's own inference server image (ENTRYPOINT ``kaito-inference``), run by presets
    whose weights are an OCI artifact. The default names no registry on purpose: kaito
    publishes its images nowhere a default could point to, and a registry we cannot push
    to would pull someone else's image or fail far from the cause. A bare name resolves
    the way the container runtime resolves it (an image loaded on the node, or the
    runtime's default registry), and ``kaito manager --inference-image`` names the real
    one (locally ``10.245.0.1:5000/kaito/kaito-inference:<tag>``)."""
    weights_puller_image: str = "mcr.microsoft.com/oss/v2/oras-project/oras:v1.2.3"
    """Init-container image (needs ``oras`` on its PATH) that pulls an artifact preset's
    weights into ``/workspace/weights``; upstream's ``model-weights-downloader`` image."""
    insecure_registries: tuple[str, ...] = ()
    """Registries (``host[:port]``) spoken to over plain HTTP (``oras pull --plain-http``)."""
    tuning_image: str = "kaito-tuning:0.1.0"
    """kaito's own image running ``kaito-tune``, for tuning Jobs of presets whose weights are
    an OCI artifact (pulled by an init container; other presets tune in their own image).
    No registry by default, for the reason given for ``inference_image``."""
    pusher_image: str = "ghcr.io/oras-project/oras:v1.2.0"
    """Sidecar image that pushes tuning results as an OCI image."""
    trusted_data_networks: tuple[str, ...] = ()
    """Private networks (CIDRs) tuning input URLs may target: the SSRF guard refuses loopback,
    private and link-local addresses, at admission and in the downloader, except these."""
    cloud: str = "azure"
    """SKU catalog to check instance types against: azure, aws or arc."""
    node_auto_provisioning: bool = True
    """Create NodeClaims for missing nodes; False means bring-your-own nodes only."""
    default_node_image_family: str = "ubuntu"
    """``kaito.sh/node-image-family`` put on NodeClaims unless the Workspace sets it."""
    max_nodes_per_workspace: int = c.DEFAULT_MAX_NODE_COUNT
    """The largest ``resource.count`` admitted (``--max-nodes-per-workspace``), by the webhook
    and, without it, by the controller (``InvalidSpec``)."""
    max_nodeclaims: int = 100
    """NodeClaims kaito keeps in the whole cluster at most (``--max-nodeclaims``): each is a
    node someone pays for; past it a Workspace waits with ``NodeClaimLimitReached``."""
    system_namespace: str = "kaito-system"
    """Where the default tuning/inference ConfigMaps live."""
    status_hold: float = 5.0
    """Seconds an intermediate Workspace status waits before it is written (``--status-hold``):
    a state that is gone sooner costs no write (:mod:`kaito.runtime.status_hold`)."""

    @functools.cached_property
    def data_networks(self) -> tuple[Network, ...]:
        """:attr:`trusted_data_networks` parsed, once (flags are checked when the manager
        starts); every admission and reconcile reads it."""
        return parse_networks(self.trusted_data_networks)

    def plain_http(self, reference: str) -> bool:
        """Whether the registry of an image or artifact reference is an insecure (HTTP) one."""
        host = reference.split("/", 1)[0].lower()
        return host in {r.strip().lower().rstrip("/") for r in self.insecure_registries}

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from upstream's environment variables, then explicit overrides."""
        env: dict[str, object] = {}
        if registry := os.environ.get("PRESET_REGISTRY_NAME"):
            env["preset_registry"] = registry
        if cloud := os.environ.get("CLOUD_PROVIDER"):
            env["cloud"] = cloud
        if namespace := os.environ.get("SYSTEM_NAMESPACE"):
            env["system_namespace"] = namespace
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)  # type: ignore[arg-type]
