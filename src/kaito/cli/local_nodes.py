"""``kaito local-nodes``: list or remove the real nodes the local provider runs here.

Real nodes outlive the provisioner that started them (so a restarted one adopts them).
``make down`` uses ``kaito local-nodes down`` to stop and clean every one of them after the
provisioner is gone, without needing the API server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from kaito.cli.common import (
    configure_logging,
    default_local_image_cache,
    default_local_state_dir,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("local-nodes", help="list or remove real local nodes")
    parser.add_argument("action", choices=("list", "down"))
    parser.add_argument("--local-state-dir", default=default_local_state_dir())
    parser.add_argument("--local-image-cache", default=default_local_image_cache())
    parser.add_argument("--local-bin-dir", default=os.environ.get("KAITO_NODE_BIN", ""))
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from kaito.provisioner.cloud.local import teardown_all
    from kaito.provisioner.localnode.configs import NodeHost
    from kaito.provisioner.localnode.layout import existing_nodes, read_claim

    configure_logging(args.log_level)
    state_dir = Path(args.local_state_dir)
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
