"""``memgym train`` and ``memgym quickstart``.

``memgym train --config configs/<name>.yaml key=value ...`` runs any training config (``algorithm``: grpo,
ppo, sft or rllib_ppo) with overrides; ``memgym train --help-config`` lists every field. ``memgym
quickstart`` trains a memory manager on the embedded defaults on a CPU and prints the before/after table.
Both resume a run killed midway when started again with the same ``run_name``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

QUICKSTART_CONFIG = "quickstart.yaml"


def packaged_config(name: str) -> Path:
    """A config shipped in ``memgym/configs`` (works from a checkout and from an installed wheel)."""
    path = Path(str(resources.files("memgym") / "configs" / name))
    if not path.is_file():
        from memgym.errors import ConfigError

        shipped = sorted(p.name for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise ConfigError(f"no packaged config {name!r}; shipped configs: {', '.join(shipped) or '(none)'}")
    return path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``quickstart`` (each once: cli.SUBCOMMANDS lists this module for both)."""
    if "train" not in subparsers.choices:
        train = subparsers.add_parser(
            "train",
            help="train a memory manager (GRPO, PPO, SFT, RLlib PPO) from a YAML config",
            description="Train a memory manager from a YAML config. Overrides: key=value with dotted keys, e.g. "
            "train.learning_rate=1e-6 algorithm=ppo env.kwargs.top_k=5.",
        )
        train.add_argument("--config", "-c", help="YAML config (a path, or the name of a shipped config)")
        train.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
        train.add_argument("--help-config", action="store_true", help="list every config field and exit")
        train.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
        train.set_defaults(func=run_train)
    if "quickstart" not in subparsers.choices:
        quick = subparsers.add_parser(
            "quickstart",
            help="train a memory manager on the embedded defaults (CPU) and compare it with its start and the baselines",
            description="GRPO from the untrained model on synthetic conversations, from the QA reward alone "
            "(configs/quickstart.yaml); prints the held-out table against the starting model and the heuristic "
            "baselines.",
        )
        quick.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
        quick.set_defaults(func=run_quickstart)


def _resolve_config_path(name: str | None) -> Path | None:
    """A config file, or the shipped config of that name; an error names both places it looked."""
    from memgym.errors import ConfigError

    if name is None:
        return None
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ConfigError(f"--config {name}: is a folder, not a YAML file")
    candidate = Path(name if name.endswith((".yaml", ".yml")) else f"{name}.yaml").name
    try:
        return packaged_config(candidate)
    except ConfigError as err:
        raise ConfigError(f"--config {name}: no such file, and {err}") from err


def run_train(args: argparse.Namespace) -> int:
    from memgym.trainers.config import describe_config

    if args.help_config:
        print(describe_config())
        return 0
    return _guarded("memgym train", lambda: _load(args.config, args.overrides, args.dry_run))


def run_quickstart(args: argparse.Namespace) -> int:
    return _guarded("memgym quickstart", lambda: _load(QUICKSTART_CONFIG, args.overrides, False))


def _load(config: str | None, overrides: list[str], dry_run: bool) -> int:
    from memgym.trainers.config import load_config

    cfg = load_config(_resolve_config_path(config), overrides)
    if dry_run:
        print(cfg.to_yaml())
        return 0
    return _run(cfg)  # run_training checks what the values name before it loads a model


def _guarded(prog: str, run: Callable[[], int]) -> int:
    """Run ``run``; a memgym error becomes one line on stderr and exit status 2 (``--debug`` or
    ``MEMGYM_DEBUG=1``: the traceback instead; see :mod:`memgym.cli`)."""
    from memgym.cli import debug_enabled
    from memgym.errors import MemgymError

    try:
        return run()
    except MemgymError as err:
        if debug_enabled():
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2


def _run(cfg) -> int:  # noqa: ANN001 - a TrainConfig
    from memgym.trainers.pipeline import run_training
    from memgym.trainers.report import markdown_table
    from memgym.trainers.results import TABLE_COLUMNS

    result = run_training(cfg)
    print(markdown_table(result.rows, list(TABLE_COLUMNS)))
    if result.extra.get("verdict"):
        print(f"\n{result.extra['verdict']}")
    print(f"\nrun folder: {result.run_dir}  (report: {result.report}; {result.seconds:.0f} s)")
    return 0
