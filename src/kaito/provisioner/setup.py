"""Wire the NodeClaim reconciler: NodeClaims of the ``kaito`` nodepool, and their nodes.

A node maps back to its NodeClaim by name: kwok nodes are named after the NodeClaim, AKS
nodes carry the agent pool (= NodeClaim) name in ``kubernetes.azure.com/agentpool``.
"""

from __future__ import annotations

from kaito import kinds
from kaito.api import constants as c
from kaito.provisioner.nodeclaim import NODEPOOL, claim_name_of_node
from kaito.runtime import resources as r
from kaito.runtime.controller import Controller
from kaito.runtime.predicates import label_selector
from kaito.runtime.reconcile import Reconciler, Request
from kaito.runtime.resources import Object

CONTROLLER_NAME = "nodeclaim"
WORKERS = 10


def node_to_nodeclaim(node: Object) -> list[Request]:
    name = claim_name_of_node(node)
    return [Request("", name)] if name else []


def nodeclaim_controller(reconciler: Reconciler, *, workers: int = WORKERS) -> Controller:
    controller = Controller(CONTROLLER_NAME, reconciler, max_concurrent_reconciles=workers)
    controller.for_(kinds.NODECLAIM, predicates=[label_selector({c.LABEL_NODEPOOL: NODEPOOL})])
    controller.watches(r.NODE, node_to_nodeclaim)
    return controller
