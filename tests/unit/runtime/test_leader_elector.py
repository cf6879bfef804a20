"""LeaderElector on a FakeClock against an in-memory Lease store that answers like the apiserver.

Every wait is a barrier, never a sleep: the test steps the clock, then waits until the elector
is asleep on it again (or done). The store answers without suspending, so once the elector
sleeps, everything its wake-up led to has happened.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from kaito.runtime import metrics
from kaito.runtime.clock import FakeClock
from kaito.runtime.errors import AlreadyExists, ApiError, Conflict, NotFound, ServerError
from kaito.runtime.leader import (
    JITTER_FACTOR,
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
)
from kaito.runtime.resources import LEASE, Object, ResourceType

NAMESPACE = "kaito-system"
RETRY = 2.0
LONGEST_RETRY = RETRY * (1 + JITTER_FACTOR)
"""The longest sleep between two tries to acquire: stepping this much always wakes it."""
_names = itertools.count()


class LeaseStore:
    """Leases as the apiserver keeps them: a resourceVersion per write, 404 for a missing
    Lease, 409 AlreadyExists for a taken name, 409 Conflict for a stale resourceVersion."""

    def __init__(self) -> None:
        self.leases: dict[str, Object] = {}
        self._versions = itertools.count(1)
        self.failure: ApiError | None = None
        """Answer every request with this error (the apiserver is failing)."""
        self.hang = False
        """Never answer (a frozen connection): only a deadline gets the caller out."""
        self.before_write: list[Callable[[], None]] = []
        """Run one of these before each write: another writer getting in between."""
        self.writes = 0
        self.conflicts = 0

    # -- what the test sees and does --------------------------------------------------------
    def spec(self, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = self.leases[name]["spec"]
        return spec

    def put(self, name: str, **spec: Any) -> None:
        """Another party writes the Lease (whatever the elector last saw)."""
        self.leases[name] = self._stored({"metadata": {"name": name, "namespace": NAMESPACE}}, spec)

    def _stored(self, obj: Object, spec: dict[str, Any]) -> Object:
        stored = copy.deepcopy({**obj, "spec": spec})
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        return stored

    async def _answer(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.failure is not None:
            raise self.failure

    def _write(self) -> None:
        if self.before_write:
            self.before_write.pop(0)()

    # -- the client methods LeaderElector calls ---------------------------------------------
    async def get(
        self, rt: ResourceType, name: str, namespace: str | None = None, *, timeout: float | None
    ) -> Object:
        assert rt == LEASE and namespace == NAMESPACE
        await self._answer()
        if name not in self.leases:
            raise NotFound(404, "NotFound", f"leases {name!r} not found")
        return copy.deepcopy(self.leases[name])

    async def create(
        self, rt: ResourceType, obj: Object, namespace: str | None = None, *, timeout: float | None
    ) -> Object:
        assert rt == LEASE and obj["metadata"]["namespace"] == NAMESPACE
        await self._answer()
        self._write()
        name = obj["metadata"]["name"]
        if name in self.leases:
            raise AlreadyExists(409, "AlreadyExists", f"leases {name!r} already exists")
        self.leases[name] = self._stored(obj, obj["spec"])
        self.writes += 1
        return copy.deepcopy(self.leases[name])

    async def replace(self, rt: ResourceType, obj: Object, *, timeout: float | None) -> Object:
        assert rt == LEASE
        await self._answer()
        self._write()
        name = obj["metadata"]["name"]
        if name not in self.leases:
            raise NotFound(404, "NotFound", f"leases {name!r} not found")
        current = self.leases[name]["metadata"]["resourceVersion"]
        if obj["metadata"].get("resourceVersion") != current:
            self.conflicts += 1
            raise Conflict(409, "Conflict", "the object has been modified")
        self.leases[name] = self._stored(obj, obj["spec"])
        self.writes += 1
        return copy.deepcopy(self.leases[name])


def elector(store: LeaseStore, clock: FakeClock, name: str, identity: str) -> LeaderElector:
    config = LeaderElectionConfig(
        name,
        NAMESPACE,
        identity=identity,
        lease_duration=15.0,
        renew_deadline=10.0,
        retry_period=RETRY,
    )
    return LeaderElector(store, config, clock)


def master_status(name: str) -> float | None:
    return metrics.registry.get_sample_value("leader_election_master_status", {"name": name})


async def asleep_or_done(clock: FakeClock, *tasks: asyncio.Task[None]) -> None:
    """Barrier: wait until something sleeps on the clock, or one of ``tasks`` has finished."""
    asleep = asyncio.ensure_future(clock.wait_for_waiters(1))
    done, _ = await asyncio.wait({asleep, *tasks}, timeout=5, return_when="FIRST_COMPLETED")
    asleep.cancel()
    assert done, "the elector neither slept on the clock nor finished"


@pytest.fixture
def name() -> str:
    return f"lock-{next(_names)}"


async def leader(store: LeaseStore, clock: FakeClock, name: str) -> LeaderElector:
    a = elector(store, clock, name, "a")
    await asyncio.wait_for(a.acquire(), 5)
    assert a.is_leader
    return a


async def test_acquires_a_lease_nobody_created(name: str) -> None:
    store, clock = LeaseStore(), FakeClock()
    a = elector(store, clock, name, "a")
    assert master_status(name) == 0
    await asyncio.wait_for(a.acquire(), 5)
    assert a.is_leader and a.became_leader.is_set()
    spec = store.spec(name)
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15 and spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == spec["renewTime"]
    assert master_status(name) == 1


@pytest.mark.parametrize(
    "renew_time", ["2000-01-01T00:00:00.000000Z", "2100-01-01T00:00:00.000000Z"]
)
async def test_stands_by_while_the_lease_is_fresh_and_takes_over_once_our_clock_says_expired(
    name: str, renew_time: str
) -> None:
    """Expiry is 15 s since *we* first saw this record, whatever its timestamps say (one far
    in the past would mean "take over now", one in the future "never")."""
    store, clock = LeaseStore(), FakeClock()
    store.put(
        name,
        holderIdentity="b",
        leaseDurationSeconds=15,
        acquireTime=renew_time,
        renewTime=renew_time,
        leaseTransitions=3,
    )
    a = elector(store, clock, name, "a")
    first_seen = clock.now()
    acquiring = asyncio.ensure_future(a.acquire())
    standbys = 0
    while True:
        await asleep_or_done(clock, acquiring)
        if acquiring.done():
            break
        assert clock.now() - first_seen < 15.0, "still standing by after the lease expired"
        assert not a.is_leader and store.spec(name)["holderIdentity"] == "b"
        standbys += 1
        clock.step(LONGEST_RETRY)
    await acquiring
    assert clock.now() - first_seen >= 15.0, "took over a lease that was still fresh"
    assert standbys == 4  # tries at +0, +4.4, +8.8, +13.2; +17.6 takes over
    assert a.is_leader
    assert store.spec(name)["holderIdentity"] == "a"
    assert store.spec(name)["leaseTransitions"] == 4


async def test_a_holder_that_keeps_renewing_is_never_taken_over(name: str) -> None:
    store, clock = LeaseStore(), FakeClock()
    a = elector(store, clock, name, "a")
    acquiring = asyncio.ensure_future(a.acquire())
    for renewal in range(12):  # 12 x 4.4 s: far beyond the 15 s lease
        store.put(name, holderIdentity="b", leaseDurationSeconds=15, renewTime=f"t{renewal}")
        await asleep_or_done(clock, acquiring)
        assert not acquiring.done() and not a.is_leader
        clock.step(LONGEST_RETRY)
    acquiring.cancel()
    assert store.spec(name)["holderIdentity"] == "b" and store.writes == 0


async def test_renews_once_every_retry_period(name: str) -> None:
    store, clock = LeaseStore(), FakeClock()
    a = await leader(store, clock, name)
    acquired = store.spec(name)["acquireTime"]
    holding = asyncio.ensure_future(a.hold())
    try:
        for renewal in range(1, 4):
            await asleep_or_done(clock, holding)
            versions = store.leases[name]["metadata"]["resourceVersion"]
            clock.step(RETRY - 0.01)
            assert store.writes == renewal, "renewed before the retry period"
            clock.step(0.01)
            await asleep_or_done(clock, holding)
            assert store.writes == renewal + 1
            assert store.leases[name]["metadata"]["resourceVersion"] != versions
            spec = store.spec(name)
            assert spec["holderIdentity"] == "a" and spec["acquireTime"] == acquired
            assert spec["leaseTransitions"] == 0
        assert a.is_leader and not holding.done()
    finally:
        holding.cancel()


async def test_leadership_is_lost_when_renewals_fail_past_the_renew_deadline(name: str) -> None:
    store, clock = LeaseStore(), FakeClock()
    a = await leader(store, clock, name)
    holding = asyncio.ensure_future(a.hold())
    await asleep_or_done(clock, holding)
    store.failure = ServerError(503, "ServiceUnavailable", "etcd is down")
    failing_since = clock.now()
    while not holding.done():
        clock.step(RETRY)
        await asleep_or_done(clock, holding)
        if not holding.done():
            assert a.is_leader, "gave up before the renew deadline"
    with pytest.raises(LeaderElectionLost):
        await holding
    # the first renewal fails at +2 s; the deadline is 10 s after it; the last try comes
    # when less than a retry period of it is left
    assert clock.now() - failing_since == pytest.approx(2.0 + 8.0)
    assert not a.is_leader and not a.became_leader.is_set()
    assert master_status(name) == 0


async def test_a_renewal_that_succeeds_again_before_the_deadline_keeps_the_lease(
    name: str,
) -> None:
    store, clock = LeaseStore(), FakeClock()
    a = await leader(store, clock, name)
    holding = asyncio.ensure_future(a.hold())
    await asleep_or_done(clock, holding)
    store.failure = ServerError(500, "InternalError", "blip")
    for _ in range(3):  # fails at +2, +4, +6 (the deadline would be +12)
        clock.step(RETRY)
        await asleep_or_done(clock, holding)
    store.failure = None
    for _ in range(10):
        clock.step(RETRY)
        await asleep_or_done(clock, holding)
    assert not holding.done() and a.is_leader
    assert store.spec(name)["holderIdentity"] == "a"
    holding.cancel()


async def test_a_renewal_that_hangs_is_cut_off_at_the_renew_deadline_by_our_clock(
    name: str,
) -> None:
    store, clock = LeaseStore(), FakeClock()
    a = await leader(store, clock, name)
    holding = asyncio.ensure_future(a.hold())
    await asleep_or_done(clock, holding)
    store.hang = True
    clock.step(RETRY)  # the renewal starts, and never gets an answer
    await asleep_or_done(clock, holding)  # asleep: the deadline's timer is all that is left
    clock.step(9.99)
    assert clock.waiters == 1 and not holding.done() and a.is_leader
    clock.step(0.01)
    with pytest.raises(LeaderElectionLost):
        await asyncio.wait_for(holding, 5)
    assert not a.is_leader


async def test_release_clears_the_holder_so_a_standby_takes_over_at_once(name: str) -> None:
    store, clock = LeaseStore(), FakeClock()
    a = await leader(store, clock, name)
    holding = asyncio.ensure_future(a.hold())
    b = elector(store, clock, name, "b")
    acquiring = asyncio.ensure_future(b.acquire())
    await asyncio.wait_for(clock.wait_for_waiters(2), 5)  # a holds, b stands by
    assert not b.became_leader.is_set()
    holding.cancel()  # a stops
    with pytest.raises(asyncio.CancelledError):
        await holding
    assert await a.release()
    spec = store.spec(name)
    assert not spec.get("holderIdentity") and spec["leaseDurationSeconds"] == 1
    assert not a.is_leader
    released_at = clock.now()
    while not acquiring.done():
        clock.step(LONGEST_RETRY)
        await asleep_or_done(clock, acquiring)
    await acquiring
    assert clock.now() - released_at <= LONGEST_RETRY, "b waited for the lease to expire"
    assert b.is_leader and store.spec(name)["holderIdentity"] == "b"
    assert store.spec(name)["leaseTransitions"] == 1
    assert not await a.release(), "a no longer leads: nothing to release"
    assert store.spec(name)["holderIdentity"] == "b"


@pytest.mark.parametrize("lease", ["missing", "released"])
async def test_losing_a_race_for_the_lease_does_not_make_us_leader(name: str, lease: str) -> None:
    """Between our read and our write another candidate takes the Lease: our create is an
    AlreadyExists, our update a Conflict (its resourceVersion is stale), and we stand by."""
    store, clock = LeaseStore(), FakeClock()
    if lease == "released":
        store.put(name, leaseDurationSeconds=1, leaseTransitions=2)
    store.before_write.append(
        lambda: store.put(name, holderIdentity="c", leaseDurationSeconds=15, leaseTransitions=3)
    )
    a = elector(store, clock, name, "a")
    acquiring = asyncio.ensure_future(a.acquire())
    await asleep_or_done(clock, acquiring)
    assert not acquiring.done() and not a.is_leader
    assert store.spec(name)["holderIdentity"] == "c" and store.writes == 0
    assert store.conflicts == (1 if lease == "released" else 0)
    clock.step(LONGEST_RETRY)  # c's lease is fresh by our clock: still standing by
    await asleep_or_done(clock, acquiring)
    assert not acquiring.done() and not a.is_leader
    assert store.spec(name)["holderIdentity"] == "c"
    acquiring.cancel()


async def test_a_conflict_on_renewal_rereads_the_lease_and_renews(name: str) -> None:
    """Someone else touched the Lease (its resourceVersion moved, its spec did not): the
    fast renewal is a 409, the slow path re-reads it, still ours, and renews."""
    store, clock = LeaseStore(), FakeClock()
    a = await leader(store, clock, name)
    slow = metrics.registry.get_sample_value("leader_election_slowpath_total", {"name": name})
    holding = asyncio.ensure_future(a.hold())
    await asleep_or_done(clock, holding)
    store.put(name, **store.spec(name))  # same spec, new resourceVersion
    clock.step(RETRY)
    await asleep_or_done(clock, holding)
    assert store.conflicts == 1 and store.writes == 2
    assert a.is_leader and store.spec(name)["holderIdentity"] == "a"
    after = metrics.registry.get_sample_value("leader_election_slowpath_total", {"name": name})
    assert (after or 0) == (slow or 0) + 1
    holding.cancel()
