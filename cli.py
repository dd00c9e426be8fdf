"""The ``memgym`` command. Each subcommand lives beside the code it drives and is listed here once.

A subcommand module exposes ``add_parser(subparsers)``, which adds its parser and sets ``func``
(called with the parsed namespace, returning an exit code). Modules keep heavy imports inside
their functions so ``memgym --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from memgym import __version__

#: (subcommand, module that defines it). Add one line per subcommand.
SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("models", "memgym.policies.models_cli"),
    ("data", "memgym.envs.data.cli"),
    ("bench", "memgym.policies.bench.cli"),
    ("train", "memgym.trainers.cli"),
    ("quickstart", "memgym.trainers.cli"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memgym", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"memgym {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, module in SUBCOMMANDS:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
