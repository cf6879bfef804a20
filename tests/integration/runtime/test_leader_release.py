"""Releasing the Lease works from what the server has, not from what the elector last saw.

A shutdown can cancel a renewal after the server applied it and before its answer arrived;
the elector then holds a stale resourceVersion. Releasing with it would be a 409, and the
standbys would wait the whole lease duration instead of taking over at once.
"""

from __future__ import annotations

import datetime as dt

from kaito.runtime.client import Client
from kaito.runtime.leader import LeaderElectionConfig, LeaderElector
from kaito.runtime.resources import LEASE


async def test_release_after_a_renewal_whose_answer_was_lost(
    client: Client, namespace: str
) -> None:
    elector = LeaderElector(
        client, LeaderElectionConfig(name="release-test", namespace=namespace, identity="a")
    )
    await elector.acquire()
    lease = await client.get(LEASE, "release-test", namespace)
    # the renewal the server applied (a new resourceVersion) but the elector never heard of
    lease["spec"]["renewTime"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    renewed = await client.replace(LEASE, lease)
    assert renewed["metadata"]["resourceVersion"] != lease["metadata"]["resourceVersion"]

    assert await elector.release()

    released = (await client.get(LEASE, "release-test", namespace))["spec"]
    assert not released.get("holderIdentity")
    assert released["leaseDurationSeconds"] == 1
    assert not elector.is_leader


async def test_release_leaves_a_lease_someone_else_took_alone(
    client: Client, namespace: str
) -> None:
    elector = LeaderElector(
        client, LeaderElectionConfig(name="release-test", namespace=namespace, identity="a")
    )
    await elector.acquire()
    lease = await client.get(LEASE, "release-test", namespace)
    lease["spec"]["holderIdentity"] = "b"
    await client.replace(LEASE, lease)

    assert not await elector.release()

    assert (await client.get(LEASE, "release-test", namespace))["spec"]["holderIdentity"] == "b"
    assert not elector.is_leader
