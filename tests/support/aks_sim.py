"""A simulated AKS agentPools endpoint, for running the real Azure SDK in tests.

It speaks the part of the Azure Resource Manager REST API that
``ContainerServiceClient.agent_pools`` calls (PUT / GET / DELETE of one pool, GET of the
list, with ``nextLink`` paging) over HTTPS on 127.0.0.1, with ARM's long-running-operation
protocol: a PUT answers ``201`` with ``Azure-AsyncOperation`` and ``Retry-After``, a DELETE
``202`` with ``Location`` too, and the operation document goes ``InProgress`` ->
``Succeeded``/``Failed`` while the pool's ``provisioningState`` goes ``Creating`` ->
``Succeeded`` (or ``Failed``) after ``create_delay`` seconds. Requests without a bearer
token are refused, as ARM does.

Faults are injected per request (``throttle_next``, ``server_error_next``,
``quota_exceeded_next``, ``in_progress_next``, ``fail_next``) or per VM size
(``sku_unavailable``); ``create_delay`` makes creates slow. The ``on_pool_ready`` and
``on_pool_deleted`` hooks run when a pool finishes creating (before the operation reports
success, as AKS reports a pool once its node has joined) and when it is gone;
:class:`KubeNodeHooks` implements them on a real API server, registering the pool's Node the
way AKS and the Azure cloud provider would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import socket
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web
from azure.core.credentials import AccessToken

from kaito.presets.catalog import default_catalog
from kaito.provisioner.cloud.azure_nodes import vmss_provider_id
from kaito.testenv import certs

PoolHook = Callable[["SimPool"], Awaitable[None]]

API_VERSION_OPERATIONS = "2017-08-31"
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
OS_SKUS = {"Ubuntu", "AzureLinux", "Ubuntu2204", "Ubuntu2404", "AzureLinux3"}

_BASE = (
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.ContainerService/managedClusters/(?P<cluster>[^/]+)/agentPools"
)
_POOL_PATH = re.compile(_BASE + r"/(?P<name>[^/]+)$", re.IGNORECASE)
_LIST_PATH = re.compile(_BASE + r"$", re.IGNORECASE)
_OPERATION_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.ContainerService/locations/[^/]+"
    r"/(?P<kind>operations|operationresults)/(?P<op>[^/]+)$",
    re.IGNORECASE,
)


class StaticTokenCredential:
    """An ``AsyncTokenCredential`` handing out a fixed bearer token (the simulator only checks
    that one is sent)."""

    def __init__(self, token: str = "sim-token") -> None:
        self.token = token
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@attrs.define
class SimPool:
    """One agent pool as the simulator stores it."""

    name: str
    properties: dict[str, Any]
    """Wire-format ``properties`` (camelCase), including ``provisioningState``."""
    arm_id: str
    vmss_name: str
    """``aks-<pool>-<8 digits>-vmss``, as AKS names the pool's scale set."""
    provider_id: str
    """``spec.providerID`` of the pool's (single) Node."""
    created_at: datetime

    @property
    def state(self) -> str:
        return str(self.properties.get("provisioningState", ""))

    @property
    def vm_size(self) -> str:
        return str(self.properties.get("vmSize", ""))

    @property
    def node_name(self) -> str:
        """The Node name AKS gives VM 0 of the scale set."""
        return f"{self.vmss_name}000000"

    @property
    def node_labels(self) -> dict[str, str]:
        return dict(self.properties.get("nodeLabels") or {})

    @property
    def node_taints(self) -> list[str]:
        return list(self.properties.get("nodeTaints") or [])

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.arm_id,
            "name": self.name,
            "type": "Microsoft.ContainerService/managedClusters/agentPools",
            "systemData": {"createdAt": self.created_at.isoformat().replace("+00:00", "Z")},
            "properties": self.properties,
        }


