"""Leader election on a ``coordination.k8s.io/v1`` Lease.

Mirrors client-go ``tools/leaderelection/leaderelection.go`` and ``resourcelock/leaselock.go``
with controller-runtime's defaults (15 s lease, 10 s renew deadline, 2 s retry, jitter 1.2):

* acquire: try every ``retry_period`` (+ up to 1.2x jitter) until the Lease is ours;
* renew: every ``retry_period``, retry for up to ``renew_deadline``; failing that, leadership
  is lost (:class:`LeaderElectionLost`) and the process should exit so the pod restarts;
* a Lease held by someone else counts as expired only when *our* monotonic clock has not seen
  its record change for ``leaseDurationSeconds``: remote timestamps are never compared with
  local time, so clock skew between nodes does not matter;
* taking over from another holder increments ``leaseTransitions``; releasing (graceful stop)
  clears the holder and sets ``leaseDurationSeconds: 1`` so a standby takes over at once;
* each election request has its own timeout of ``max(renew_deadline / 2, 1)`` seconds;
* ``leader_election_master_status{name}`` is 1 while leading.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import socket
import uuid
from typing import Any, Protocol

import attrs

from kaito.runtime import metrics
from kaito.runtime.clock import REAL_CLOCK, Clock, clock_timeout
from kaito.runtime.errors import ApiError, NotFound, TransportError
from kaito.runtime.resources import LEASE, Object, ResourceType

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2


def default_identity() -> str:
    """``hostname_uuid``, as controller-runtime builds it."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _micro_time(when: dt.datetime) -> str:
    """metav1.MicroTime: ``2006-01-02T15:04:05.000000Z``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseClient(Protocol):
    """What the elector asks of its client (a ``Client`` is one; tests pass an in-memory one)."""

    async def get(
        self, rt: ResourceType, name: str, namespace: str | None = None, *, timeout: float | None
    ) -> Object: ...
    async def create(
        self, rt: ResourceType, obj: Object, namespace: str | None = None, *, timeout: float | None
    ) -> Object: ...
    async def replace(self, rt: ResourceType, obj: Object, *, timeout: float | None) -> Object: ...


class LeaderElectionLost(RuntimeError):
    """The Lease could not be renewed within the renew deadline: stop everything and exit."""


@attrs.frozen
class LeaderElectionConfig:
    """Where the Lease lives and how it is timed (controller-runtime defaults)."""

    name: str
    """Lease name (controller-runtime ``LeaderElectionID``)."""
    namespace: str
    identity: str = attrs.field(factory=default_identity)
    lease_duration: float = 15.0
    """How long a standby waits after the last observed renewal before taking over."""
    renew_deadline: float = 10.0
    """How long the leader keeps retrying a failed renewal before giving up."""
    retry_period: float = 2.0
    """Time between attempts to acquire or renew."""
    release_on_cancel: bool = True
    """On graceful stop, hand the Lease back so a standby need not wait for expiry."""

    def __attrs_post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise ValueError("renew_deadline must be greater than retry_period * 1.2")

    @property
    def request_timeout(self) -> float:
        return max(self.renew_deadline / 2, 1.0)


class LeaderElector:
    """Acquires, holds and releases one Lease for one identity."""

    def __init__(
        self, client: LeaseClient, config: LeaderElectionConfig, clock: Clock = REAL_CLOCK
    ):
        self.client = client
        self.config = config
        self._clock = clock
        self._observed: dict[str, Any] | None = None  # the lease object last seen
        self._observed_spec: dict[str, Any] | None = None
        self._observed_time = 0.0
        self._leading = False
        self.became_leader = asyncio.Event()
        self._status = metrics.leader_election_master_status.labels(config.name)
        self._status.set(0)

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        return self._leading

    # -- the loop ---------------------------------------------------------------------------
    async def acquire(self) -> None:
        """Block until this identity holds the Lease."""
        log.info("leader election: %s trying to acquire lease %s", self.identity, self._lease_key)
        while not await self._try_acquire_or_renew():
            period = self.config.retry_period
            await self._clock.sleep(period + random.random() * JITTER_FACTOR * period)
        self._set_leading(True)
        log.info("leader election: %s acquired lease %s", self.identity, self._lease_key)

    async def hold(self) -> None:
        """Renew until renewal fails for ``renew_deadline``; then raise
        :class:`LeaderElectionLost`. Cancel it to stop (then call :meth:`release`)."""
        while True:
            await self._clock.sleep(self.config.retry_period)
            if not await self._renew_within_deadline():
                self._set_leading(False)
                log.error("leader election: %s lost lease %s", self.identity, self._lease_key)
                raise LeaderElectionLost(f"leader election lost: {self._lease_key}")

    async def _renew_within_deadline(self) -> bool:
        deadline = self._clock.now() + self.config.renew_deadline
        while True:
            remaining = deadline - self._clock.now()
            if remaining <= 0:
                return False
            try:
                async with clock_timeout(self._clock, remaining):
                    if await self._try_acquire_or_renew():
                        return True
            except TimeoutError:
                return False
            if deadline - self._clock.now() <= self.config.retry_period:
                return False
            await self._clock.sleep(self.config.retry_period)

    async def release(self) -> bool:
        """Give the Lease back (holder cleared, duration 1 s) if we hold it.

        As client-go's ``release``: from the Lease as the server has it now, not the last one
        this elector saw, so a renewal cut short by the shutdown (applied by the server, its
        answer lost to the cancellation) does not make the release a 409 and leave the
        standbys waiting for the whole lease duration."""
        if not self._leading:
            return False
        timeout = self.config.request_timeout
        try:
            current = await self.client.get(
                LEASE, self.config.name, self.config.namespace, timeout=timeout
            )
            spec = current.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return False
            now = _micro_time(dt.datetime.now(dt.UTC))
            lease = self._with_spec(
                current,
                {
                    "leaseDurationSeconds": 1,
                    "renewTime": now,
                    "acquireTime": now,
                    "leaseTransitions": spec.get("leaseTransitions", 0),
                },
            )
            await self.client.replace(LEASE, lease, timeout=timeout)
        except (ApiError, TransportError) as exc:
            log.warning("leader election: releasing lease %s failed: %s", self._lease_key, exc)
            return False
        finally:
            self._set_leading(False)
        log.info("leader election: %s released lease %s", self.identity, self._lease_key)
        return True

    # -- one attempt (client-go tryAcquireOrRenew) ------------------------------------------
    async def _try_acquire_or_renew(self) -> bool:
        now = _micro_time(dt.datetime.now(dt.UTC))
        desired: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.config.lease_duration),
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        }
        timeout = self.config.request_timeout
        spec = self._observed_spec or {}
        if self._leading and self._observed is not None and self._lease_valid(spec):
            desired["acquireTime"] = spec.get("acquireTime", now)
            desired["leaseTransitions"] = spec.get("leaseTransitions", 0)
            try:
                updated = await self.client.replace(
                    LEASE, self._with_spec(self._observed, desired), timeout=timeout
                )
                self._observe(updated)
                return True
            except (ApiError, TransportError) as exc:
                metrics.leader_election_slowpath.labels(self.config.name).inc()
                log.info("leader election: fast renew failed (%s); re-reading", exc)

        try:
            lease = await self.client.get(
                LEASE, self.config.name, self.config.namespace, timeout=timeout
            )
        except NotFound:
            try:
                created = await self.client.create(
                    LEASE,
                    {
                        "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                        "spec": desired,
                    },
                    timeout=timeout,
                )
            except (ApiError, TransportError) as exc:
                log.info("leader election: creating lease failed: %s", exc)
                return False
            self._observe(created)
            return True
        except (ApiError, TransportError) as exc:
            log.info("leader election: reading lease failed: %s", exc)
            return False

        current = lease.get("spec") or {}
        if current != self._observed_spec:
            self._observed, self._observed_spec = lease, current
            self._observed_time = self._clock.now()
        else:
            self._observed = lease
        holder = current.get("holderIdentity") or ""
        if holder and holder != self.identity and self._lease_valid(current):
            return False
        if holder == self.identity:
            desired["acquireTime"] = current.get("acquireTime", now)
            desired["leaseTransitions"] = current.get("leaseTransitions", 0)
        else:
            desired["leaseTransitions"] = int(current.get("leaseTransitions") or 0) + 1
        try:
            updated = await self.client.replace(
                LEASE, self._with_spec(lease, desired), timeout=timeout
            )
        except (ApiError, TransportError) as exc:
            log.info("leader election: updating lease failed: %s", exc)
            return False
        self._observe(updated)
        return True

    def _lease_valid(self, spec: dict[str, Any]) -> bool:
        duration = float(spec.get("leaseDurationSeconds") or 0)
        return self._observed_time + duration > self._clock.now()

    def _observe(self, lease: Object) -> None:
        self._observed = lease
        self._observed_spec = lease.get("spec") or {}
        self._observed_time = self._clock.now()

    @staticmethod
    def _with_spec(lease: Object, spec: dict[str, Any]) -> Object:
        metadata = lease.get("metadata") or {}
        return {
            "metadata": {
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "spec": spec,
        }

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._status.set(1 if leading else 0)
        if leading:
            self.became_leader.set()
        else:
            self.became_leader.clear()

    @property
    def _lease_key(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"
