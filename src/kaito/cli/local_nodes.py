"""``kaito local-nodes``: start, list or remove the real nodes the local provider runs here.

Real nodes outlive the provisioner that started them (so a restarted one adopts them).
``make down`` uses ``kaito local-nodes down`` to stop and clean every one of them after the
provisioner is gone, without needing the API server.

``kaito local-nodes up NAME`` boots one real node that no NodeClaim asked for, the way a
cluster's system node pool exists before any operator runs: ``make install-local`` runs
kaito's own pods on it. It uses the local provider's code path (host-wide slot, its own
``system:node:<name>`` certificate, Ready before the command returns) and is idempotent: a
second call finishes or adopts the node instead of starting another one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from kaito.cli.common import add_local_node_flags, configure_logging, local_node_host

SYSTEM_INSTANCE_TYPE = "Standard_D4s_v5"
"""A CPU instance type (the local provider makes a real node of it)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("local-nodes", help="start, list or remove real local nodes")
    parser.add_argument("action", choices=("up", "list", "down"))
    parser.add_argument("name", nargs="?", help="up: the node's name")
    add_local_node_flags(parser)
    parser.add_argument("--kubeconfig", default=None, help="up: the cluster to register with")
    parser.add_argument(
        "--instance-type", default=SYSTEM_INSTANCE_TYPE, help="up: a CPU instance type"
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="up: a node label"
    )
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(handler=run)


def _labels(pairs: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


async def _up(args: argparse.Namespace) -> int:
    from kaito.presets import get_sku
    from kaito.provisioner.cloud.base import InstanceRequest
    from kaito.provisioner.cloud.errors import CloudError
    from kaito.provisioner.cloud.local import LocalProvider
    from kaito.runtime.client import Client

    if not args.name:
        raise SystemExit("kaito local-nodes up needs the node's NAME")
    sku = get_sku(args.instance_type)
    if sku is None or sku.gpu_count:
        raise SystemExit(f"--instance-type {args.instance_type!r} is not a known CPU type")
    client = await Client.from_environment(args.kubeconfig)
    try:
        provider = LocalProvider(
            client,
            get_sku,
            host=local_node_host(args, client, "kaito local-nodes up"),
            state_dir=Path(args.local_state_dir),
            image_cache_dir=Path(args.local_image_cache),
        )
        request = InstanceRequest(
            name=args.name, instance_type=args.instance_type, labels=_labels(args.label)
        )
        try:
            instance = await provider.create(request)
        except CloudError as exc:
            raise SystemExit(f"local node {args.name}: {exc}") from exc
    finally:
        await client.close()
    print(f"local node {instance.name} is Ready ({instance.provider_id})")
    return 0


def run(args: argparse.Namespace) -> int:
    from kaito.provisioner.cloud.local import teardown_all
    from kaito.provisioner.localnode.configs import NodeHost
    from kaito.provisioner.localnode.layout import existing_nodes, read_claim

    configure_logging(args.log_level)
    state_dir = Path(args.local_state_dir)
    if args.action == "up":
        return asyncio.run(_up(args))
    if args.action == "list":
        for name, layout in existing_nodes(state_dir).items():
            record = read_claim(layout) or {}
            print(
                json.dumps(
                    {"name": name, **{k: record.get(k) for k in ("phase", "instanceType", "index")}}
                )
            )
        return 0
    host = NodeHost(bin_dir=Path(args.local_bin_dir), server="", ca_pem=b"", sandbox_image="")
    removed = asyncio.run(teardown_all(state_dir, host, Path(args.local_image_cache)))
    print(f"removed {len(removed)} local node(s){': ' + ', '.join(removed) if removed else ''}")
    return 0
