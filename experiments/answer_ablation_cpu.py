"""The answer agent trained by ``configs/answer_agent_cpu.yaml``, plugged into the bench as the answer agent of
``memgym/MemoryManager-v0``: two memory managers x the base and the trained answerer, on the run's held-out data.

    .venv/bin/memgym train --config configs/answer_agent_cpu.yaml            # writes runs/answer_agent_cpu/final
    .venv/bin/python experiments/answer_ablation_cpu.py runs/answer_agent_cpu/final [--episodes 2] [--managers mem0_heuristic]

On 2 shared CPU cores every question is its own small generation call (the bench answers each question point
as the conversation reaches it): the full 4 conversations x 2 managers x 2 answerers take over 15 minutes.

The held-out conversations, the 5 memories per question and the ``choices`` grammar are the CPU run's, so the
(mem0_heuristic, base / trained) cells are the run's before / after figures measured again, this time by the
bench's llm answer agent inside the manager's environment (a check that the trained answerer transfers).
The managers are two baselines (no trained manager is involved in this CPU check).
"""

from __future__ import annotations

import argparse


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="the trained answer agent (a run's final/ folder)")
    p.add_argument("--out", default="runs/answer_ablation")
    p.add_argument("--episodes", type=int, help="the first N held-out conversations (default: all 4)")
    p.add_argument("--managers", nargs="+", default=["mem0_heuristic", "oracle"], help="baseline managers")
    args = p.parse_args()

    import yaml

    from memgym.envs.data import resolve_episodes
    from memgym.policies.answer_ablation import llm_answerer, run_answer_ablation
    from memgym.trainers.cli import packaged_config

    cfg = yaml.safe_load(packaged_config("answer_agent_cpu.yaml").read_text())
    data = {**cfg["env"]["kwargs"]["episode_kwargs"], **cfg["env"]["eval_kwargs"]["episode_kwargs"]}
    episodes = resolve_episodes("synthetic", **data)[: args.episodes]
    result = run_answer_ablation(
        {name: name for name in args.managers},
        {"base answerer": llm_answerer(None, 32, "choices"), "trained answerer": llm_answerer(args.checkpoint, 32, "choices")},
        "memgym/MemoryManager-v0", episodes, env_kwargs={"answer_top_k": cfg["env"]["kwargs"]["answer_top_k"]},
        metrics=("em",), progress=False,
    )
    path = result.save(args.out)
    n = sum(len(ep.questions) for ep in episodes)
    print(f"{len(episodes)} conversations, {n} questions\n" + result.markdown("em") + f"\nreport: {path}")


if __name__ == "__main__":
    main()
