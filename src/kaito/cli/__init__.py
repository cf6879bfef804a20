"""The ``kaito`` command: one entry point, a subcommand per job.

Each subcommand lives in its own module and registers itself through a
``register(subparsers)`` function, so adding one never touches the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

SUBCOMMANDS = ("testenv", "presets", "manager", "provisioner", "local-nodes", "render", "status")

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kaito", description="Serve and fine-tune AI models on Kubernetes GPU nodes."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"kaito.cli.{name.replace('-', '_')}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kaito.cli.{name.replace('-', '_')}":
                continue  # subcommand not part of this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kaito presets list | head`
        sys.stderr.close()
        return 0
    except Exception as exc:  # a person reads this: no stack trace, just what failed
        if getattr(args, "debug", False):
            raise
        print(f"kaito {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
