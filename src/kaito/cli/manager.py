"""``kaito manager``: the workspace controller, the admission webhook, metrics and probes.

Flags follow upstream's ``cmd/workspace`` (``--metrics-bind-address``,
``--health-probe-bind-address``, ``--leader-elect``, ``--kube-client-qps`` ...).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from kaito.cli.common import (
    add_manager_flags,
    build_manager,
    configure_logging,
    parse_duration,
    run_manager,
)

log = logging.getLogger("kaito.manager")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("manager", help="run the workspace controller and webhook")
    add_manager_flags(parser, lease_name="kaito-manager")
    parser.add_argument("--workers", type=int, default=5, help="concurrent Workspace reconciles")
    parser.add_argument(
        "--disable-node-auto-provisioning",
        action="store_true",
        help="never create NodeClaims: use existing GPU nodes that match labelSelector (BYO)",
    )
    parser.add_argument(
        "--preset-registry",
        default=os.environ.get("PRESET_REGISTRY_NAME"),
        help="registry of the preset model images (env PRESET_REGISTRY_NAME)",
    )
    parser.add_argument(
        "--inference-image",
        default=None,
        help="kaito's inference server image, run by presets whose weights are an OCI "
        "artifact (default kaito-inference:0.1.0, no registry: name yours)",
    )
    parser.add_argument(
        "--tuning-image",
        default=None,
        help="kaito's kaito-tune image, for tuning presets whose weights are an OCI artifact "
        "(default kaito-tuning:0.1.0, no registry: name yours)",
    )
    parser.add_argument(
        "--weights-puller-image",
        default=None,
        help="init-container image with oras that pulls an artifact preset's weights "
        "(default upstream's oras image)",
    )
    parser.add_argument(
        "--puller-image",
        default=None,
        help="init-container image with skopeo that pulls adapter and tuning-input images",
    )
    parser.add_argument(
        "--insecure-registries",
        default="",
        help="comma-separated registries (host[:port]) reached over plain HTTP, "
        "e.g. 10.245.0.1:5000",
    )
    parser.add_argument(
        "--trusted-data-networks",
        default="",
        help="comma-separated CIDRs that tuning input URLs may target although private "
        "(e.g. an in-house data server); loopback, private and link-local addresses are "
        "refused otherwise",
    )
    parser.add_argument(
        "--max-nodeclaims",
        type=int,
        default=100,
        help="NodeClaims kaito keeps in the whole cluster at most (each is a node someone "
        "pays for); past it Workspaces wait with ResourceReady=False NodeClaimLimitReached",
    )
    parser.add_argument("--cloud", default=os.environ.get("CLOUD_PROVIDER", "azure"))
    parser.add_argument(
        "--webhook-port", type=int, default=9443, help="HTTPS port of the admission webhook"
    )
    parser.add_argument(
        "--webhook-host", default="0.0.0.0", help="address the admission webhook listens on"
    )
    parser.add_argument(
        "--webhook-service",
        default=None,
        help="namespace/name of the Service in front of the webhook (in a cluster); "
        "without it the apiserver calls https://<webhook-host>:<webhook-port> directly",
    )
    parser.add_argument("--disable-webhook", action="store_true", help="do not serve admission")
    parser.set_defaults(handler=run)


def registry_list(text: str) -> tuple[str, ...]:
    """``a:5000, b`` -> ("a:5000", "b"): the --insecure-registries value, blanks dropped."""
    return tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())


async def _main(args: argparse.Namespace) -> int:
    from kaito import kinds
    from kaito.controllers.metrics import WorkspaceCollector
    from kaito.controllers.settings import Settings
    from kaito.controllers.setup import workspace_controller
    from kaito.controllers.webhook import register_webhook
    from kaito.controllers.workspace import WorkspaceReconciler
    from kaito.presets import default_catalog
    from kaito.runtime.events import EventRecorder
    from kaito.runtime.metrics import registry

    manager = await build_manager(args)
    settings = Settings.from_env(
        preset_registry=args.preset_registry,
        cloud=args.cloud,
        node_auto_provisioning=not args.disable_node_auto_provisioning,
        inference_image=args.inference_image,
        tuning_image=args.tuning_image,
        weights_puller_image=args.weights_puller_image,
        puller_image=args.puller_image,
        insecure_registries=registry_list(args.insecure_registries) or None,
        trusted_data_networks=registry_list(args.trusted_data_networks) or None,
        max_nodeclaims=args.max_nodeclaims,
    )
    catalog = default_catalog()
    recorder = EventRecorder(manager.client, component="kaito-workspace")
    reconciler = WorkspaceReconciler(
        manager.client, manager.cache, settings=settings, catalog=catalog, recorder=recorder
    )
    manager.add(workspace_controller(reconciler, workers=args.workers))
    registry.register(WorkspaceCollector(lambda: manager.cache.list(kinds.WORKSPACE)))
    if not args.disable_webhook:
        await register_webhook(manager, args, settings)
    return await run_manager(manager, log)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    args.sync_period = parse_duration(args.sync_period)
    from kaito.urlguard import parse_networks

    try:
        parse_networks(registry_list(args.trusted_data_networks))
    except ValueError as err:
        print(f"kaito manager: --trusted-data-networks: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_main(args))
