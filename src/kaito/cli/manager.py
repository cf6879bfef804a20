"""``kaito manager``: the workspace controller, the admission webhook, metrics and probes.

Flags follow upstream's ``cmd/workspace`` (``--metrics-bind-address``,
``--health-probe-bind-address``, ``--leader-elect``, ``--kube-client-qps`` ...).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from kaito.cli.common import (
    add_manager_flags,
    build_event_recorder,
    build_manager,
    configure_logging,
    parse_duration,
    run_manager,
)
from kaito.cli.settings_flags import add_settings_flags, settings_from_args

log = logging.getLogger("kaito.manager")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("manager", help="run the workspace controller and webhook")
    add_manager_flags(parser, lease_name="kaito-manager")
    parser.add_argument("--workers", type=int, default=5, help="concurrent Workspace reconciles")
    add_settings_flags(parser)
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


async def _main(args: argparse.Namespace) -> int:
    from kaito import kinds
    from kaito.controllers.cache_options import BY_OBJECT
    from kaito.controllers.metrics import WorkspaceCollector
    from kaito.controllers.setup import workspace_controller
    from kaito.controllers.webhook import register_webhook
    from kaito.controllers.workspace import WorkspaceReconciler
    from kaito.presets import default_catalog
    from kaito.runtime.metrics import registry

    manager = await build_manager(args, "kaito-manager", cache_by_object=BY_OBJECT)
    settings = settings_from_args(args)
    catalog = default_catalog()
    recorder = await build_event_recorder(args, manager, component="kaito-workspace")
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
    try:
        settings_from_args(args)
    except ValueError as err:
        print(f"kaito manager: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_main(args))
