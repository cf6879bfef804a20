"""Resource types: how to address any kind on the API server without generated models.

A :class:`ResourceType` is what client-go calls a GroupVersionResource plus the Kind and
scope (the RESTMapper's answer), frozen so it can key informer caches. Objects are plain
``dict`` as the apiserver returns them (``Object``); the typed world lives elsewhere.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attrs

Object = dict[str, Any]
"""A Kubernetes object as decoded JSON: ``{"apiVersion", "kind", "metadata", ...}``."""


@attrs.frozen
class ResourceType:
    """One API resource: ``group``/``version``/``kind``, its URL ``plural`` and its scope."""

    group: str
    """API group; ``""`` for the core group (``v1`` Pods, Services, ...)."""
    version: str
    kind: str
    plural: str
    """The lower-case plural used in URLs, e.g. ``deployments``."""
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``apiVersion`` as written in objects: ``v1`` or ``apps/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path: collection (no name) or one object, optionally a subresource.

        A namespaced type without ``namespace`` addresses all namespaces (list/watch only).
        """
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            if not name:
                raise ValueError(f"{self.kind}: empty name")
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base

    def matches(self, obj: Object) -> bool:
        """Whether ``obj`` is of this kind (group and kind; any version)."""
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rpartition("/")[0]
        return obj.get("kind") == self.kind and group == self.group

    def __str__(self) -> str:
        return f"{self.plural}.{self.version}.{self.group}" if self.group else self.plural


NAMESPACE = ResourceType("", "v1", "Namespace", "namespaces", namespaced=False)
NODE = ResourceType("", "v1", "Node", "nodes", namespaced=False)
POD = ResourceType("", "v1", "Pod", "pods")
SERVICE = ResourceType("", "v1", "Service", "services")
CONFIG_MAP = ResourceType("", "v1", "ConfigMap", "configmaps")
SECRET = ResourceType("", "v1", "Secret", "secrets")
EVENT = ResourceType("", "v1", "Event", "events")
SERVICE_ACCOUNT = ResourceType("", "v1", "ServiceAccount", "serviceaccounts")
PERSISTENT_VOLUME_CLAIM = ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
LEASE = ResourceType("coordination.k8s.io", "v1", "Lease", "leases")
DEPLOYMENT = ResourceType("apps", "v1", "Deployment", "deployments")
STATEFUL_SET = ResourceType("apps", "v1", "StatefulSet", "statefulsets")
CONTROLLER_REVISION = ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions")
JOB = ResourceType("batch", "v1", "Job", "jobs")
CUSTOM_RESOURCE_DEFINITION = ResourceType(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
)
VALIDATING_WEBHOOK_CONFIGURATION = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations",
    False,
)
MUTATING_WEBHOOK_CONFIGURATION = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "MutatingWebhookConfiguration",
    "mutatingwebhookconfigurations",
    False,
)


def meta(obj: Object) -> dict[str, Any]:
    """``obj["metadata"]`` (an empty dict when absent)."""
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def object_key(obj: Object) -> str:
    """client-go ``MetaNamespaceKeyFunc``: ``namespace/name``, or ``name`` if cluster-scoped."""
    metadata = meta(obj)
    name = str(metadata.get("name", ""))
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """``(namespace, name)`` from a store key; namespace is ``""`` for cluster-scoped."""
    namespace, _, name = key.rpartition("/")
    return namespace, name
