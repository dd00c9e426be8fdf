"""Benchmark: what one environment step costs in retrieval as the memory bank grows.

A step is what a Memory-R1 style environment does per turn: apply one small batch of operations
(adds, an update, a delete) to the bank, then search it once. Retrievers follow the bank as it
changes, so the step is split in three columns: ``apply`` is ``bank.apply`` including the index
updates made while it runs (BM25 updates its inverted index there, entry by entry); ``refresh`` is the
index work left for the search (dense: embedding the changed texts; BM25: none); ``search`` is the
query itself. ``build`` is indexing the whole bank once (attach + refresh); ``clone`` is
``retriever.clone_for(bank.copy())``, what a trainer pays per branched rollout.

Run::

    .venv/bin/python experiments/bench_bank_retrieval.py --sizes 100 1000 10000 100000 --steps 50
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from memgym.envs.memory_bank import MemoryBank  # noqa: E402
from memgym.envs.operations import Operation  # noqa: E402
from memgym.envs.retrieval import make_retriever  # noqa: E402

FIRST = "Alice Bruno Chen Dana Emil Farah Goran Hana Ivan Jon Kira Lena Marco Nadia Omar Priya Quinn Rosa Sven Tara".split()
LAST = "Ahmed Berg Costa Duval Evans Fischer Garcia Horvat Ito Jensen Kowalski Lopez Moreau Novak Okafor Patel".split()
VERBS = [
    "moved to",
    "bought a house in",
    "started a job in",
    "went hiking near",
    "opened a bakery in",
    "adopted a dog in",
    "studied music in",
    "ran a marathon in",
    "got married in",
    "taught chess in",
]
CITIES = (
    "Lisbon Oslo Kyoto Denver Nairobi Lima Prague Austin Hanoi Dublin Seoul Porto Quebec Tunis Zagreb".split()
)
EXTRAS = [
    "with a friend",
    "after a long winter",
    "for the second time",
    "on a rainy weekend",
    "with two cousins",
    "to everyone's surprise",
    "while learning Spanish",
    "after retiring early",
    "during a heat wave",
    "",
]


def fact(rng: random.Random) -> str:
    """A synthetic fact sentence; names, cities and years make the vocabulary grow with the bank."""
    extra = rng.choice(EXTRAS)
    return (
        f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(VERBS)} {rng.choice(CITIES)} "
        f"in {rng.randint(1950, 2025)}{' ' + extra if extra else ''}."
    )


def query(rng: random.Random) -> str:
    return f"Where did {rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(VERBS).split()[0]} in {rng.randint(1950, 2025)}?"


def op_batch(bank: MemoryBank, rng: random.Random, size: int) -> list[Operation]:
    """``size`` operations: half adds, the rest alternating update and delete of random entries."""
    ids = [e.id for e in rng.sample(bank.entries(), k=min(size, len(bank)))]
    ops: list[Operation] = []
    for i in range(size):
        if i % 2 == 0 or not ids:
            ops.append(Operation.add(fact(rng)))
        elif i % 4 == 1:
            ops.append(Operation.update(ids.pop(), fact(rng)))
        else:
            ops.append(Operation.delete(ids.pop()))
    return ops


def timed(fn: Callable[[], object]) -> float:
    """Milliseconds ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


@dataclass
class Row:
    size: int
    retriever: str
    build_s: float
    step_mean: float
    step_p95: float
    apply_mean: float
    refresh_mean: float
    search_mean: float
    clone_ms: float


def bench_one(name: str, size: int, steps: int, ops_per_step: int, k: int, seed: int) -> Row:
    """Build a bank of ``size`` facts, index it, then time ``steps`` apply+search steps."""
    rng = random.Random(seed)
    bank = MemoryBank()
    bank.apply([Operation.add(fact(rng)) for _ in range(size)])
    retriever = make_retriever(name)
    build_ms = timed(lambda: (retriever.attach(bank), retriever.refresh()))
    retriever.search(query(rng), k=k)  # warm caches (query path) outside the timed steps
    step_ms, apply_ms, refresh_ms, search_ms = [], [], [], []
    for _ in range(steps):
        ops = op_batch(bank, rng, ops_per_step)
        q = query(rng)
        apply_t = timed(lambda ops=ops: bank.apply(ops))
        refresh_t = timed(retriever.refresh)
        search_t = timed(lambda q=q: retriever.search(q, k=k))
        step_ms.append(apply_t + refresh_t + search_t)
        apply_ms.append(apply_t)
        refresh_ms.append(refresh_t)
        search_ms.append(search_t)
    copied = bank.copy()  # the bank copy itself is the bank's cost, not the retriever's
    clone_ms = timed(lambda: retriever.clone_for(copied))
    return Row(
        size,
        name,
        build_ms / 1000,
        statistics.fmean(step_ms),
        p95(step_ms),
        statistics.fmean(apply_ms),
        statistics.fmean(refresh_ms),
        statistics.fmean(search_ms),
        clone_ms,
    )


def markdown(rows: list[Row], skipped: list[tuple[int, str]], args: argparse.Namespace) -> str:
    lines = [
        f"Retrieval step cost: {args.steps} steps of {args.ops_per_step} ops (adds, update, delete) + 1 search "
        f"(k={args.k}), seed {args.seed}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, torch threads {args.torch_threads or 'default'}.",
        "",
        "| bank size | retriever | build (s) | step mean (ms) | step p95 (ms) | apply mean (ms) "
        "| refresh mean (ms) | search mean (ms) | clone (ms) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.size:,} | {r.retriever} | {r.build_s:.2f} | {r.step_mean:.2f} | {r.step_p95:.2f} | "
            f"{r.apply_mean:.2f} | {r.refresh_mean:.2f} | {r.search_mean:.2f} | {r.clone_ms:.1f} |"
        )
    for size, name in skipped:
        lines.append(
            f"| {size:,} | {name} | skipped: above --max-dense-size {args.max_dense_size:,} | | | | | | |"
        )
    lines += [
        "",
        "apply = bank.apply with the index updates made as the retriever follows the bank (bm25: "
        "postings, lengths and document frequencies of the changed entries); refresh = the lazy index "
        "work left for the next search (dense: embedding the added/updated texts; bm25: none). "
        "step = apply + refresh + search.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000, 100000])
    parser.add_argument("--retriever", nargs="+", default=["bm25", "dense"], choices=["bm25", "dense"])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per bank size")
    parser.add_argument("--ops-per-step", type=int, default=4, help="operations applied per step")
    parser.add_argument("--k", type=int, default=10, help="hits per search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-dense-size",
        type=int,
        default=10000,
        help="skip dense banks larger than this (embedding 100k facts on 2 CPU cores takes long)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch CPU threads for the dense model (0: torch's default); on a shared 2-core "
        "machine one thread avoids oversubscription, which made encoding ~10x slower",
    )
    parser.add_argument("--output", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.ops_per_step < 1 or any(s < 1 for s in args.sizes):
        parser.error("--steps, --ops-per-step and --sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.torch_threads > 0 and "dense" in args.retriever:
        import torch

        torch.set_num_threads(args.torch_threads)
    rows: list[Row] = []
    skipped: list[tuple[int, str]] = []
    for name in args.retriever:
        for size in args.sizes:
            if name == "dense" and size > args.max_dense_size:
                skipped.append((size, name))
                continue
            print(f"benchmarking {name} at {size:,} entries ...", file=sys.stderr, flush=True)
            rows.append(bench_one(name, size, args.steps, args.ops_per_step, args.k, args.seed))
    table = markdown(rows, skipped, args)
    print(table)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
