"""The flags that make :class:`~kaito.controllers.settings.Settings`, shared by every command
that renders manifests: ``kaito manager`` (which acts on them) and ``kaito render`` (which
prints what the manager would create with the same flags).
"""

from __future__ import annotations

import argparse
import os

from kaito.api import constants as c
from kaito.controllers.settings import Settings
from kaito.urlguard import parse_networks


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--disable-node-auto-provisioning",
        action="store_true",
        help="never create NodeClaims: use existing GPU nodes that match labelSelector (BYO)",
    )
    parser.add_argument(
        "--runtime-contract",
        choices=c.CONTRACTS,
        default=None,
        help="whose image serves presets unless a Workspace's kaito.sh/runtime-contract "
        "annotation says: upstream's published kaito-base image with upstream's command "
        "lines (default), or kaito's own --inference-image",
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
        "and for every tuning Job's data downloader "
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
    parser.add_argument(
        "--max-nodes-per-workspace",
        type=int,
        default=c.DEFAULT_MAX_NODE_COUNT,
        help="the largest resource.count a Workspace may ask for (default %(default)s); "
        "refused at admission, or with InvalidSpec when the webhook is off",
    )
    parser.add_argument(
        "--status-hold",
        type=float,
        default=5.0,
        help="seconds a Workspace's intermediate status (nodes or pods on their way) waits "
        "before it is written, so that a state gone sooner costs no API write; a settled "
        "status is written at once; while the API client is throttled it waits up to six "
        "times as long; 0 writes every change (default %(default)s)",
    )
    parser.add_argument("--cloud", default=os.environ.get("CLOUD_PROVIDER", "azure"))


def comma_list(text: str) -> tuple[str, ...]:
    """``a:5000, b`` -> ("a:5000", "b"): a comma-separated flag's values, blanks dropped."""
    return tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the flags (then upstream's environment variables); ValueError on a bad
    ``--trusted-data-networks``, ``--max-nodeclaims`` or ``--status-hold``, with a message
    naming the flag."""
    networks = comma_list(args.trusted_data_networks)
    try:
        parse_networks(networks)
    except ValueError as err:
        raise ValueError(f"--trusted-data-networks: {err}") from None
    if args.max_nodes_per_workspace < 1:
        raise ValueError(
            f"--max-nodes-per-workspace: must be at least 1, not {args.max_nodes_per_workspace}"
        )
    if args.max_nodeclaims < 1:
        raise ValueError(f"--max-nodeclaims: must be at least 1, not {args.max_nodeclaims}")
    if not 0 <= args.status_hold <= 300:
        raise ValueError(f"--status-hold: must be 0 to 300 seconds, not {args.status_hold:g}")
    return Settings.from_env(
        preset_registry=args.preset_registry,
        runtime_contract=args.runtime_contract,
        cloud=args.cloud,
        node_auto_provisioning=not args.disable_node_auto_provisioning,
        inference_image=args.inference_image,
        tuning_image=args.tuning_image,
        weights_puller_image=args.weights_puller_image,
        puller_image=args.puller_image,
        insecure_registries=comma_list(args.insecure_registries) or None,
        trusted_data_networks=networks or None,
        max_nodeclaims=args.max_nodeclaims,
        max_nodes_per_workspace=args.max_nodes_per_workspace,
        status_hold=args.status_hold,
    )
