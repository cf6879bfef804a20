"""What the Workspace manager caches of the kinds it only reads (controller-runtime's
``cache.Options.ByObject``).

Pods and Nodes are the two kinds whose number grows with the cluster, not with the
Workspaces, and whose objects are mostly what no reconciler here reads (a Pod's spec, a Node's
images and system info). So:

* Pods are listed and watched only when they carry ``kaito.sh/workspace``: the pod mapper and
  the Workspace index only ever use those, and the other pods of a cluster are never decoded;
* a cached Pod keeps its identity, labels, owners, deletion mark and the parts of its status
  that :mod:`kaito.controllers.pod_failures` and the readiness rules read;
* a cached Node keeps its identity, labels, deletion mark, conditions and capacities, which is
  everything :mod:`kaito.controllers.nodes` reads.

A field read from a cached Pod or Node must be kept here first; the unit tests pin that what
the readers use survives the transform.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kaito.api import constants as c
from kaito.runtime import resources as r
from kaito.runtime.cache import ByObject
from kaito.runtime.resources import Object

_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "ownerReferences",
)
_POD_STATUS = ("phase", "reason", "message", "conditions")
_CONTAINER_STATUS = ("name", "image", "ready", "started", "restartCount", "state", "lastState")
_NODE_STATUS = ("conditions", "capacity", "allocatable")


def _pick(source: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: source[key] for key in keys if key in source}


def _head(obj: Object) -> Object:
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": _pick(obj.get("metadata") or {}, _METADATA),
    }


def pod_summary(obj: Object) -> Object:
    """The parts of a Pod the Workspace reconciler reads."""
    status = obj.get("status") or {}
    kept = _pick(status, _POD_STATUS)
    for key in ("initContainerStatuses", "containerStatuses"):
        if key in status:
            kept[key] = [_pick(cs, _CONTAINER_STATUS) for cs in status[key] or []]
    return {**_head(obj), "status": kept}


def node_summary(obj: Object) -> Object:
    """The parts of a Node the Workspace reconciler reads."""
    return {**_head(obj), "status": _pick(obj.get("status") or {}, _NODE_STATUS)}


BY_OBJECT: Mapping[r.ResourceType, ByObject] = {
    r.POD: ByObject(label_selector=c.LABEL_WORKSPACE, transform=pod_summary),
    r.NODE: ByObject(transform=node_summary),
}
