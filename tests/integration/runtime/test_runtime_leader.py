"""Leader election with real processes: one leader, fast hand-over on SIGTERM, takeover
within the lease duration after SIGKILL or a partition, never two reconciling at once."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from kaito.runtime.client import Client
from kaito.runtime.resources import CONFIG_MAP, LEASE
from tests.support.waiting import eventually

CHILD = Path(__file__).with_name("leader_child.py")
LEASE_DURATION = 4.0
RETRY = 0.5


class Child:
    def __init__(self, identity: str, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.identity = identity
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CHILD),
            f"--kubeconfig={self.kubeconfig}",
            f"--namespace={self.namespace}",
            f"--identity={self.identity}",
            "--lease=leader-test",
            f"--log={self.log}",
        )

    def signal(self, sig: int) -> float:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return time.time()

    async def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


def records(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def first(log: Path, identity: str, event: str, after: float = 0.0) -> float | None:
    times = [
        r["t"]
        for r in records(log)
        if r["id"] == identity and r["event"] == event and r["t"] >= after
    ]
    return min(times) if times else None


def intervals(log: Path, cut: dict[str, float]) -> dict[str, list[tuple[float, float]]]:
    """Reconcile intervals per identity; one cut short (kill, lost lease) ends at ``cut[id]``."""
    result: dict[str, list[tuple[float, float]]] = {}
    open_: dict[str, float] = {}
    for r in records(log):
        if r["event"] == "start":
            open_[r["id"]] = r["t"]
        elif r["event"] == "end" and r["id"] in open_:
            result.setdefault(r["id"], []).append((open_.pop(r["id"]), r["t"]))
    for identity, started in open_.items():
        result.setdefault(identity, []).append((started, cut[identity]))
    return result


def assert_never_concurrent(spans_by_id: dict[str, list[tuple[float, float]]]) -> None:
    for id1, spans1 in spans_by_id.items():
        for id2, spans2 in spans_by_id.items():
            if id1 >= id2:
                continue
            for s1, e1 in spans1:
                for s2, e2 in spans2:
                    assert e1 <= s2 or e2 <= s1, f"{id1} {s1}-{e1} overlaps {id2} {s2}-{e2}"


async def test_one_leader_handover_and_takeover(
    client: Client,
    namespace: str,
    control_plane: Any,
    tmp_path: Path,
    proxied_kubeconfig: tuple[Path, Any],
) -> None:
    proxied, proxy = proxied_kubeconfig
    for i in range(3):
        await client.create(CONFIG_MAP, {"metadata": {"name": f"cm-{i}", "namespace": namespace}})
    log = tmp_path / "reconciles.jsonl"
    a = Child("a", control_plane.kubeconfig, namespace, log)
    b = Child("b", control_plane.kubeconfig, namespace, log)
    c = Child("c", proxied, namespace, log)  # talks through a proxy we can partition
    try:
        await a.start()
        await eventually(lambda: first(log, "a", "start"), 30, "a to lead and reconcile")
        await b.start()
        await eventually(lambda: first(log, "b", "synced"), 30, "b's cache to sync")
        # barrier: an object created after b's cache synced, reconciled by a; a standby
        # that reconciled would have started on the three older ones before that
        await client.create(CONFIG_MAP, {"metadata": {"name": "after-b", "namespace": namespace}})
        await eventually(
            lambda: any(
                r["id"] == "a" and r["event"] == "start" and r.get("name") == "after-b"
                for r in records(log)
            ),
            30,
            "a to reconcile after-b",
        )
        assert first(log, "b", "start") is None, "the standby reconciled while a led"

        # graceful: SIGTERM releases the lease, b takes over well before it would expire
        term = a.signal(signal.SIGTERM)
        assert await a.wait() == 0
        b_elected = await eventually(lambda: first(log, "b", "elected"), 10, "b to take over")
        assert b_elected - term < LEASE_DURATION, f"hand-over took {b_elected - term:.1f}s"
        lease = await client.get(LEASE, "leader-test", namespace)
        assert lease["spec"]["holderIdentity"] == "b"
        assert lease["spec"]["leaseTransitions"] >= 1

        # crash: SIGKILL b; c takes over within the lease duration of b's last renewal
        await c.start()
        await eventually(lambda: first(log, "c", "started"), 30, "c to start")
        await asyncio.sleep(1)
        renewed = (await client.get(LEASE, "leader-test", namespace))["spec"]["renewTime"]
        killed = b.signal(signal.SIGKILL)
        c_elected = await eventually(lambda: first(log, "c", "elected"), 20, "c to take over")
        last_renew = time.mktime(time.strptime(renewed[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        print(f"takeover after SIGKILL: {c_elected - killed:.2f}s after the kill")
        # lease duration after the last renewal c observed, plus at most two jittered retries
        assert c_elected - killed < LEASE_DURATION + 2 * (1 + 1.2) * RETRY + 1.0
        assert c_elected > last_renew + LEASE_DURATION - 1.0  # never before the lease expired

        # partition: c cannot renew, gives up after the renew deadline (exits 3) and stops
        # reconciling before a new leader can exist
        d = Child("d", control_plane.kubeconfig, namespace, log)
        await d.start()
        await eventually(lambda: first(log, "d", "started"), 30, "d to start")
        proxy.freeze()
        frozen = time.time()
        assert await c.wait(30) == 3
        d_elected = await eventually(lambda: first(log, "d", "elected"), 20, "d to take over")
        c_lost = first(log, "c", "lost")
        assert c_lost is not None and c_lost < d_elected
        print(f"partition: c gave up after {c_lost - frozen:.2f}s,", end=" ")
        print(f"d led after {d_elected - frozen:.2f}s")
        await eventually(lambda: first(log, "d", "start"), 10, "d to reconcile")
        d.signal(signal.SIGTERM)
        assert await d.wait() == 0
        spans = intervals(log, {"b": killed, "c": c_lost})
        assert_never_concurrent(spans)
        assert all(len(spans.get(k, [])) > 0 for k in "abcd"), spans.keys()
    finally:
        for child in (a, b, c):
            child.kill()
