"""The Azure cloud provider: one AKS agent pool per NodeClaim.

This is upstream's gpu-provisioner instance provider (``gp:pkg/providers/instance``) on the
Python SDK: ``ContainerServiceClient.agent_pools`` from ``azure.mgmt.containerservice.aio``,
so long-running operations are polled with ``await`` and never block the event loop, and
``DefaultAzureCredential`` from ``azure.identity.aio``, so AKS workload identity works.

Idempotence comes from names: the pool is named after the NodeClaim, ``create`` first reads
the pool and adopts one that exists or is being created (a restart in the middle of a create
finds it), and AKS's "in progress create node pool operation" answer to a racing PUT is
adopted the same way. Pools that kaito does not own are invisible to every method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool

from kaito.provisioner.cloud.azure_errors import classify, from_azure_error
from kaito.provisioner.cloud.azure_nodes import (
    ANY_POOL_SELECTOR,
    NodeLister,
    PoolNode,
    find_pool_node,
    pool_nodes,
)
from kaito.provisioner.cloud.azure_pool import (
    build_agent_pool,
    instance_from_pool,
    instance_state,
    is_kaito_pool,
)
from kaito.provisioner.cloud.azure_settings import AzureSettings
from kaito.provisioner.cloud.base import Instance, InstanceRequest, InstanceState
from kaito.provisioner.cloud.errors import (
    CloudError,
    CreateInProgress,
    InstanceNotFound,
    InvalidRequest,
    TransientError,
)
from kaito.runtime.clock import REAL_CLOCK, Clock

__all__ = ["AzureProvider", "default_credential"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_credential(settings: AzureSettings) -> AsyncTokenCredential:
    """``DefaultAzureCredential`` pinned to the configured identity (workload identity in AKS)."""
    from azure.identity.aio import DefaultAzureCredential

    kwargs: dict[str, Any] = {}
    if settings.client_id:
        kwargs["managed_identity_client_id"] = settings.client_id
        kwargs["workload_identity_client_id"] = settings.client_id
    if settings.tenant_id:
        kwargs["workload_identity_tenant_id"] = settings.tenant_id
    credential: AsyncTokenCredential = DefaultAzureCredential(**kwargs)
    return credential


class AzureProvider:
    """A :class:`~kaito.provisioner.cloud.base.CloudProvider` on AKS agent pools."""

    def __init__(
        self,
        settings: AzureSettings,
        client: ContainerServiceClient,
        *,
        nodes: NodeLister | None = None,
        poll_interval: float = 10.0,
        adopt_timeout: float = 1800.0,
        now: Callable[[], datetime] = _utcnow,
        clock: Clock = REAL_CLOCK,
        credential: AsyncTokenCredential | None = None,
    ) -> None:
        """Use ``client`` (closed by :meth:`aclose`, as is ``credential`` when given).

        ``nodes`` lets the provider fill ``node_name`` and the Node's providerID in what it
        returns; ``poll_interval`` paces long-running-operation polls when Azure sends no
        ``Retry-After`` and the polls of a create being adopted, which give up with a
        :class:`TransientError` after ``adopt_timeout`` seconds. ``now`` is the wall clock
        for creation timestamps, ``clock`` the monotonic one for waiting.
        """
        self._settings = settings
        self._client = client
        self._nodes = nodes
        self._poll_interval = poll_interval
        self._adopt_timeout = adopt_timeout
        self._now = now
        self._clock = clock
        self._credential = credential

    @classmethod
    def from_settings(
        cls,
        settings: AzureSettings,
        *,
        credential: AsyncTokenCredential | None = None,
        base_url: str | None = None,
        nodes: NodeLister | None = None,
        poll_interval: float = 10.0,
        adopt_timeout: float = 1800.0,
        **client_kwargs: Any,
    ) -> AzureProvider:
        """Build the SDK client from ``settings``.

        ``credential`` defaults to :func:`default_credential` (then owned and closed by the
        provider); ``base_url`` defaults to Azure Resource Manager; ``client_kwargs`` go to
        ``ContainerServiceClient`` (``connection_verify``, ``retry_total``,
        ``retry_backoff_factor`` ...).
        """
        owned = credential is None
        cred = default_credential(settings) if credential is None else credential
        client = ContainerServiceClient(
            cred,
            settings.subscription_id,
            base_url=base_url,
            polling_interval=poll_interval,
            **client_kwargs,
        )
        return cls(
            settings,
            client,
            nodes=nodes,
            poll_interval=poll_interval,
            adopt_timeout=adopt_timeout,
            credential=cred if owned else None,
        )

    async def aclose(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()

    async def __aenter__(self) -> AzureProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def arm_id(self, name: str) -> str:
        """The ARM resource id of agent pool ``name``."""
        s = self._settings
        return (
            f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{s.cluster_name}"
            f"/agentPools/{name}"
        )

    # -- CloudProvider ---------------------------------------------------------------------

    async def create(self, request: InstanceRequest) -> Instance:
        body = build_agent_pool(request, self._now())
        existing = await self._get_pool(request.name)
        if existing is not None:
            if not is_kaito_pool(existing):
                raise InvalidRequest(
                    f"agent pool {request.name!r} already exists and is not managed by kaito",
                    code="PoolNameTaken",
                )
            state = _state(existing)
            if state is InstanceState.CREATING:
                return await self._adopt(request.name)
            if state is InstanceState.RUNNING:
                return await self._instance(existing)
            if state is InstanceState.DELETING:
                raise TransientError(
                    f"agent pool {request.name!r} is being deleted; "
                    "it can be created again once it is gone",
                    code="PoolDeleting",
                )
            # FAILED: a PUT asks AKS to reconcile the pool again, as a retried create would.
        s = self._settings
        try:
            poller = await self._client.agent_pools.begin_create_or_update(
                s.resource_group,
                s.cluster_name,
                request.name,
                body,
                polling_interval=self._poll_interval,
            )
            created = await poller.result()
        except Exception as exc:
            error = from_azure_error(exc)
            if isinstance(error, CreateInProgress):
                return await self._adopt(request.name)
            raise error from exc
        return await self._instance(created)

    async def get(self, name: str) -> Instance | None:
        pool = await self._get_pool(name)
        if pool is None or not is_kaito_pool(pool):
            return None
        return await self._instance(pool)

    async def list(self) -> list[Instance]:
        s = self._settings
        try:
            pools = [
                pool
                async for pool in self._client.agent_pools.list(s.resource_group, s.cluster_name)
                if is_kaito_pool(pool)
            ]
        except Exception as exc:
            raise from_azure_error(exc) from exc
        nodes: dict[str, PoolNode] = {}
        if self._nodes is not None and pools:
            nodes = pool_nodes(await self._list_nodes(ANY_POOL_SELECTOR))
        return [
            instance_from_pool(
                pool, arm_id=self.arm_id(pool.name or ""), node=nodes.get(pool.name or "")
            )
            for pool in pools
        ]

    async def delete(self, name: str) -> None:
        pool = await self._get_pool(name)
        if pool is None or not is_kaito_pool(pool):
            raise InstanceNotFound(f"agent pool {name!r} not found", code="NotFound", status=404)
        if _state(pool) is not InstanceState.DELETING:
            s = self._settings
            try:
                poller = await self._client.agent_pools.begin_delete(
                    s.resource_group, s.cluster_name, name, polling_interval=self._poll_interval
                )
                await poller.result()
            except Exception as exc:
                error = from_azure_error(exc)
                if isinstance(error, InstanceNotFound):
                    return
                raise error from exc
        await self._wait(name, until_gone=True)

    # -- helpers ---------------------------------------------------------------------------

    async def _get_pool(self, name: str) -> AgentPool | None:
        s = self._settings
        try:
            return await self._client.agent_pools.get(s.resource_group, s.cluster_name, name)
        except Exception as exc:
            error = from_azure_error(exc)
            if isinstance(error, InstanceNotFound):
                return None
            raise error from exc

    async def _adopt(self, name: str) -> Instance:
        """Wait for a create someone else started (maybe our previous life) and return it."""
        pool = await self._wait(name, until_gone=False)
        if pool is None:
            raise TransientError(
                f"agent pool {name!r} disappeared while its create was in progress",
                code="PoolVanished",
            )
        instance = await self._instance(pool)
        if instance.state is InstanceState.FAILED:
            raise _failure(pool, instance)
        return instance

    async def _wait(self, name: str, *, until_gone: bool) -> AgentPool | None:
        """Poll the pool until it is gone (``until_gone``) or out of Creating; return it."""
        deadline = self._clock.now() + self._adopt_timeout
        while True:
            pool = await self._get_pool(name)
            if pool is None:
                return None
            state = _state(pool)
            if not until_gone and state is not InstanceState.CREATING:
                return pool
            if self._clock.now() >= deadline:
                action = "deleted" if until_gone else "created"
                raise TransientError(
                    f"agent pool {name!r} still {state.value} after {self._adopt_timeout:.0f}s "
                    f"waiting for it to be {action}",
                    code="PoolTimeout",
                )
            await self._clock.sleep(self._poll_interval)

    async def _instance(self, pool: AgentPool) -> Instance:
        name = pool.name or ""
        node = None
        if self._nodes is not None and _state(pool) is InstanceState.RUNNING:
            node = await self._find_node(name)
        return instance_from_pool(pool, arm_id=self.arm_id(name), node=node)

    async def _find_node(self, pool: str) -> PoolNode | None:
        assert self._nodes is not None
        try:
            return await find_pool_node(self._nodes, pool)
        except Exception as exc:
            raise TransientError(f"listing the Nodes of agent pool {pool!r}: {exc}") from exc

    async def _list_nodes(self, selector: str) -> Sequence[Mapping[str, Any]]:
        assert self._nodes is not None
        try:
            return await self._nodes(selector)
        except Exception as exc:
            raise TransientError(f"listing agent pool Nodes: {exc}") from exc


def _state(pool: AgentPool) -> InstanceState:
    props = pool.properties
    return instance_state(props.provisioning_state if props is not None else None)


def _failure(pool: AgentPool, instance: Instance) -> CloudError:
    """The typed error for a pool that ended in Failed, in the cloud's words."""
    props = pool.properties
    error = props.status.provisioning_error if props and props.status else None
    code = error.code if error is not None else None
    message = instance.message or f"agent pool {instance.name!r} failed to provision"
    return classify(message=message, code=code)
