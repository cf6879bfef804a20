"""kaito.runtime: a small controller-runtime for asyncio, on kubernetes-asyncio.

It behaves like client-go and controller-runtime where correctness depends on it (reflector
resourceVersion rules, work-queue semantics, rate limiters, Result handling, leader election,
metric names) and knows nothing about Workspaces. Objects are plain dicts as the API returns
them; :class:`ResourceType` addresses any kind.

Writing a controller::

    from kaito.runtime import (
        DEPLOYMENT, GENERATION_CHANGED, Client, Condition, Controller, LeaderElectionConfig,
        Manager, Request, ResourceType, Result, set_controller_reference, write_status,
    )

    WORKSPACE = ResourceType("kaito.sh", "v1beta1", "Workspace", "workspaces")

    class WorkspaceReconciler:
        def __init__(self, client: Client, manager: Manager) -> None:
            self.client, self.cache = client, manager.cache

        async def reconcile(self, request: Request) -> Result:
            ws = self.cache.get(WORKSPACE, request.name, request.namespace)  # informer cache
            if ws is None:
                return Result()  # deleted meanwhile
            deployment = {...}
            set_controller_reference(ws, deployment)  # GC + owns() below
            await self.client.apply(DEPLOYMENT, deployment, field_manager="kaito")

            # only what changed is sent; nothing at all in a steady state
            ready = Condition("WorkspaceReady", "True", "Ready", "ready")
            await write_status(self.client, WORKSPACE, ws, [ready])
            return Result(requeue_after=30.0)  # or Result(); raise to retry with backoff

    async def main() -> None:
        client = await Client.from_environment()  # kubeconfig, or the pod's service account
        manager = Manager(
            client, leader_election=LeaderElectionConfig("ef60f9b0.io", "kaito-system")
        )
        manager.add(
            Controller("workspace", WorkspaceReconciler(client, manager),
                       max_concurrent_reconciles=5)
            .for_(WORKSPACE, predicates=[GENERATION_CHANGED])
            .owns(DEPLOYMENT)
        )
        try:
            await manager.run()  # SIGTERM: graceful stop; a lost lease raises
        finally:
            await client.close()

Raise :class:`TerminalError` for failures that retrying cannot fix; any other exception is
retried with per-item exponential backoff (5 ms .. 1000 s). Use :class:`EventRecorder` for
user-visible Events, :class:`WebhookServer` (``manager.add_runnable(server.run)``) for
admission, and register extra Prometheus collectors on :data:`kaito.runtime.metrics.registry`.

Names are loaded lazily, so importing e.g. ``kaito.runtime.resources`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# first, before anything imports kubernetes-asyncio: its generated models stay unloaded
from kaito.runtime import lean_kubernetes as lean_kubernetes

_EXPORTS: dict[str, str] = {
    # addressing and the client
    "Object": "resources",
    "ResourceType": "resources",
    "NAMESPACE": "resources",
    "NODE": "resources",
    "POD": "resources",
    "SERVICE": "resources",
    "CONFIG_MAP": "resources",
    "SECRET": "resources",
    "EVENT": "resources",
    "SERVICE_ACCOUNT": "resources",
    "PERSISTENT_VOLUME_CLAIM": "resources",
    "LEASE": "resources",
    "DEPLOYMENT": "resources",
    "STATEFUL_SET": "resources",
    "CONTROLLER_REVISION": "resources",
    "JOB": "resources",
    "CUSTOM_RESOURCE_DEFINITION": "resources",
    "VALIDATING_WEBHOOK_CONFIGURATION": "resources",
    "MUTATING_WEBHOOK_CONFIGURATION": "resources",
    "meta": "resources",
    "object_key": "resources",
    "Client": "client",
    "ClientConfig": "client",
    "PatchType": "client",
    "ObjectList": "client",
    "WatchEvent": "watch",
    "ApiError": "errors",
    "NotFound": "errors",
    "AlreadyExists": "errors",
    "Conflict": "errors",
    "Gone": "errors",
    "Expired": "errors",
    "Invalid": "errors",
    "Forbidden": "errors",
    "TooManyRequests": "errors",
    "ServerError": "errors",
    "TransportError": "errors",
    # caches
    "Informer": "informer",
    "InformerCache": "cache",
    "EventHandler": "informer",
    "CacheSyncTimeout": "informer",
    "CacheNotSynced": "informer",
    "ReflectorConfig": "reflector",
    "Store": "store",
    "index_by_label": "store",
    "index_by_owner_uid": "store",
    "index_by_controller_uid": "store",
    # queues and controllers
    "WorkQueue": "workqueue",
    "QueueShutDown": "workqueue",
    "default_controller_rate_limiter": "ratelimit",
    "ItemExponentialFailureRateLimiter": "ratelimit",
    "Controller": "controller",
    "Reconciler": "reconcile",
    "Request": "reconcile",
    "Result": "reconcile",
    "TerminalError": "reconcile",
    "GENERATION_CHANGED": "predicates",
    "RESOURCE_VERSION_CHANGED": "predicates",
    "label_selector": "predicates",
    "Manager": "manager",
    "LeaderElectionConfig": "leader",
    "LeaderElectionLost": "leader",
    # helpers
    "condition": "conditions",
    "set_status_condition": "conditions",
    "find_status_condition": "conditions",
    "remove_status_condition": "conditions",
    "is_status_condition_true": "conditions",
    "write_status": "status",
    "Condition": "conditions",
    "EventRecorder": "events",
    "set_controller_reference": "owner",
    "set_owner_reference": "owner",
    "get_controller_of": "owner",
    "AlreadyOwnedError": "owner",
    "WebhookServer": "webhook",
    "AdmissionResponse": "webhook",
    "TLSMaterial": "tls",
    "Clock": "clock",
    "FakeClock": "clock",
    "REAL_CLOCK": "clock",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kaito.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kaito.runtime.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from kaito.runtime.cache import InformerCache as InformerCache
    from kaito.runtime.client import Client as Client
    from kaito.runtime.client import ClientConfig as ClientConfig
    from kaito.runtime.client import ObjectList as ObjectList
    from kaito.runtime.client import PatchType as PatchType
    from kaito.runtime.clock import REAL_CLOCK as REAL_CLOCK
    from kaito.runtime.clock import Clock as Clock
    from kaito.runtime.clock import FakeClock as FakeClock
    from kaito.runtime.conditions import Condition as Condition
    from kaito.runtime.conditions import condition as condition
    from kaito.runtime.conditions import find_status_condition as find_status_condition
    from kaito.runtime.conditions import is_status_condition_true as is_status_condition_true
    from kaito.runtime.conditions import remove_status_condition as remove_status_condition
    from kaito.runtime.conditions import set_status_condition as set_status_condition
    from kaito.runtime.controller import Controller as Controller
    from kaito.runtime.errors import AlreadyExists as AlreadyExists
    from kaito.runtime.errors import ApiError as ApiError
    from kaito.runtime.errors import Conflict as Conflict
    from kaito.runtime.errors import Expired as Expired
    from kaito.runtime.errors import Forbidden as Forbidden
    from kaito.runtime.errors import Gone as Gone
    from kaito.runtime.errors import Invalid as Invalid
    from kaito.runtime.errors import NotFound as NotFound
    from kaito.runtime.errors import ServerError as ServerError
    from kaito.runtime.errors import TooManyRequests as TooManyRequests
    from kaito.runtime.errors import TransportError as TransportError
    from kaito.runtime.events import EventRecorder as EventRecorder
    from kaito.runtime.informer import CacheNotSynced as CacheNotSynced
    from kaito.runtime.informer import CacheSyncTimeout as CacheSyncTimeout
    from kaito.runtime.informer import EventHandler as EventHandler
    from kaito.runtime.informer import Informer as Informer
    from kaito.runtime.leader import LeaderElectionConfig as LeaderElectionConfig
    from kaito.runtime.leader import LeaderElectionLost as LeaderElectionLost
    from kaito.runtime.manager import Manager as Manager
    from kaito.runtime.owner import AlreadyOwnedError as AlreadyOwnedError
    from kaito.runtime.owner import get_controller_of as get_controller_of
    from kaito.runtime.owner import set_controller_reference as set_controller_reference
    from kaito.runtime.owner import set_owner_reference as set_owner_reference
    from kaito.runtime.predicates import GENERATION_CHANGED as GENERATION_CHANGED
    from kaito.runtime.predicates import RESOURCE_VERSION_CHANGED as RESOURCE_VERSION_CHANGED
    from kaito.runtime.predicates import label_selector as label_selector
    from kaito.runtime.ratelimit import (
        ItemExponentialFailureRateLimiter as ItemExponentialFailureRateLimiter,
    )
    from kaito.runtime.ratelimit import (
        default_controller_rate_limiter as default_controller_rate_limiter,
    )
    from kaito.runtime.reconcile import Reconciler as Reconciler
    from kaito.runtime.reconcile import Request as Request
    from kaito.runtime.reconcile import Result as Result
    from kaito.runtime.reconcile import TerminalError as TerminalError
    from kaito.runtime.reflector import ReflectorConfig as ReflectorConfig
    from kaito.runtime.resources import CONFIG_MAP as CONFIG_MAP
    from kaito.runtime.resources import CONTROLLER_REVISION as CONTROLLER_REVISION
    from kaito.runtime.resources import CUSTOM_RESOURCE_DEFINITION as CUSTOM_RESOURCE_DEFINITION
    from kaito.runtime.resources import DEPLOYMENT as DEPLOYMENT
    from kaito.runtime.resources import EVENT as EVENT
    from kaito.runtime.resources import JOB as JOB
    from kaito.runtime.resources import LEASE as LEASE
    from kaito.runtime.resources import (
        MUTATING_WEBHOOK_CONFIGURATION as MUTATING_WEBHOOK_CONFIGURATION,
    )
    from kaito.runtime.resources import NAMESPACE as NAMESPACE
    from kaito.runtime.resources import NODE as NODE
    from kaito.runtime.resources import PERSISTENT_VOLUME_CLAIM as PERSISTENT_VOLUME_CLAIM
    from kaito.runtime.resources import POD as POD
    from kaito.runtime.resources import SECRET as SECRET
    from kaito.runtime.resources import SERVICE as SERVICE
    from kaito.runtime.resources import SERVICE_ACCOUNT as SERVICE_ACCOUNT
    from kaito.runtime.resources import STATEFUL_SET as STATEFUL_SET
    from kaito.runtime.resources import (
        VALIDATING_WEBHOOK_CONFIGURATION as VALIDATING_WEBHOOK_CONFIGURATION,
    )
    from kaito.runtime.resources import Object as Object
    from kaito.runtime.resources import ResourceType as ResourceType
    from kaito.runtime.resources import meta as meta
    from kaito.runtime.resources import object_key as object_key
    from kaito.runtime.status import write_status as write_status
    from kaito.runtime.store import Store as Store
    from kaito.runtime.store import index_by_controller_uid as index_by_controller_uid
    from kaito.runtime.store import index_by_label as index_by_label
    from kaito.runtime.store import index_by_owner_uid as index_by_owner_uid
    from kaito.runtime.tls import TLSMaterial as TLSMaterial
    from kaito.runtime.watch import WatchEvent as WatchEvent
    from kaito.runtime.webhook import AdmissionResponse as AdmissionResponse
    from kaito.runtime.webhook import WebhookServer as WebhookServer
    from kaito.runtime.workqueue import QueueShutDown as QueueShutDown
    from kaito.runtime.workqueue import WorkQueue as WorkQueue
