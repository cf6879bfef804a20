"""``kaito render -f ws.yaml``: print what kaito would create for a Workspace, offline.

Validation runs first (as the admission webhook would); then the NodeClaims and the
workload (a tuning Workspace: its Job, after kaito's default training ConfigMap) are rendered
through exactly the code the controller uses, with the manager's
own settings flags (images, registries, cloud).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from kaito.api.validation import validate_create
from kaito.api.wire import WireError, workspace_from_dict
from kaito.cli.settings_flags import add_settings_flags, settings_from_args
from kaito.controllers import desired, nodeclaims
from kaito.presets import default_catalog
from kaito.render import dump_documents


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render", help="print the manifests kaito would create for a Workspace"
    )
    parser.add_argument(
        "-f", "--filename", required=True, help="Workspace YAML file, or - for stdin"
    )
    parser.add_argument(
        "-n", "--namespace", default="default", help="namespace if the file has none"
    )
    add_settings_flags(parser)
    parser.set_defaults(handler=run)


def _load(path: str) -> dict[str, Any]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def run(args: argparse.Namespace) -> int:
    data = _load(args.filename)
    data.setdefault("metadata", {}).setdefault("namespace", args.namespace)
    data["metadata"].setdefault("uid", "00000000-0000-0000-0000-000000000000")
    try:
        ws = workspace_from_dict(data)
    except WireError as exc:
        print(f"kaito render: invalid Workspace: {exc}", file=sys.stderr)
        return 1
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"kaito render: {exc}", file=sys.stderr)
        return 2
    catalog = default_catalog()
    result = validate_create(
        ws,
        node_auto_provisioning=settings.node_auto_provisioning,
        cloud=settings.cloud,
        catalog=catalog,
        trusted_data_networks=settings.data_networks,
        max_node_count=settings.max_nodes_per_workspace,
        runtime_contract=settings.runtime_contract,
    )
    for warning in result.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    if result.errors:
        for error in result.errors:
            print(f"error: {error}", file=sys.stderr)
        return 1
    resolved = desired.resolve(ws, catalog, settings)
    objects = [
        nodeclaims.nodeclaim(ws, i, resolved.preset or resolved.tuning, settings)
        for i in range(resolved.nodes)
    ]
    if ws.tuning is not None:
        try:
            objects += desired.tuning_objects(ws, resolved, settings, revision="1")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        objects += desired.inference_objects(ws, resolved, settings, revision="1")
    sys.stdout.write(dump_documents(objects))
    return 0