@attrs.frozen
class Fault:
    """An error response to send instead of handling a request."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = attrs.field(factory=dict)


@attrs.define
class _Rule:
    method: str
    target: str
    fault: Fault
    remaining: int
    then_create: bool = False


@attrs.define
class _Operation:
    status: str = "InProgress"
    error: dict[str, str] | None = None
    start: datetime = attrs.field(factory=lambda: datetime.now(UTC))


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    status: int
    at: float
    """``time.monotonic()`` when the answer was sent."""


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


class AksSimulator:
    """The simulated endpoint. Use ``async with AksSimulator(workdir) as sim:``."""

    def __init__(
        self,
        workdir: Path,
        *,
        subscription_id: str = "00000000-0000-0000-0000-000000000001",
        resource_group: str = "kaito-rg",
        cluster_name: str = "kaito-aks",
        location: str = "eastus",
        create_delay: float = 0.3,
        delete_delay: float = 0.1,
        poll_after: float = 0.1,
        page_size: int = 100,
        on_pool_ready: PoolHook | None = None,
        on_pool_deleted: PoolHook | None = None,
    ) -> None:
        self.workdir = workdir
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.cluster_name = cluster_name
        self.location = location
        self.create_delay = create_delay
        """Seconds from an accepted PUT to ``Succeeded`` (raise it for a slow create)."""
        self.delete_delay = delete_delay
        self.poll_after = poll_after
        """Seconds the LRO headers tell clients to wait between polls."""
        self.page_size = page_size
        self.on_pool_ready = on_pool_ready
        self.on_pool_deleted = on_pool_deleted
        self.pools: dict[str, SimPool] = {}
        self.requests: list[RecordedRequest] = []
        self._operations: dict[str, _Operation] = {}
        self._rules: list[_Rule] = []
        self._unavailable: dict[str, tuple[bool, str]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0
        self.ca_file = workdir / "ca.crt"

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._port}"

    @property
    def node_resource_group(self) -> str:
        return f"MC_{self.resource_group}_{self.cluster_name}_{self.location}"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``ContainerServiceClient`` / ``AzureProvider.from_settings``:
        trust the simulator's CA and retry quickly."""
        return {
            "connection_verify": str(self.ca_file),
            "retry_backoff_factor": 0.05,
            "retry_backoff_max": 1,
        }

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ca = certs.make_ca(self.workdir, "aks-sim-ca")
        serving = certs.issue(
            ca, self.workdir, "aks-sim", common_name="127.0.0.1", hosts=("127.0.0.1",), server=True
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(serving.cert, serving.key)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, ssl_context=context).start()

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AksSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        fault: Fault,
        *,
        times: int = 1,
        target: str = "pool",
    ) -> None:
        """Answer the next ``times`` ``method`` requests on ``target`` (``pool``, ``list`` or
        ``operation``) with ``fault``."""
        self._rules.append(_Rule(method.upper(), target, fault, times))

    def throttle_next(self, method: str, *, times: int = 1, retry_after: float = 1) -> None:
        """429 with ``Retry-After`` (what ARM sends when the subscription is throttled)."""
        value = str(int(retry_after)) if retry_after == int(retry_after) else str(retry_after)
        fault = Fault(
            429,
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type "
            "- Write_ObservationCount. Please retry after the time in the Retry-After header.",
            {"Retry-After": value},
        )
        self.fail_next(method, fault, times=times)

    def server_error_next(self, method: str, *, times: int = 1, status: int = 500) -> None:
        fault = Fault(status, "InternalServerError", "An internal server error occurred.")
        self.fail_next(method, fault, times=times)

    def quota_exceeded_next(
        self, *, code: str = "QuotaExceeded", family: str = "standardNCADSA100v4Family"
    ) -> str:
        """Refuse the next PUT at preflight for lack of quota; returns the message sent."""
        message = (
            f"Preflight validation check for resource(s) for container service "
            f"{self.cluster_name} in resource group {self.node_resource_group} failed. "
            f"Message: Operation could not be completed as it results in exceeding approved "
            f"{family} Cores quota. Additional details - Deployment Model: Resource Manager, "
            f"Location: {self.location}, Current Limit: 0, Current Usage: 0, Additional "
            f"Required: 24, (Minimum) New Limit Required: 24."
        )
        self.fail_next("PUT", Fault(400, code, message))
        return message

    def in_progress_next(self, *, times: int = 1) -> str:
        """Answer the next PUT with AKS's "in progress create" conflict, starting the create
        as if an earlier PUT (whose answer was lost) had been accepted."""
        message = (
            "Operation is not allowed because there's an in progress create node pool "
            f"operation with Correlation Id '{uuid.uuid4()}' started at "
            f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}. Please wait for it to complete."
        )
        self._rules.append(
            _Rule("PUT", "pool", Fault(409, "OperationNotAllowed", message), times, True)
        )
        return message

    def sku_unavailable(self, vm_size: str, *, asynchronous: bool = True) -> str:
        """Make ``vm_size`` unavailable: its creates fail in the long-running operation
        (``asynchronous``, the pool ends ``Failed``) or at once with 400. Returns the message."""
        message = (
            f"The requested VM size for resource 'Following SKUs have failed for Capacity "
            f"Restrictions: {vm_size}' is currently not available in location "
            f"'{self.location}'. Please try another size or deploy to a different location "
            f"or different zone."
        )
        self._unavailable[vm_size.lower()] = (asynchronous, message)
        return message

    def sku_available(self, vm_size: str) -> None:
        """Undo :meth:`sku_unavailable` (capacity came back)."""
        self._unavailable.pop(vm_size.lower(), None)

    def count(self, method: str, name: str | None = None) -> int:
        """How many ``method`` requests reached pool ``name`` (or any single-pool URL)."""
        return sum(
            1
            for r in self.requests
            if r.method == method.upper()
            and (match := _POOL_PATH.match(r.path)) is not None
            and (name is None or match["name"] == name)
        )

    # -- out-of-band changes ---------------------------------------------------------------

    async def add_pool(self, name: str, properties: dict[str, Any]) -> SimPool:
        """Create a Succeeded pool directly (as someone with the portal would), running the
        ready hook."""
        pool = self._new_pool(name, {**properties, "provisioningState": "Succeeded"})
        self.pools[name] = pool
        if self.on_pool_ready is not None:
            await self.on_pool_ready(pool)
        return pool

    async def wait_settled(self, timeout: float = 30) -> None:
        """Wait until no create or delete is running."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    # -- request handling ------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        response = await self._handle(request)
        self.requests.append(
            RecordedRequest(request.method, request.path, response.status, time.monotonic())
        )
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        if "api-version" not in request.query:
            return _error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        path = request.path
        if (match := _OPERATION_PATH.match(path)) is not None:
            return self._fault("GET", "operation") or self._operation(match["kind"], match["op"])
        if (match := _LIST_PATH.match(path)) is not None:
            if bad := self._wrong_cluster(match):
                return bad
            if request.method != "GET":
                return _error(405, "MethodNotAllowed", f"{request.method} is not supported")
            return self._fault("GET", "list") or self._list(request)
        if (match := _POOL_PATH.match(path)) is not None:
            if bad := self._wrong_cluster(match):
                return bad
            name = match["name"]
            rule = self._take_rule(request.method, "pool")
            if rule is not None:
                if rule.then_create and name not in self.pools:
                    body = await request.json()
                    self._start_create(name, body.get("properties") or {})
                return _error(
                    rule.fault.status, rule.fault.code, rule.fault.message, **rule.fault.headers
                )
            if request.method == "GET":
                return self._get(name)
            if request.method == "PUT":
                return await self._put(request, name)
            if request.method == "DELETE":
                return self._delete(name)
            return _error(405, "MethodNotAllowed", f"{request.method} is not supported")
        return _error(404, "InvalidResourceType", f"The resource type could not be found: {path}")

    def _wrong_cluster(self, match: re.Match[str]) -> web.Response | None:
        if match["sub"] != self.subscription_id:
            return _error(
                404,
                "SubscriptionNotFound",
                f"The subscription '{match['sub']}' could not be found.",
            )
        if (
            match["rg"].lower() != self.resource_group.lower()
            or match["cluster"] != self.cluster_name
        ):
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.ContainerService/managedClusters/{match['cluster']}' "
                f"under resource group '{match['rg']}' was not found.",
            )
        return None

    def _take_rule(self, method: str, target: str) -> _Rule | None:
        for rule in self._rules:
            if rule.method == method and rule.target == target and rule.remaining > 0:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule
        return None

    def _fault(self, method: str, target: str) -> web.Response | None:
        rule = self._take_rule(method, target)
        if rule is None:
            return None
        fault = rule.fault
        return _error(fault.status, fault.code, fault.message, **fault.headers)

    def _lro_headers(self, op_id: str, *, location: bool, initial: bool) -> dict[str, str]:
        op_base = (
            f"{self.base_url}/subscriptions/{self.subscription_id}/providers/"
            f"Microsoft.ContainerService/locations/{self.location}"
        )
        query = f"?api-version={API_VERSION_OPERATIONS}"
        # The SDK reads an initial response's Retry-After as an int; later polls honour
        # fractions, which keeps tests fast.
        wait = max(1, math.ceil(self.poll_after)) if initial else self.poll_after
        headers = {
            "Azure-AsyncOperation": f"{op_base}/operations/{op_id}{query}",
            "Retry-After": f"{wait:g}",
        }
        if location:
            headers["Location"] = f"{op_base}/operationresults/{op_id}{query}"
        return headers

    def _operation(self, kind: str, op_id: str) -> web.Response:
        op = self._operations.get(op_id)
        if op is None:
            return _error(404, "NotFound", f"Operation {op_id} not found.")
        if kind.lower() == "operationresults":
            if op.status == "InProgress":
                return web.Response(
                    status=202, headers=self._lro_headers(op_id, location=True, initial=False)
                )
            return web.Response(status=204)
        body: dict[str, Any] = {
            "id": op_id,
            "name": op_id,
            "status": op.status,
            "startTime": op.start.isoformat(),
        }
        if op.error is not None:
            body["error"] = op.error
        headers = (
            self._lro_headers(op_id, location=False, initial=False)
            if op.status == "InProgress"
            else {}
        )
        return web.json_response(body, headers=headers)

    def _get(self, name: str) -> web.Response:
        pool = self.pools.get(name)
        if pool is None:
            return _error(
                404,
                "NotFound",
                f"Agent pool {name} not found in managed cluster {self.cluster_name}.",
            )
        return web.json_response(pool.wire())

    def _list(self, request: web.Request) -> web.Response:
        pools = sorted(self.pools.values(), key=lambda p: p.name)
        start = int(request.query.get("$skipToken", "0"))
        page = pools[start : start + self.page_size]
        body: dict[str, Any] = {"value": [p.wire() for p in page]}
        if start + self.page_size < len(pools):
            body["nextLink"] = (
                f"{self.base_url}{request.path}?api-version={request.query['api-version']}"
                f"&$skipToken={start + self.page_size}"
            )
        return web.json_response(body)

    async def _put(self, request: web.Request, name: str) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "InvalidRequestContent", "The request content was invalid.")
        props = dict(body.get("properties") or {})
        if not POOL_NAME.fullmatch(name):
            return _error(
                400,
                "InvalidParameter",
                f"Agent Pool name '{name}' is invalid: it must start with a lowercase letter "
                "and contain only lowercase letters and numbers, 1 to 12 characters.",
            )
        if not props.get("vmSize"):
            return _error(400, "InvalidParameter", "The value of parameter vmSize is invalid.")
        if props.get("osSKU", "Ubuntu") not in OS_SKUS:
            return _error(
                400,
                "InvalidParameter",
                f"The value of parameter osSKU '{props['osSKU']}' is invalid.",
            )
        existing = self.pools.get(name)
        if existing is not None and existing.state in ("Creating", "Deleting"):
            verb = "create" if existing.state == "Creating" else "delete"
            return _error(
                409,
                "OperationNotAllowed",
                f"Operation is not allowed because there's an in progress {verb} node pool "
                f"operation with Correlation Id '{uuid.uuid4()}'. Please wait for it to "
                "complete.",
            )
        if existing is not None and existing.state == "Succeeded":
            existing.properties.update({k: v for k, v in props.items() if k != "provisioningState"})
            return web.json_response(existing.wire(), status=200)
        unavailable = self._unavailable.get(props["vmSize"].lower())
        if unavailable is not None and not unavailable[0]:
            return _error(400, "SkuNotAvailable", unavailable[1])
        op_id = self._start_create(name, props)
        return web.json_response(
            self.pools[name].wire(),
            status=201,
            headers=self._lro_headers(op_id, location=False, initial=True),
        )

    def _delete(self, name: str) -> web.Response:
        pool = self.pools.get(name)
        if pool is None:
            return web.Response(status=204)
        if pool.state == "Deleting":
            return _error(
                409,
                "OperationNotAllowed",
                "Operation is not allowed because there's an in progress delete node pool "
                "operation.",
            )
        previous = self._tasks.pop(name, None)
        if previous is not None:
            previous.cancel()
        pool.properties["provisioningState"] = "Deleting"
        op_id = uuid.uuid4().hex
        self._operations[op_id] = _Operation()
        self._tasks[name] = asyncio.create_task(self._finish_delete(pool, op_id))
        return web.Response(
            status=202, headers=self._lro_headers(op_id, location=True, initial=True)
        )

    # -- pool lifecycle --------------------------------------------------------------------

    def _new_pool(self, name: str, properties: dict[str, Any]) -> SimPool:
        digits = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10**8
        vmss = f"aks-{name}-{digits:08d}-vmss"
        props = {
            "count": 1,
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "type": "VirtualMachineScaleSets",
            **properties,
        }
        props.setdefault("nodeImageVersion", f"AKS{props['osSKU']}-202501.01.0")
        arm_id = (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.cluster_name}"
            f"/agentPools/{name}"
        )
        provider_id = vmss_provider_id(
            self.subscription_id, self.node_resource_group.lower(), vmss, 0
        )
        return SimPool(name, props, arm_id, vmss, provider_id, datetime.now(UTC))

    def _start_create(self, name: str, properties: dict[str, Any]) -> str:
        pool = self._new_pool(name, {**properties, "provisioningState": "Creating"})
        self.pools[name] = pool
        op_id = uuid.uuid4().hex
        self._operations[op_id] = _Operation()
        self._tasks[name] = asyncio.create_task(self._finish_create(pool, op_id))
        return op_id

    async def _finish_create(self, pool: SimPool, op_id: str) -> None:
        op = self._operations[op_id]
        try:
            await asyncio.sleep(self.create_delay)
            unavailable = self._unavailable.get(pool.vm_size.lower())
            if unavailable is not None:
                self._fail(pool, op, "SkuNotAvailable", unavailable[1])
                return
            if self.on_pool_ready is not None:
                try:
                    await self.on_pool_ready(pool)
                except Exception as exc:  # the node never joined
                    self._fail(pool, op, "NodeRegistrationFailed", f"node did not join: {exc}")
                    return
            pool.properties["provisioningState"] = "Succeeded"
            op.status = "Succeeded"
        except asyncio.CancelledError:
            op.status = "Canceled"
            raise
        finally:
            if self._tasks.get(pool.name) is asyncio.current_task():
                del self._tasks[pool.name]

    def _fail(self, pool: SimPool, op: _Operation, code: str, message: str) -> None:
        error = {"code": code, "message": message}
        pool.properties["provisioningState"] = "Failed"
        pool.properties["status"] = {"provisioningError": error}
        op.status = "Failed"
        op.error = error

    async def _finish_delete(self, pool: SimPool, op_id: str) -> None:
        op = self._operations[op_id]
        try:
            await asyncio.sleep(self.delete_delay)
            if self.pools.get(pool.name) is pool:
                del self.pools[pool.name]
            if self.on_pool_deleted is not None:
                await self.on_pool_deleted(pool)
            op.status = "Succeeded"
        finally:
            if self._tasks.get(pool.name) is asyncio.current_task():
                del self._tasks[pool.name]


# -- Nodes in a real control plane ---------------------------------------------------------


def gpu_count(vm_size: str) -> int:
    """GPUs of ``vm_size`` from kaito's SKU catalog; unknown N-series sizes get one."""
    sku = default_catalog().sku(vm_size, "azure")
    if sku is not None:
        return sku.gpu_count
    return 1 if vm_size.lower().startswith("standard_n") else 0


