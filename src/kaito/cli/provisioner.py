"""``kaito provisioner``: NodeClaims become GPU nodes (AKS agent pools, or kwok nodes).

Its own process and Deployment, like upstream's gpu-provisioner. ``--provider=azure``
reads ``ARM_SUBSCRIPTION_ID``, ``ARM_RESOURCE_GROUP``, ``AZURE_CLUSTER_NAME``, ``LOCATION``,
``AZURE_CLIENT_ID`` and ``AZURE_TENANT_ID``; ``--provider=kwok`` simulates nodes locally;
``--provider=local`` makes real nodes on this machine (containerd + kubelet + kube-proxy,
root only) for CPU instance types and kwok nodes for GPU ones (see
:mod:`kaito.provisioner.cloud.local`).
Operator modules are imported when the command runs, so ``kaito --help`` stays fast.

Three optional variables point the Azure provider somewhere other than Azure Resource
Manager with workload identity, for running outside AKS and for the tests, which run the
real SDK against a simulated AKS endpoint:

* ``KAITO_AZURE_BASE_URL``: the ARM endpoint (default ``https://management.azure.com``);
* ``KAITO_AZURE_CA_BUNDLE``: a PEM file of CAs to trust for it (default: the system's);
* ``KAITO_AZURE_ACCESS_TOKEN``: a bearer token to send instead of asking
  ``DefaultAzureCredential`` (see :mod:`kaito.provisioner.cloud.azure_token`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaito.cli.common import (
    add_local_node_flags,
    add_manager_flags,
    build_event_recorder,
    build_manager,
    configure_logging,
    local_node_host,
    parse_duration,
    run_manager,
)

if TYPE_CHECKING:
    from kaito.provisioner.cloud.base import CloudProvider
    from kaito.runtime.client import Client

log = logging.getLogger("kaito.provisioner")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("provisioner", help="turn NodeClaims into GPU nodes")
    add_manager_flags(parser, lease_name="kaito-provisioner")
    parser.add_argument("--provider", choices=("azure", "kwok", "local"), default="azure")
    parser.add_argument(
        "--boot-delay", type=float, default=5.0, help="kwok: seconds a simulated node takes to boot"
    )
    local = parser.add_argument_group("local provider (real nodes on this machine)")
    add_local_node_flags(local)
    local.add_argument(
        "--local-capacity", type=int, default=1, help="how many real nodes this machine hosts"
    )
    local.add_argument(
        "--simulated-gpus",
        action="store_true",
        help="GPU instance types become real nodes advertising the SKU's nvidia.com/gpu count",
    )
    parser.add_argument(
        "--gc-interval", default="2m", help="how often leaked instances are collected"
    )
    parser.add_argument(
        "--poll-interval",
        default="10s",
        help="azure: how often to poll an agent pool operation when Azure gives no Retry-After",
    )
    parser.add_argument("--workers", type=int, default=10, help="concurrent NodeClaim reconciles")
    parser.add_argument(
        "--status-hold",
        type=float,
        default=5.0,
        help="seconds a NodeClaim's intermediate status (launched, node not Ready yet) waits "
        "before it is written, so that a node Ready sooner costs one status write; while the "
        "API client is throttled it waits up to six times as long; 0 writes every change "
        "(default %(default)s)",
    )
    parser.set_defaults(handler=run)


def _local_provider(args: argparse.Namespace, client: Client) -> CloudProvider:
    from kaito.presets import get_sku
    from kaito.provisioner.cloud.kwok import KwokProvider
    from kaito.provisioner.cloud.local import LocalProvider

    provider = LocalProvider(
        client,
        get_sku,
        host=local_node_host(args, client, "--provider=local"),
        state_dir=Path(args.local_state_dir),
        image_cache_dir=Path(args.local_image_cache),
        capacity=args.local_capacity,
        simulated_gpus=args.simulated_gpus,
        kwok=KwokProvider(client, get_sku, boot_delay=args.boot_delay),
    )
    if reason := provider.unsupported():
        log.warning("%s: NodeClaims for CPU instance types will be refused", reason)
    return provider


async def _provider(args: argparse.Namespace, client: Client) -> CloudProvider:
    if args.provider == "kwok":
        from kaito.presets import get_sku
        from kaito.provisioner.cloud.kwok import KwokProvider

        return KwokProvider(client, get_sku, boot_delay=args.boot_delay)
    if args.provider == "local":
        return _local_provider(args, client)
    from kaito.provisioner.cloud.azure import AzureProvider
    from kaito.provisioner.cloud.azure_settings import AzureSettings
    from kaito.runtime import resources as r

    async def nodes(label_selector: str) -> list[dict[str, Any]]:
        return (await client.list(r.NODE, label_selector=label_selector)).items

    options: dict[str, Any] = {"poll_interval": args.poll_interval}
    if base_url := os.environ.get("KAITO_AZURE_BASE_URL", "").strip():
        options["base_url"] = base_url
    if ca_bundle := os.environ.get("KAITO_AZURE_CA_BUNDLE", "").strip():
        options["connection_verify"] = ca_bundle
    if token := os.environ.get("KAITO_AZURE_ACCESS_TOKEN", "").strip():
        from kaito.provisioner.cloud.azure_token import StaticTokenCredential

        options["credential"] = StaticTokenCredential(token)
    return AzureProvider.from_settings(AzureSettings.from_env(), nodes=nodes, **options)


async def _main(args: argparse.Namespace) -> int:
    from kaito.provisioner.cloud.local import LocalProvider
    from kaito.provisioner.gc import GarbageCollector
    from kaito.provisioner.nodeclaim import NodeClaimReconciler
    from kaito.provisioner.setup import nodeclaim_controller
    from kaito.runtime.status_hold import StatusHold

    manager = await build_manager(args, "kaito-provisioner")
    try:
        provider = await _provider(args, manager.client)
    except BaseException:  # bad provider settings: exit with the message, no leaked session
        await manager.client.close()
        raise
    recorder = await build_event_recorder(args, manager, component="kaito-provisioner")
    reconciler = NodeClaimReconciler(
        manager.client,
        manager.cache,
        provider,
        recorder=recorder,
        hold=StatusHold(max(0.0, args.status_hold), backlog=manager.client.transport.backlog),
    )
    manager.add(nodeclaim_controller(reconciler, workers=args.workers))
    collector = GarbageCollector(manager.client, provider, interval=args.gc_interval)
    manager.add_runnable(collector.run, needs_leader=True)
    if isinstance(provider, LocalProvider):
        manager.add_runnable(provider.supervise, needs_leader=True)
    return await run_manager(manager, log, close_first=getattr(provider, "aclose", None))


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    args.sync_period = parse_duration(args.sync_period)
    args.gc_interval = parse_duration(args.gc_interval)
    args.poll_interval = parse_duration(args.poll_interval)
    return asyncio.run(_main(args))
