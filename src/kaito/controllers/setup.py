"""Wire the Workspace reconciler to its watches (controller-runtime's ``SetupWithManager``).

The Workspace is reconciled when it changes, when anything it owns changes (Services,
ConfigMaps, the Deployment/StatefulSet/Job, ControllerRevisions), when one of its
NodeClaims or nodes changes (found by the ``kaito.sh/workspace`` and
``kaito.sh/workspacenamespace`` labels NodeClaims carry onto their nodes), and when one
of its pods changes (pod failures such as image pulls never touch the Deployment), and when
a ConfigMap it names (``inference.config``, ``tuning.config``) appears or changes.
"""

from __future__ import annotations

from kaito import kinds
from kaito.api import constants as c
from kaito.controllers.workspace import WorkspaceReconciler
from kaito.runtime import resources as r
from kaito.runtime.controller import Controller
from kaito.runtime.reconcile import Request
from kaito.runtime.resources import Object, meta

CONTROLLER_NAME = "workspace"
WORKERS = 5


def labelled_workspace(obj: Object) -> list[Request]:
    """NodeClaims and nodes name their Workspace in two labels."""
    labels = meta(obj).get("labels") or {}
    name = labels.get(c.LABEL_WORKSPACE)
    namespace = labels.get(c.LABEL_WORKSPACE_NAMESPACE)
    return [Request(namespace, name)] if name and namespace else []


def pod_workspace(obj: Object) -> list[Request]:
    """A model or tuning pod carries ``kaito.sh/workspace`` and lives in its namespace."""
    metadata = meta(obj)
    name = (metadata.get("labels") or {}).get(c.LABEL_WORKSPACE)
    return [Request(str(metadata.get("namespace", "")), name)] if name else []


def workspace_controller(reconciler: WorkspaceReconciler, *, workers: int = WORKERS) -> Controller:
    controller = Controller(CONTROLLER_NAME, reconciler, max_concurrent_reconciles=workers)
    controller.for_(kinds.WORKSPACE)
    for owned in (
        r.SERVICE,
        r.CONFIG_MAP,
        r.DEPLOYMENT,
        r.STATEFUL_SET,
        r.JOB,
        r.CONTROLLER_REVISION,
    ):
        controller.owns(owned)
    controller.watches(kinds.NODECLAIM, labelled_workspace)
    controller.watches(r.NODE, labelled_workspace)
    controller.watches(r.POD, pod_workspace)
    controller.watches(r.CONFIG_MAP, reconciler.users_of_config_map)
    return controller
