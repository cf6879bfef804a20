"""``kaito presets list|skus|tuning``: the model presets and GPU SKUs kaito knows."""

from __future__ import annotations

import argparse

from kaito import presets


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("presets", help="list model presets and GPU instance types")
    parser.add_argument(
        "what",
        nargs="?",
        default="list",
        choices=("list", "tuning", "skus"),
        help="inference presets (default), tuning presets, or instance types",
    )
    parser.add_argument(
        "--cloud", default="azure", choices=presets.CLOUDS, help="SKU table for `skus`"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "list":
        print(presets.render_presets_table())
    elif args.what == "tuning":
        print(presets.render_tuning_table())
    else:
        print(presets.render_skus_table(args.cloud))
    return 0
