"""The ``emgkit`` command line: one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` (which sets
``func=run`` on its parser) and ``run(args) -> int``. User errors
(:class:`emgkit.EmgkitError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS = ("info", "formats", "simulate", "detect", "batch", "bench")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="emgkit",
        description="Detect and summarise spontaneous motor-unit activity in EMG recordings.",
    )
    parser.add_argument("--version", action="version", version=f"emgkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{name}":
                continue  # subcommand not part of this build
            raise
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    from ..errors import EmgkitError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except EmgkitError as exc:
        print(f"emgkit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
