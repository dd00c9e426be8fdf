"""The environments' own cost per step: parse + apply + retrieve + answer + reward, without a policy.

A policy's action is computed before the clock starts (the synthetic oracle's operations rendered as the
text each environment asks for, or a random well-formed action), so the time measured is what the
environment adds to every step of a rollout. Question points (steps that answer questions with the
extractive agent) are reported separately, since they cost more.

Usage::

    python experiments/bench_env_step.py                      # ~5k and ~1M token episodes, oracle policy
    python experiments/bench_env_step.py --lengths 5000 --policy random --max-steps 2000
    python experiments/bench_env_step.py --lengths 1000000 --policy add_all --max-steps 5000 --envs manager

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from memgym.envs.construct import MemoryConstructEnv
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.manager import MemoryManagerEnv
from memgym.envs.operations import Operation
from memgym.envs.overwrite import MemoryOverwriteEnv

ENVS = {"manager": MemoryManagerEnv, "construct": MemoryConstructEnv, "overwrite": MemoryOverwriteEnv}


def bench(env_name: str, episode, policy: str, max_steps: int | None, seed: int) -> dict:
    """Step one episode; return timing and size figures."""
    t0 = time.perf_counter()
    env = ENVS[env_name]([episode])
    env.reset(seed=seed, options={"episode_index": 0})
    setup = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    plain, answering = [], []
    terminated, info = False, {}
    while not terminated and (max_steps is None or len(plain) + len(answering) < max_steps):
        if policy == "oracle":
            action = env.oracle_action()
        elif policy == "random":
            action = env.random_action(rng)
        else:  # add_all: store every step's first candidate, the worst case for retrieval
            action = (
                env.random_action(rng)
                if env_name == "overwrite"
                else env._render_action(
                    [Operation.add(env._candidates(env.current_unit)[0], tier=env.bank.default_tier)]
                )
            )
        start = time.perf_counter()
        *_, terminated, _, info = env.step(action)
        elapsed = time.perf_counter() - start
        (answering if info["answers"] else plain).append(elapsed)
    times = np.array(plain + answering) * 1000
    return {
        "env": env_name,
        "steps": len(times),
        "setup_s": setup,
        "mean_ms": times.mean(),
        "p50_ms": np.percentile(times, 50),
        "p95_ms": np.percentile(times, 95),
        "max_ms": times.max(),
        "answer_ms": np.mean(answering) * 1000 if answering else float("nan"),
        "n_answer": len(answering),
        "entries": info.get("memory_entries", 0),
        "mem_tokens": info.get("memory_tokens", 0),
        "qa": info.get("episode_qa", float("nan")),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[5_000, 1_000_000],
        help="episode lengths in whitespace tokens",
    )
    parser.add_argument("--envs", nargs="+", choices=list(ENVS), default=list(ENVS))
    parser.add_argument(
        "--policy",
        choices=["oracle", "random", "add_all"],
        default="oracle",
        help="oracle: the synthetic labels; random: random well-formed actions; add_all: ADD "
        "every step (the bank grows with the episode)",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="stop each episode after this many steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rows = []
    for length in args.lengths:
        t0 = time.perf_counter()
        episode = generate_synthetic(1, seed=args.seed, config=SyntheticConfig(target_tokens=length))[0]
        generated = time.perf_counter() - t0
        n_tokens = sum(len(t.text.split()) for t in episode.turns())
        print(
            f"episode of ~{length:,} tokens: {len(episode.turns()):,} turns, {n_tokens:,} turn tokens, "
            f"{len(episode.questions)} questions (generated in {generated:.1f} s)",
            flush=True,
        )
        for env_name in args.envs:
            row = bench(env_name, episode, args.policy, args.max_steps, args.seed)
            row["length"] = length
            rows.append(row)
            print(f"  {env_name}: {row['steps']:,} steps, {row['mean_ms']:.3f} ms/step", flush=True)

    print(f"\npolicy: {args.policy} (its time excluded); answer agent: extractive; retriever: bm25\n")
    print(
        "| episode tokens | env | steps | setup s | mean ms/step | p50 ms | p95 ms | max ms "
        "| ms/step with questions (n) | final entries / tokens | episode QA |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['length']:,} | {r['env']} | {r['steps']:,} | {r['setup_s']:.2f} | {r['mean_ms']:.3f} "
            f"| {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {r['max_ms']:.1f} | {r['answer_ms']:.2f} ({r['n_answer']}) "
            f"| {r['entries']} / {r['mem_tokens']} | {r['qa']:.2f} |"
        )


if __name__ == "__main__":
    main()
