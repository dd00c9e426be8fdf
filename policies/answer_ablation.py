"""Memory-R1's ablation in one command: every memory manager with every answer agent.

Memory-R1 (arXiv 2508.19828, Table 3) reports its two trained agents alone and together: base / trained
manager x base / trained answer agent. :func:`run_answer_ablation` runs the bench
(:func:`memgym.policies.bench.run_bench`) once per answer agent, with every manager, on the same episodes,
and :class:`AblationResult` lays the QA scores out as that table::

    python -m memgym.policies.answer_ablation --base-model M0 --manager-model runs/mgr/final \\
        --answerer-model runs/ans/final --data locomo10.json --out runs/ablation

A trained answer agent is an ``llm`` answer agent on the checkpoint (:class:`~memgym.policies.bench.AgentSpec`
with ``backend_spec("hf", model=PATH)``): it reads the prompt ``memgym/AnswerAgent-v0`` trained it on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgym.policies.bench import AgentSpec, PolicySpec, backend_spec, run_bench

#: What the bench's CLI gives an llm answer agent: the environment's ``answer_top_k`` decides.
_ALL_RETRIEVED = (("top_k", 100_000),)


@dataclass
class AblationResult:
    """One :class:`~memgym.policies.bench.BenchResult` per answer agent, each with every manager."""

    results: dict[str, Any]
    managers: list[str]

    def table(self, metric: str = "em") -> dict[tuple[str, str], float | None]:
        """(manager, answer agent) -> the overall QA score under ``metric``."""
        return {
            (m, a): result.summary()[m]["overall"].get(metric)
            for a, result in self.results.items()
            for m in self.managers
        }

    def markdown(self, metric: str = "em") -> str:
        """The table: one row per manager, one column per answer agent."""
        table = self.table(metric)
        agents = list(self.results)
        lines = [f"| manager \\ answer agent ({metric}) | " + " | ".join(agents) + " |",
                 "|---|" + "---|" * len(agents)]
        for m in self.managers:
            cells = ["-" if table[(m, a)] is None else f"{table[(m, a)]:.3f}" for a in agents]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def save(self, out: str | Path, metric: str = "em") -> Path:
        """Each answer agent's bench report in its own folder, and ``ablation.md``."""
        out = Path(out)
        for agent, result in self.results.items():
            result.save(out / agent, plots=False)
        path = out / "ablation.md"
        path.write_text("# Memory manager x answer agent\n\n" + self.markdown(metric), encoding="utf-8")
        return path


def run_answer_ablation(
    managers: Mapping[str, str | PolicySpec],
    answerers: Mapping[str, Any],
    env_id: str = "memgym/MemoryManager-v0",
    episodes: Any = "synthetic",
    **bench_kwargs: Any,
) -> AblationResult:
    """Run every manager (label -> policy name or :class:`PolicySpec`) with every answer agent (label ->
    :class:`AgentSpec` or agent object) through the bench; ``bench_kwargs`` go to ``run_bench``."""
    specs = [_labelled(label, spec) for label, spec in managers.items()]
    results = {label: run_bench(specs, env_id, episodes, answer_agent=agent, **bench_kwargs)
               for label, agent in answerers.items()}
    return AblationResult(results, list(managers))


def _labelled(label: str, spec: str | PolicySpec) -> PolicySpec:
    spec = PolicySpec(spec) if isinstance(spec, str) else spec
    return spec if spec.display == label else PolicySpec(spec.name, spec.kwargs, spec.backend, label)


def llm_manager(model: str | None, max_new_tokens: int = 256, constrained: str | None = None) -> PolicySpec:
    """The ``llm`` memory manager on a checkpoint (``None``: the prepared SmolLM2), greedy."""
    from memgym.policies.backends import SamplingParams

    kwargs = {"params": SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)}
    if constrained:
        kwargs["constrained"] = constrained
    return PolicySpec("llm", tuple(sorted(kwargs.items())), backend_spec("hf", model=model))


def llm_answerer(model: str | None, max_new_tokens: int = 128, constrained: str | None = None) -> AgentSpec:
    """The ``llm`` answer agent on a checkpoint (``None``: the prepared SmolLM2), greedy; ``constrained``:
    the grammar style it was trained under in ``memgym/AnswerAgent-v0``."""
    from memgym.policies.backends import SamplingParams

    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    extra = (("constrained", constrained),) if constrained else ()
    return AgentSpec("llm", backend_spec("hf", model=model), (*extra, ("params", params), *_ALL_RETRIEVED))


def main(argv: list[str] | None = None) -> int:
    """Base / trained manager x base / trained answer agent on one dataset; prints and saves the table."""
    p = argparse.ArgumentParser(prog="python -m memgym.policies.answer_ablation", description=main.__doc__)
    p.add_argument("--base-model", help="the untrained model (default: the prepared SmolLM2)")
    p.add_argument("--base-manager", default="llm", help="'llm' (the base model) or a baseline name")
    p.add_argument("--manager-model", required=True, help="the trained memory manager's checkpoint")
    p.add_argument("--answerer-model", required=True, help="the trained answer agent's checkpoint")
    p.add_argument("--env", default="memgym/MemoryManager-v0")
    p.add_argument("--data", default="synthetic")
    p.add_argument("--episodes", type=int)
    p.add_argument("--answer-top-k", type=int, default=60)
    p.add_argument("--constrained", choices=("format", "choices"), help="the managers' grammar")
    p.add_argument("--answerer-constrained", choices=("format", "choices"), help="the answer agents' grammar")
    p.add_argument("--max-new-tokens", type=int, default=128, help="answer budget")
    p.add_argument("--metric", default="em")
    p.add_argument("--out", default="ablation_out")
    args = p.parse_args(argv)
    base = llm_manager(args.base_model, constrained=args.constrained) if args.base_manager == "llm" else args.base_manager
    result = run_answer_ablation(
        {"base manager": base, "trained manager": llm_manager(args.manager_model, constrained=args.constrained)},
        {name: llm_answerer(model, args.max_new_tokens, args.answerer_constrained)
         for name, model in (("base answerer", args.base_model), ("trained answerer", args.answerer_model))},
        args.env, args.data, n_episodes=args.episodes, env_kwargs={"answer_top_k": args.answer_top_k},
        metrics=(args.metric,), command=" ".join(sys.argv),
    )
    path = result.save(args.out, args.metric)
    print(result.markdown(args.metric) + f"\nreport: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["AblationResult", "llm_answerer", "llm_manager", "main", "run_answer_ablation"]
