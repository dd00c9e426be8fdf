"""``memgym models prepare`` and ``memgym models list``: the default model in the local cache."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``memgym models`` with its two actions."""
    parser = subparsers.add_parser("models", help="prepare and list the embedded default model")
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)

    prepare = actions.add_parser(
        "prepare", help="convert the embedded SmolLM2 GGUF into a trainable model dir"
    )
    prepare.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="model directory to write (default: $MEMGYM_CACHE/models/smollm2-135m-instruct)",
    )
    prepare.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    prepare.set_defaults(func=run_prepare)

    listing = actions.add_parser("list", help="show the prepared model directories")
    listing.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="directory holding model dirs (default: $MEMGYM_CACHE/models)",
    )
    listing.set_defaults(func=run_list)


def run_prepare(args: argparse.Namespace) -> int:
    from memgym.errors import MemgymError
    from memgym.policies.models import prepare_default_model, prepared_models

    started = time.perf_counter()
    try:
        path = prepare_default_model(args.cache_dir, force=args.force)
    except MemgymError as exc:
        print(f"error: {exc}")
        return 1
    seconds = time.perf_counter() - started
    entry = next((m for m in prepared_models(path.parent) if m.path == path), None)
    size = f"{entry.size_bytes / 2**20:.0f} MiB" if entry else "?"
    print(f"prepared {path} ({size}) in {seconds:.1f}s")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from memgym.policies.models import models_dir, prepared_models

    root = args.cache_dir or models_dir()
    found = prepared_models(root)
    if not found:
        print(f"no prepared models under {root}; run `memgym models prepare`")
        return 0
    for model in found:
        when = model.info.get("prepared_at", "?")
        print(f"{model.name}\t{model.size_bytes / 2**20:.0f} MiB\t{when}\t{model.path}")
    return 0