def _taint(spec: str) -> dict[str, str]:
    key_value, _, effect = spec.partition(":")
    key, _, value = key_value.partition("=")
    return {"key": key, "value": value, "effect": effect or "NoSchedule"}


def pool_node_manifest(pool: SimPool, *, location: str = "eastus") -> dict[str, Any]:
    """The Node AKS registers for VM 0 of ``pool`` (kwok keeps it Ready)."""
    gpus = gpu_count(pool.vm_size)
    labels = {
        **pool.node_labels,
        "agentpool": pool.name,
        "kubernetes.azure.com/agentpool": pool.name,
        "kubernetes.azure.com/mode": "user",
        "node.kubernetes.io/instance-type": pool.vm_size,
        "beta.kubernetes.io/instance-type": pool.vm_size,
        "kubernetes.io/hostname": pool.node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/region": location,
    }
    capacity = {
        "cpu": "24",
        "memory": "220Gi",
        "pods": "110",
        "ephemeral-storage": f"{pool.properties.get('osDiskSizeGB') or 128}Gi",
    }
    if gpus:
        labels["accelerator"] = "nvidia"
        capacity["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": pool.node_name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "providerID": pool.provider_id,
            "taints": [_taint(t) for t in pool.node_taints],
        },
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


class KubeNodeHooks:
    """``on_pool_ready`` / ``on_pool_deleted`` that register and remove the pool's Node in a
    real API server through ``kubernetes_asyncio``. Use ``async with``."""

    def __init__(self, kubeconfig: Path, *, location: str = "eastus") -> None:
        self.kubeconfig = kubeconfig
        self.location = location
        self.registered: list[str] = []
        self.removed: list[str] = []
        self._api: Any = None

    async def __aenter__(self) -> KubeNodeHooks:
        from kubernetes_asyncio import config

        self._api = await config.new_client_from_config(config_file=str(self.kubeconfig))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._api is not None:
            await self._api.close()

    @property
    def api_client(self) -> Any:
        """The ``kubernetes_asyncio`` ApiClient (open while inside ``async with``)."""
        return self._api

    def node_lister(self) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
        """The provider's ``NodeLister`` on this ApiClient (raw JSON, no generated models)."""
        from kubernetes_asyncio.client import CoreV1Api

        core = CoreV1Api(self._api)

        async def list_nodes(label_selector: str) -> list[dict[str, Any]]:
            response = await core.list_node(label_selector=label_selector, _preload_content=False)
            try:
                body: dict[str, Any] = await response.json()
            finally:
                response.release()
            return body.get("items") or []

        return list_nodes

    def _core(self) -> Any:
        from kubernetes_asyncio import client

        return client.CoreV1Api(self._api)

    async def on_pool_ready(self, pool: SimPool) -> None:
        await self._core().create_node(body=pool_node_manifest(pool, location=self.location))
        self.registered.append(pool.node_name)

    async def on_pool_deleted(self, pool: SimPool) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            await self._core().delete_node(pool.node_name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.removed.append(pool.node_name)
