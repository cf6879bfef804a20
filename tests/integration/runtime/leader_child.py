"""A manager process for the leader-election test: reconciles ConfigMaps of one namespace and
logs every reconcile (start/end, wall time) and its elections as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.controller import Controller
from kaito.runtime.leader import LeaderElectionConfig, LeaderElectionLost
from kaito.runtime.manager import Manager
from kaito.runtime.reconcile import Request, Result
from kaito.runtime.resources import CONFIG_MAP


async def main() -> int:
    parser = argparse.ArgumentParser()
    for flag in ("--kubeconfig", "--namespace", "--identity", "--lease", "--log"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    out = open(args.log, "a", buffering=1)  # noqa: SIM115

    def write(event: str, **fields: Any) -> None:
        out.write(json.dumps({"id": args.identity, "event": event, "t": time.time(), **fields}))
        out.write("\n")

    client = await Client.from_kubeconfig(args.kubeconfig, config=ClientConfig(qps=0))

    async def reconcile(request: Request) -> Result:
        write("start", name=request.name)
        await asyncio.sleep(0.1)
        write("end", name=request.name)
        return Result(requeue_after=0.2)

    async def elected() -> None:
        write("elected")
        await asyncio.Event().wait()

    manager = Manager(
        client,
        leader_election=LeaderElectionConfig(
            name=args.lease,
            namespace=args.namespace,
            identity=args.identity,
            lease_duration=4.0,
            renew_deadline=3.0,
            retry_period=0.5,
        ),
        metrics_address=None,
        health_address=None,
        graceful_shutdown_timeout=5.0,
    )
    manager.add(Controller("leader-test", reconcile).for_(CONFIG_MAP, namespace=args.namespace))

    async def synced() -> None:  # on every replica: its cache is warm, leader or not
        while not manager.cache.has_synced:
            await asyncio.sleep(0.05)
        write("synced")
        await asyncio.Event().wait()

    manager.add_runnable(elected, needs_leader=True)
    manager.add_runnable(synced)
    write("started")
    try:
        await manager.run()
    except LeaderElectionLost:
        write("lost")
        return 3
    finally:
        await client.close()
    write("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
