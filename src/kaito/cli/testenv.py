"""``kaito testenv up|down|env|status``: the local control plane from the shell."""

from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path

from kaito.testenv import ControlPlane, require_binaries


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
    parser.add_argument("action", choices=("up", "down", "env", "status"))
    parser.set_defaults(handler=run)


def _attached(workdir: Path) -> ControlPlane | None:
    if not (workdir / "state.json").exists():
        return None
    return ControlPlane.load(workdir)


def run(args: argparse.Namespace) -> int:
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
