"""``kaito provisioner``: NodeClaims become GPU nodes (AKS agent pools, or kwok nodes).

Its own process and Deployment, like upstream's gpu-provisioner. ``--provider=azure``
reads ``ARM_SUBSCRIPTION_ID``, ``ARM_RESOURCE_GROUP``, ``AZURE_CLUSTER_NAME``, ``LOCATION``,
``AZURE_CLIENT_ID`` and ``AZURE_TENANT_ID``; ``--provider=kwok`` simulates nodes locally.
Operator modules are imported when the command runs, so ``kaito --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kaito.cli.common import add_manager_flags, build_manager, configure_logging, parse_duration

if TYPE_CHECKING:
    from kaito.provisioner.cloud.base import CloudProvider
    from kaito.runtime.client import Client

log = logging.getLogger("kaito.provisioner")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("provisioner", help="turn NodeClaims into GPU nodes")
    add_manager_flags(parser, lease_name="kaito-provisioner")
    parser.add_argument("--provider", choices=("azure", "kwok"), default="azure")
    parser.add_argument(
        "--boot-delay", type=float, default=5.0, help="kwok: seconds a simulated node takes to boot"
    )
    parser.add_argument(
        "--gc-interval", default="2m", help="how often leaked instances are collected"
    )
    parser.add_argument("--workers", type=int, default=10, help="concurrent NodeClaim reconciles")
    parser.set_defaults(handler=run)


async def _provider(args: argparse.Namespace, client: Client) -> CloudProvider:
    if args.provider == "kwok":
        from kaito.presets import get_sku
        from kaito.provisioner.cloud.kwok import KwokProvider

        return KwokProvider(client, get_sku, boot_delay=args.boot_delay)
    from kaito.provisioner.cloud.azure import AzureProvider
    from kaito.provisioner.cloud.azure_settings import AzureSettings
    from kaito.runtime import resources as r

    async def nodes(label_selector: str) -> list[dict[str, Any]]:
        return (await client.list(r.NODE, label_selector=label_selector)).items

    return AzureProvider.from_settings(AzureSettings.from_env(), nodes=nodes)


async def _main(args: argparse.Namespace) -> int:
    from kaito.provisioner.gc import GarbageCollector
    from kaito.provisioner.nodeclaim import NodeClaimReconciler
    from kaito.provisioner.setup import nodeclaim_controller
    from kaito.runtime.events import EventRecorder
    from kaito.runtime.leader import LeaderElectionLost

    manager = await build_manager(args)
    provider = await _provider(args, manager.client)
    recorder = EventRecorder(manager.client, component="kaito-provisioner")
    reconciler = NodeClaimReconciler(manager.client, manager.cache, provider, recorder=recorder)
    manager.add(nodeclaim_controller(reconciler, workers=args.workers))
    collector = GarbageCollector(manager.client, provider, interval=args.gc_interval)
    manager.add_runnable(collector.run, needs_leader=True)
    try:
        await manager.run()
    except LeaderElectionLost as exc:
        log.error("leader election lost, exiting so the pod restarts: %s", exc)
        return 1
    finally:
        await manager.client.close()
    return 0


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    args.sync_period = parse_duration(args.sync_period)
    args.gc_interval = parse_duration(args.gc_interval)
    return asyncio.run(_main(args))
