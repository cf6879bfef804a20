"""``kaito testenv up|down|env|status``: the local control plane from the shell.

``kaito testenv registry up|down|status|gc``: the persistent local OCI registry on the kaito
host address (:mod:`kaito.testenv.registry`) that locally built images are pushed to; ``gc``
frees the blobs of deleted manifests (``hack/images/build.sh --prune`` deletes old tags).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from kaito.testenv import ControlPlane, require_binaries
from kaito.testenv.registry import (
    HOST_ADDRESS,
    HOST_INTERFACE,
    HostAddressError,
    LocalRegistry,
    RegistryError,
    remove_host_address,
)


def default_workdir() -> Path:
    override = os.environ.get("KAITO_TESTENV_DIR")
    if override:
        return Path(override)
    state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return state / "kaito" / "testenv"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("testenv", help="start or stop the local control plane")
    parser.add_argument(
        "--dir", type=Path, default=None, help="state directory (default: %(default)s)"
    )
    parser.add_argument("action", choices=("up", "down", "env", "status", "registry"))
    parser.add_argument(
        "registry_action",
        nargs="?",
        choices=("up", "down", "status", "gc"),
        help="with `registry`: start, stop, describe or garbage-collect the local OCI registry",
    )
    parser.set_defaults(handler=run)


def _attached(workdir: Path) -> ControlPlane | None:
    if not (workdir / "state.json").exists():
        return None
    return ControlPlane.load(workdir)


def run_registry(action: str | None) -> int:
    """``kaito testenv registry up|down|status|gc``."""
    registry = LocalRegistry()
    try:
        if action == "up":
            started = time.monotonic()
            if registry.ensure():
                print(f"registry ready in {time.monotonic() - started:.1f}s: {registry.url}")
            else:
                print(f"registry already running: {registry.url}")
            print(f"data: {registry.data_dir}  log: {registry.log_file}")
        elif action == "gc":
            freed = registry.collect_garbage()
            print(f"registry garbage-collected: {freed / 2**20:.1f} MiB freed")
        elif action == "down":
            print("registry stopped" if registry.stop() else "no registry to stop")
            if remove_host_address():
                print(f"removed {HOST_ADDRESS}/32 from {HOST_INTERFACE}")
        else:
            st = registry.status()
            print(f"{'registry':14} {'running' if st.running else 'stopped'}")
            print(f"{'pid':14} {st.pid or '-'}")
            print(
                f"{'address':14} {st.address} (host address on {HOST_INTERFACE}: "
                f"{'yes' if st.host_address else 'no'})"
            )
            print(f"{'data':14} {st.data_dir} ({st.data_bytes / 2**20:.1f} MiB)")
            print(f"{'repositories':14} {' '.join(st.repositories) or '-'}")
            return 0 if st.running else 3
    except (HostAddressError, RegistryError) as err:
        print(f"kaito testenv registry {action}: {err}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "registry":
        if args.registry_action is None:
            print("usage: kaito testenv registry up|down|status|gc", file=sys.stderr)
            return 2
        return run_registry(args.registry_action)
    if args.registry_action is not None:
        print(
            f"kaito testenv {args.action}: unexpected argument {args.registry_action!r}",
            file=sys.stderr,
        )
        return 2
    workdir: Path = args.dir or default_workdir()
    plane = _attached(workdir)
    if args.action == "up":
        if plane is not None and all(plane.running().values()):
            print(f"control plane already running: {plane.server}")
        else:
            if plane is not None:
                plane.stop()
            started = time.monotonic()
            plane = ControlPlane(workdir=workdir, bin_dir=require_binaries())
            plane.start()
            print(f"control plane ready in {time.monotonic() - started:.1f}s: {plane.server}")
        print(f"export KUBECONFIG={shlex.quote(str(plane.kubeconfig))}")
        return 0
    if plane is None:
        if args.action == "down":
            print("no control plane to stop")
            return 0
        print(f"no control plane state in {workdir}; run `kaito testenv up` first")
        return 1
    if args.action == "down":
        plane.stop()
        print("control plane stopped")
    elif args.action == "env":
        print(f"export KUBECONFIG={shlex.quote(str(plane.kubeconfig))}")
        print(f"export PATH={shlex.quote(str(plane.bin_dir))}:$PATH")
    else:
        rss = plane.rss_bytes()
        for component, alive in plane.running().items():
            memory = f"{rss[component] / 2**20:7.1f} MiB" if component in rss else ""
            print(f"{component:25} {'running' if alive else 'stopped':8} {memory}")
        print(f"{'total':25} {'':8} {sum(rss.values()) / 2**20:7.1f} MiB")
    return 0
