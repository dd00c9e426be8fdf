"""How far choosing *which* turns to keep can go on LoCoMo conversation 30 at a memory budget (no model).

    .venv/bin/python experiments/selection_ceiling.py --data ../shared/data/locomo-dev     # ~20 s

The LoCoMo recipe (``experiments/locomo_recipe.py``) asks a manager to keep evidence within 40 memories.
This measures, through the same bench harness and ``memory-r1`` protocol, managers that are *told* which
turns are evidence (from the annotations: the ceiling of selection), or told it with noise (keep an
evidence turn with probability ``tpr``, any other turn with ``fpr``), each with two ways of making room
when the bank is full: ``refuse`` (stop adding) or ``related`` (DELETE the most related shown memory, the
only eviction an LLM manager that sees 3 memories can choose). Salience and store_all are printed beside
them. It says how good an evidence detector a trained manager must be to beat ``salience``.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

from memgym.envs.operations import Operation
from memgym.envs.units import Unit
from memgym.policies.bench import run_bench
from memgym.policies.managers import BaselinePolicy, raw_texts


class EvidenceSelector(BaselinePolicy):
    """ADD a turn's text when ``keep(unit, evidence_ids)`` says so; make room by ``evict``."""

    memory_kinds = ("entries",)

    def __init__(self, name: str, keep: Callable[[Unit, set[str]], bool], evict: str) -> None:
        self.name, self.keep, self.evict = name, keep, evict

    def act_one(self, env) -> str:
        unit = env.current_unit
        evidence = {e for q in env.episode.questions for e in q.evidence}
        if unit is None or not self.keep(unit, evidence):
            return env.render_action([])
        ops = []
        if env.bank.max_entries is not None and len(env.bank) >= env.bank.max_entries:
            shown = env.shown_memories(unit)
            if self.evict == "refuse" or not shown:
                return env.render_action([])
            ops.append(Operation.delete(shown[0].id))
        return env.render_action([*ops, *(Operation.add(t) for t in raw_texts(unit))])


def _is_evidence(unit: Unit, evidence: set[str]) -> bool:
    return any(t.id in evidence for t in unit.turns)


def _noisy(tpr: float, fpr: float, seed: int) -> Callable[[Unit, set[str]], bool]:
    rng = random.Random(seed)
    return lambda unit, evidence: rng.random() < (tpr if _is_evidence(unit, evidence) else fpr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/locomo-dev")
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--tpr", type=float, default=0.8)
    parser.add_argument("--fpr", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    args = parser.parse_args()
    policies: list = []
    for evict in ("refuse", "related"):
        policies.append(EvidenceSelector(f"evidence turns, {evict}", _is_evidence, evict))
        for fpr in args.fpr:
            policies.append(EvidenceSelector(f"tpr {args.tpr} fpr {fpr}, {evict}", _noisy(args.tpr, fpr, 0), evict))
    result = run_bench([*policies, "salience", "store_all"], "memgym/MemoryManager-v0", args.data,
                       split="validation", answer_agent="none", protocol="memory-r1", batch_size=1,
                       env_kwargs={"max_entries": args.budget, "top_k": 3, "numbered_candidates": True})
    print(f"| manager (budget {args.budget}) | evidence recall | answer support | ADDs |\n|---|---:|---:|---:|")
    for name, s in result.summary().items():
        o = s["overall"]
        print(f"| {name} | {100 * o['evidence_recall']:.1f} | {100 * o['answer_support']:.1f} | {s['ops']['ADD']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
