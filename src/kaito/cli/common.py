"""Flags, set-up and the run loop shared by ``kaito manager`` and ``kaito provisioner``."""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kaito.provisioner.localnode.configs import NodeHost
    from kaito.runtime.cache import ByObject
    from kaito.runtime.client import Client
    from kaito.runtime.events import EventRecorder
    from kaito.runtime.manager import Manager
    from kaito.runtime.resources import ResourceType

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str | float) -> float:
    """Go-style durations (``10h``, ``90s``, ``1m30s``) or plain seconds, in seconds."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 5m, 10h)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def add_manager_flags(parser: argparse.ArgumentParser, *, lease_name: str) -> None:
    parser.add_argument(
        "--kubeconfig",
        default=None,
        help="kubeconfig (default: $KUBECONFIG, then the in-cluster service account)",
    )
    parser.add_argument("--metrics-bind-address", default=":8080", help="'0' disables metrics")
    parser.add_argument("--health-probe-bind-address", default=":8081")
    parser.add_argument("--leader-elect", action="store_true", help="enable leader election")
    parser.add_argument(
        "--leader-election-namespace",
        default=os.environ.get("SYSTEM_NAMESPACE", "kaito-system"),
    )
    parser.add_argument("--leader-election-id", default=lease_name, help="Lease name")
    parser.add_argument("--kube-client-qps", type=float, default=30.0)
    parser.add_argument("--kube-client-burst", type=int, default=50)
    parser.add_argument(
        "--event-qps",
        type=float,
        default=5.0,
        help="requests per second of the separate API client that writes Events",
    )
    parser.add_argument("--event-burst", type=int, default=25, help="burst of the Event client")
    parser.add_argument(
        "--sync-period", default="10h", help="resync every cached object this often (e.g. 10h)"
    )
    parser.add_argument(
        "--shutdown-delay",
        type=parse_duration,
        default=0.0,
        help="on SIGTERM, keep serving the webhook this long after leadership is released, so "
        "a deleted pod answers until kube-proxy stops routing to it (e.g. 5s)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )


def _address(value: str) -> str | None:
    if value in ("0", ""):
        return None
    return f"0.0.0.0{value}" if value.startswith(":") else value


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def user_agent(program: str) -> str:
    """``<program>/<version>`` (client-go's shape): what the API server's audit log
    attributes each request to."""
    from kaito import __version__

    return f"{program}/{__version__}"


async def build_manager(
    args: argparse.Namespace,
    component: str,
    cache_by_object: Mapping[ResourceType, ByObject] | None = None,
) -> Manager:
    from kaito.runtime.client import Client, ClientConfig
    from kaito.runtime.leader import LeaderElectionConfig
    from kaito.runtime.manager import Manager

    client = await Client.from_environment(
        args.kubeconfig,
        config=ClientConfig(
            qps=args.kube_client_qps, burst=args.kube_client_burst, user_agent=user_agent(component)
        ),
    )
    election = (
        LeaderElectionConfig(name=args.leader_election_id, namespace=args.leader_election_namespace)
        if args.leader_elect
        else None
    )
    return Manager(
        client,
        leader_election=election,
        metrics_address=_address(args.metrics_bind_address),
        health_address=_address(args.health_probe_bind_address),
        sync_period=args.sync_period,
        shutdown_delay=args.shutdown_delay,
        cache_by_object=cache_by_object,
    )


async def build_event_recorder(
    args: argparse.Namespace, manager: Manager, component: str
) -> EventRecorder:
    """An Event recorder that writes off the reconcile path: its own API client (same
    kubeconfig or service account, its own ``--event-qps``/``--event-burst``, so Events never
    spend the reconcile client's budget) and a runnable on every replica that writes the queued
    Events, flushes on shutdown, then closes that client."""
    from kaito.runtime.client import Client, ClientConfig
    from kaito.runtime.events import EventRecorder

    events_client = await Client.from_environment(
        args.kubeconfig,
        config=ClientConfig(
            qps=getattr(args, "event_qps", 5.0),
            burst=getattr(args, "event_burst", 25),
            user_agent=user_agent(f"{component}-events"),
        ),
    )
    recorder = EventRecorder(events_client, component)

    async def write_events() -> None:
        try:
            await recorder.run()
        finally:
            await events_client.close()

    manager.add_runnable(write_events)
    return recorder


async def run_manager(
    manager: Manager,
    log: logging.Logger,
    *,
    close_first: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Run ``manager`` until it stops; the exit code is 1 when leadership was lost (so the pod
    restarts, as controller-runtime exits), else 0. Afterwards ``close_first`` runs, then the
    API client is closed."""
    from kaito.runtime.leader import LeaderElectionLost

    try:
        await manager.run()
    except LeaderElectionLost as exc:
        log.error("leader election lost, exiting so the pod restarts: %s", exc)
        return 1
    finally:
        if close_first is not None:
            await close_first()
        await manager.client.close()
    return 0


def _xdg(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / default)


def default_local_state_dir() -> str:
    """Where the local provider keeps one directory per real node."""
    return str(_xdg("XDG_STATE_HOME", ".local/state") / "kaito" / "nodes")


def default_local_image_cache() -> str:
    """Where the local provider keeps containerd's image stores across nodes."""
    return str(_xdg("XDG_CACHE_HOME", ".cache") / "kaito" / "node-images")


def add_local_node_flags(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """Where real local nodes live and what they run with (``kaito provisioner
    --provider=local`` and ``kaito local-nodes``)."""
    group.add_argument(
        "--local-bin-dir",
        default=os.environ.get("KAITO_NODE_BIN", ""),
        help="kubelet, kube-proxy, containerd, ctr (hack/node/build.sh --bin-dir; $KAITO_NODE_BIN)",
    )
    group.add_argument(
        "--local-state-dir",
        default=default_local_state_dir(),
        help="one directory per real node (configs, certificates, pid files, logs)",
    )
    group.add_argument(
        "--local-image-cache",
        default=default_local_image_cache(),
        help="containerd image stores, kept across nodes so images are pulled once",
    )
    group.add_argument(
        "--sandbox-image",
        default=os.environ.get("KAITO_PAUSE_IMAGE", ""),
        help="containerd's pause image ($KAITO_PAUSE_IMAGE; built by hack/images/build.sh)",
    )
    group.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        help="registry host:port containerd pulls from over plain HTTP (repeatable)",
    )


def local_node_host(args: argparse.Namespace, client: Client, command: str) -> NodeHost:
    """The host-wide settings of real local nodes from :func:`add_local_node_flags`' flags;
    exits with the flag to set when one is missing."""
    from kaito.provisioner.localnode.configs import NodeHost

    if not args.local_bin_dir:
        raise SystemExit(f"{command} needs --local-bin-dir (or $KAITO_NODE_BIN)")
    if not args.sandbox_image:
        raise SystemExit(f"{command} needs --sandbox-image (or $KAITO_PAUSE_IMAGE)")
    return NodeHost(
        bin_dir=Path(args.local_bin_dir),
        server=client.server,
        ca_pem=client.ca_pem(),
        sandbox_image=args.sandbox_image,
        insecure_registries=tuple(args.insecure_registry),
    )
