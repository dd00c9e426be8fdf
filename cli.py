"""The ``memgym`` command. Each subcommand lives beside the code it drives and is listed here once.

A subcommand module exposes ``add_parser(subparsers)``, which adds its parser and sets ``func``
(called with the parsed namespace, returning an exit code). Modules keep heavy imports inside
their functions so ``memgym --help`` stays fast.

**Errors.** Every error reaches the user as one line naming what to fix: a memgym error
(:class:`~memgym.errors.MemgymError`: a bad config value, a dataset problem, an unknown name) exits with
status 2, any other exception with 1, Ctrl-C with 130. ``memgym --debug ...`` or ``MEMGYM_DEBUG=1``
shows the traceback instead. memgym's warnings (:class:`~memgym.errors.DatasetWarning`) print as one
``memgym: warning: ...`` line each.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from memgym import __version__

#: Set to 1 (or true, yes, on) to see tracebacks instead of one-line errors.
DEBUG_ENV_VAR = "MEMGYM_DEBUG"


def debug_enabled() -> bool:
    """Whether tracebacks are wanted (``--debug`` or ``$MEMGYM_DEBUG``)."""
    return os.environ.get(DEBUG_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")

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
    parser.add_argument(
        "--debug", action="store_true", help=f"show tracebacks instead of one-line errors (or ${DEBUG_ENV_VAR}=1)"
    )
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
    if args.debug:
        previous = os.environ.get(DEBUG_ENV_VAR)
        os.environ[DEBUG_ENV_VAR] = "1"  # subcommands that catch errors themselves see it too
        try:
            return int(args.func(args) or 0)
        finally:
            if previous is None:
                os.environ.pop(DEBUG_ENV_VAR, None)
            else:
                os.environ[DEBUG_ENV_VAR] = previous
    prog = f"memgym {args.command}"
    with warnings.catch_warnings():
        _one_line_warnings()
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        except Exception as err:  # noqa: BLE001 - the command line's last resort: one line, not a traceback
            if debug_enabled():
                raise
            from memgym.errors import MemgymError

            if isinstance(err, MemgymError):
                print(f"{prog}: error: {err}", file=sys.stderr)
                return 2
            detail = str(err).strip().splitlines()[0] if str(err).strip() else "(no message)"
            print(
                f"{prog}: error: {type(err).__name__}: {detail} (run `memgym --debug {args.command} ...` "
                f"or set {DEBUG_ENV_VAR}=1 for the traceback)",
                file=sys.stderr,
            )
            return 1


def _one_line_warnings() -> None:
    """Print memgym's dataset warnings as one ``memgym: warning: ...`` line (other warnings as usual)."""
    from memgym.errors import DatasetWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' hook
        if issubclass(category, DatasetWarning):
            print(f"memgym: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


if __name__ == "__main__":
    raise SystemExit(main())
