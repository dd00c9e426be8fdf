"""How far choosing *which* turns to keep can go on LoCoMo conversation 30 at a memory budget (no model).

    .venv/bin/python experiments/selection_ceiling.py --data ../shared/data/locomo-dev     # ~20 s

The LoCoMo recipe (``experiments/locomo_recipe.py``) asks a manager to keep evidence within a budget
(``--budget``, default 40 memories). This measures, through the same bench harness and ``memory-r1`` protocol, managers that are *told* which
turns are evidence (from the annotations: the ceiling of selection), or told it with noise (keep an
evidence turn with probability ``tpr``, any other turn with ``fpr``), each with two ways of making room
when the bank is full: ``refuse`` (stop adding) or ``related`` (DELETE the most related shown memory, the
only eviction an LLM manager that sees 3 memories can choose), through the registered ``evidence_oracle``
policy. ``long_turns`` at several thresholds (the turn's length as the detector), salience, full_context
and store_all are printed beside them (``--split train``: the same on conversation 26). It says how good an evidence
detector a trained manager must be to beat them.
"""

from __future__ import annotations

import argparse

from memgym.policies.bench import run_bench
from memgym.policies.evidence_oracle import EvidenceOraclePolicy
from memgym.policies.long_turns import LongTurnsPolicy


def _named(name: str, policy):
    policy.name = name
    return policy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/locomo-dev")
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--tpr", type=float, default=0.8)
    parser.add_argument("--fpr", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--min-words", type=int, nargs="+", default=[20, 25, 30, 35, 40],
                        help="long_turns' thresholds to print (the turn length detector, no annotations)")
    parser.add_argument("--split", default="validation", choices=["train", "validation"],
                        help="memory-r1's conversation: validation = 30, train = 26")
    args = parser.parse_args()
    policies: list = []
    for evict in ("refuse", "related"):
        policies.append(_named(f"evidence turns, {evict}", EvidenceOraclePolicy(evict=evict)))
        for fpr in args.fpr:
            policies.append(_named(f"tpr {args.tpr} fpr {fpr}, {evict}",
                                   EvidenceOraclePolicy(evict=evict, tpr=args.tpr, fpr=fpr)))
    policies += [_named(f"long_turns, min_words {n}", LongTurnsPolicy(min_words=n)) for n in args.min_words]
    result = run_bench([*policies, "salience", "full_context", "store_all"], "memgym/MemoryManager-v0", args.data,
                       split=args.split, answer_agent="none", protocol="memory-r1", batch_size=1,
                       env_kwargs={"max_entries": args.budget, "top_k": 3, "numbered_candidates": True})
    print(f"| manager (budget {args.budget}) | evidence recall | answer support | ADDs |\n|---|---:|---:|---:|")
    for name, s in result.summary().items():
        o = s["overall"]
        print(f"| {name} | {100 * o['evidence_recall']:.1f} | {100 * o['answer_support']:.1f} | {s['ops']['ADD']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
