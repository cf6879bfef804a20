"""``kaito-inference-node``: one pod of a multi-node Workspace leads or joins its Ray cluster.

vLLM spreads a model too big for one node over several with Ray: pipeline-parallel over the
nodes, tensor-parallel over each node's GPUs. The Workspace's StatefulSet has one pod per
node; the pod-index label (``POD_INDEX``) says which one this is:

* pod 0 starts the Ray head, waits until every node has joined (``--nodes``), prints
  ``ray status`` and then execs the server command it was given (``-- kaito-inference ...``),
  whose vLLM engine finds the cluster with ``--distributed-executor-backend=ray``;
* every other pod joins the head and stays (``ray start --block``) until it goes away.

The head is found at the Workspace's Service (``--leader-service``), which selects pod 0
and publishes it before it is Ready: by its cluster DNS name, or, in a cluster without DNS,
at the address Kubernetes puts in every pod's environment (``<SERVICE>_SERVICE_HOST``).
Exit status: 1 when the cluster did not form in time or Ray failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

RAY_PORT = 6379
POLL_SECONDS = 5.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kaito-inference-node",
        description="Lead or join the Ray cluster of a multi-node Workspace, then serve.",
    )
    p.add_argument("--nodes", type=int, required=True, help="pods in the Ray cluster")
    p.add_argument("--leader-service", required=True, help="the Service selecting pod 0")
    p.add_argument("--namespace", required=True)
    p.add_argument("--ray-port", type=int, default=RAY_PORT)
    p.add_argument(
        "--join-timeout", type=float, default=1800.0, help="seconds to wait for the cluster"
    )
    p.add_argument("server", nargs=argparse.REMAINDER, help="-- the server command (pod 0)")
    return p


def service_env_host(service: str) -> str | None:
    """The ClusterIP Kubernetes gives pods in ``<SERVICE>_SERVICE_HOST`` (service links)."""
    key = service.upper().replace("-", "_").replace(".", "_") + "_SERVICE_HOST"
    return os.environ.get(key) or None


def leader_host(service: str, namespace: str) -> str | None:
    """The head's address: the Service's DNS name if it resolves, else its ClusterIP from
    the environment; None when neither is known yet."""
    name = f"{service}.{namespace}.svc.cluster.local"
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        return service_env_host(service)
    return name


def _ray(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ray", *args], capture_output=True, text=True, check=False)


def _node_ip() -> list[str]:
    """``--node-ip-address`` from ``POD_IP`` (downward API): the address other pods reach."""
    ip = os.environ.get("POD_IP", "")
    return [f"--node-ip-address={ip}"] if ip else []


def alive_nodes(address: str) -> list[tuple[str, str]] | None:
    """(node id, address) of each node alive in the cluster at ``address``; None while its
    GCS does not answer."""
    import ray

    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception:
        return None
    try:
        return [
            (str(node.get("NodeID", "?")), str(node.get("NodeManagerAddress", "?")))
            for node in ray.nodes()
            if node.get("Alive")
        ]
    finally:
        ray.shutdown()


def lead(args: argparse.Namespace) -> int:  # noqa: RET503 - ends in exec
    started = _ray(
        "start", "--head", f"--port={args.ray_port}", "--include-dashboard=false", *_node_ip()
    )
    if started.returncode != 0:
        print(f"kaito-inference-node: ray start --head failed:\n{started.stderr}", file=sys.stderr)
        return 1
    address = f"127.0.0.1:{args.ray_port}"
    deadline = time.monotonic() + args.join_timeout
    alive = alive_nodes(address) or []
    while len(alive) < args.nodes:
        if time.monotonic() > deadline:
            print(
                f"kaito-inference-node: only {len(alive)} of {args.nodes} nodes joined the Ray "
                f"cluster in {args.join_timeout:.0f} s",
                file=sys.stderr,
            )
            return 1
        time.sleep(POLL_SECONDS)
        alive = alive_nodes(address) or []
    print(f"kaito-inference-node: Ray cluster formed: {len(alive)} of {args.nodes} nodes alive")
    for node_id, node_address in alive:
        print(f"kaito-inference-node: ray node {node_id} at {node_address} alive")
    status = _ray("status", f"--address={address}")
    print(status.stdout or status.stderr, flush=True)
    server = [word for word in args.server if word != "--"]
    if not server:
        return 0
    os.execvp(server[0], server)


def join(args: argparse.Namespace) -> int:  # noqa: RET503 - ends in exec
    deadline = time.monotonic() + args.join_timeout
    host = leader_host(args.leader_service, args.namespace)
    while host is None:
        if time.monotonic() > deadline:
            print(
                f"kaito-inference-node: the Ray head's Service {args.leader_service} has no "
                "address (no cluster DNS and no service environment)",
                file=sys.stderr,
            )
            return 1
        time.sleep(POLL_SECONDS)
        host = leader_host(args.leader_service, args.namespace)
    print(f"kaito-inference-node: joining the Ray head at {host}:{args.ray_port}", flush=True)
    os.execvp("ray", ["ray", "start", f"--address={host}:{args.ray_port}", "--block", *_node_ip()])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # pod traffic never leaves the cluster: no usage reports to Ray's servers
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if args.nodes < 2:
        print("kaito-inference-node: --nodes must be at least 2", file=sys.stderr)
        return 2
    if shutil.which("ray") is None:
        print(
            "kaito-inference-node: the ray package is not installed in this image", file=sys.stderr
        )
        return 2
    index = os.environ.get("POD_INDEX", "")
    if not index.isdigit():
        print("kaito-inference-node: POD_INDEX (the pod-index label) is not set", file=sys.stderr)
        return 2
    return lead(args) if index == "0" else join(args)


if __name__ == "__main__":
    sys.exit(main())
