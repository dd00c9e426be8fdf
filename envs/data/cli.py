"""``memgym data``: generate synthetic episodes, print dataset statistics, convert between formats.

Examples::

    memgym data generate --out data/synthetic.jsonl --n-episodes 100 --seed 0
    memgym data generate --out data/long.jsonl --n-episodes 1 --target-tokens 1000000
    memgym data generate --out data/hard.jsonl --set n_entities=12 --set update_rate=0.6
    memgym data stats data/synthetic.jsonl
    memgym data stats locomo10.json --format locomo --json
    memgym data convert locomo10.json data/locomo.jsonl
    memgym data convert locomo10.json data/locomo_r1 --split memory-r1
    memgym data convert ../shared/data/locomo-dev --split memory-r1 --out data/locomo_dev_r1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from memgym.errors import ConfigError, MemgymError


def add_parser(subparsers: Any) -> None:
    """Add ``memgym data`` and its subcommands."""
    parser = subparsers.add_parser(
        "data",
        help="generate, inspect and convert conversation data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: (parser.print_help(), 0)[1])
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    gen = sub.add_parser("generate", help="write synthetic episodes (generic JSONL or parquet)")
    gen.add_argument("--out", "-o", required=True, type=Path, help="output file (.jsonl or .parquet)")
    gen.add_argument("--n-episodes", "-n", type=int, default=100, help="number of episodes (default 100)")
    gen.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    gen.add_argument("--config", type=Path, help="YAML file of SyntheticConfig fields")
    gen.add_argument("--target-tokens", type=int, help="grow each conversation to at least this many tokens")
    gen.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one SyntheticConfig field (YAML value), e.g. --set n_entities=12",
    )
    gen.set_defaults(func=_generate)

    stats = sub.add_parser("stats", help="count conversations, sessions, turns, tokens, questions, op labels")
    stats.add_argument("path", help="a data file or folder ('cri' for the installed CRI persona dataset)")
    stats.add_argument(
        "--format", help="locomo, longmemeval, memoryagentbench, cri or jsonl (default: detect)"
    )
    stats.add_argument(
        "--tokenizer", help="count tokens with this local Hugging Face tokenizer (default: words)"
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(func=_stats)

    conv = sub.add_parser("convert", help="convert any supported format to generic JSONL or parquet")
    conv.add_argument("source", help="input file or folder")
    conv.add_argument(
        "out", type=Path, nargs="?", help="output file (.jsonl or .parquet), or folder with --split"
    )
    conv.add_argument("--out", "-o", dest="out_flag", type=Path, help="the output, as an option instead")
    conv.add_argument("--format", help="input format (default: detect)")
    conv.add_argument("--split", choices=["memory-r1"], help="write train/validation/test files (LoCoMo)")
    conv.set_defaults(func=_convert)


def _guarded(func: Any) -> Any:
    """Print memgym's errors as one line and exit 2, instead of a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except MemgymError as exc:
            print(f"memgym data: error: {exc}", file=sys.stderr)
            return 2

    return run


def _config(args: argparse.Namespace) -> Any:
    import yaml

    from memgym.envs.data.synthetic import SyntheticConfig

    values: dict[str, Any] = {}
    if args.config is not None:
        loaded = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{args.config} must hold a mapping of SyntheticConfig fields")
        values.update(loaded)
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        values[key.strip()] = yaml.safe_load(raw)
    if args.target_tokens is not None:
        values["target_tokens"] = args.target_tokens
    return SyntheticConfig.from_dict(values)


@_guarded
def _generate(args: argparse.Namespace) -> int:
    import time

    from memgym.envs.data import episode_tokens, iter_synthetic, save_episodes

    config = _config(args)
    start = time.perf_counter()
    episodes = list(iter_synthetic(args.n_episodes, args.seed, config))
    seconds = time.perf_counter() - start
    save_episodes(episodes, args.out)
    tokens = sum(episode_tokens(ep) for ep in episodes)
    print(
        f"wrote {len(episodes)} episodes ({tokens:,} tokens, generated in {seconds:.2f} s, "
        f"{tokens / max(seconds, 1e-9):,.0f} tokens/s) to {args.out}"
    )
    return 0


def _load(source: str, format: str | None) -> list:
    from memgym.envs.data import load_episodes, resolve_episodes

    if source == "cri" and format is None and not Path(source).exists():
        return resolve_episodes("cri")
    return load_episodes(source, format=format)


@_guarded
def _stats(args: argparse.Namespace) -> int:
    from memgym.envs.data.stats import dataset_stats, format_stats

    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    stats = dataset_stats(_load(args.path, args.format), tokenizer)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


@_guarded
def _convert(args: argparse.Namespace) -> int:
    from memgym.envs.data import memory_r1_split, save_episodes

    if (args.out is None) == (args.out_flag is None):
        raise ConfigError("give the output once: `convert SOURCE OUT` or `convert SOURCE --out OUT`")
    args.out = args.out or args.out_flag
    episodes = _load(args.source, args.format)
    if args.split == "memory-r1":
        for name, part in memory_r1_split(episodes).items():
            path = save_episodes(part, args.out / f"{name}.jsonl")
            print(
                f"{name}: {len(part)} conversations, {sum(len(e.questions) for e in part)} questions -> {path}"
            )
        return 0
    save_episodes(episodes, args.out)
    print(f"wrote {len(episodes)} episodes to {args.out}")
    return 0
