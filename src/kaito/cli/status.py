"""``kaito status <workspace>``: why a Workspace is not ready yet, in plain words.

Reads the Workspace, its NodeClaims and nodes, its workload and pods and recent Warning
events (what a person would chase with several kubectl commands) and prints the stage it
is stuck at, the evidence, and what to do.
"""

from __future__ import annotations

import argparse
import asyncio

from kaito import kinds
from kaito.api import constants as c
from kaito.controllers.explain import diagnose
from kaito.runtime import resources as r
from kaito.runtime.client import Client
from kaito.runtime.errors import NotFound


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="explain why a Workspace is (not) ready")
    parser.add_argument("workspace", help="Workspace name")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG)")
    parser.set_defaults(handler=run)


async def _status(args: argparse.Namespace) -> int:
    client = await Client.from_environment(args.kubeconfig)
    try:
        try:
            ws = await client.get(kinds.WORKSPACE, args.workspace, args.namespace)
        except NotFound:
            print(f"workspace {args.namespace}/{args.workspace} not found")
            return 1
        selector = (
            f"{c.LABEL_WORKSPACE}={args.workspace},{c.LABEL_WORKSPACE_NAMESPACE}={args.namespace}"
        )
        claims = (await client.list(kinds.NODECLAIM, label_selector=selector)).items
        workers = set((ws.get("status") or {}).get("workerNodes") or [])
        node_names = workers | {
            n for cl in claims if (n := (cl.get("status") or {}).get("nodeName"))
        }
        nodes = []
        for name in sorted(node_names):
            try:
                nodes.append(await client.get(r.NODE, name))
            except NotFound:
                continue
        workload = None
        for rt in (r.DEPLOYMENT, r.STATEFUL_SET):
            try:
                workload = await client.get(rt, args.workspace, args.namespace)
                break
            except NotFound:
                continue
        pods = (
            await client.list(
                r.POD, args.namespace, label_selector=f"{c.LABEL_WORKSPACE}={args.workspace}"
            )
        ).items
        events = (
            await client.list(
                r.EVENT,
                args.namespace,
                field_selector=f"involvedObject.name={args.workspace}",
            )
        ).items
    finally:
        await client.close()
    print(diagnose(ws, claims, nodes, workload, pods, events).render())
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_status(args))
