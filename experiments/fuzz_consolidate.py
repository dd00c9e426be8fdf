"""Fuzz ``memgym/MemoryConsolidate-v0`` with ``experiments/fuzz_bench.py``, plus hostile decisions JSON.

Runs the reliability fuzz loop (crashes, hangs, bank changed on error, invariants; see
``fuzz_bench.py``) on the consolidation environment in its three regimes and both action modes. In text
mode, a third of the actions are hostile Retain / Delete / Consolidate decisions (unknown, duplicate,
non-string and huge ids, every kind spelled oddly, texts from the fuzz bench's hostile pool, thousands
of decisions), the rest the fuzz bench's own.

Usage::

    python experiments/fuzz_consolidate.py --steps 10000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

_SPEC = importlib.util.spec_from_file_location("fuzz_bench", Path(__file__).with_name("fuzz_bench.py"))
fb = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
_SPEC.loader.exec_module(fb)  # type: ignore[union-attr]

SETUPS: dict[str, dict[str, Any]] = {
    "automatic": {},
    "forced": {"regime": "forced", "max_entries": 60},
    "episodic": {"regime": "episodic", "episode_entry": "session", "max_tokens": 400},
}
_KINDS = ["RETAIN", "DELETE", "CONSOLIDATE", "consolidate", " delete ", "MERGE", "", None, 3]


def decisions_action(env: Any, rng: np.random.Generator) -> str:
    """Hostile decisions JSON over the memory's ids and the round's new episodes."""
    ids = [e.id for e in [*env.bank.entries(), *env.new_episodes()]]
    items = []
    for _ in range(int(rng.choice([0, 1, 2, 5, 3000]))):
        pick = [str(rng.choice(ids)) if ids and rng.random() < 0.7 else fb._id(env, rng)
                for _ in range(int(rng.integers(0, 4)))]
        item: dict[str, Any] = {"action": _KINDS[int(rng.integers(len(_KINDS)))], "ids": pick}
        if rng.random() < 0.7:
            item["text"] = fb._text(rng)
        if rng.random() < 0.1:
            item["ids"] = pick[0] if pick else None
        items.append(item)
    value: Any = {"decisions": items} if rng.random() < 0.8 else items
    return fb._mutate(fb._dump(value, rng), rng) if rng.random() < 0.2 else fb._dump(value, rng)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from memgym.envs.consolidate import MemoryConsolidateEnv

    generic = fb.text_action
    fb.text_action = lambda env, rng: decisions_action(env, rng) if rng.random() < 1 / 3 else generic(env, rng)
    failed = False
    print("| regime | mode | steps | refused | crashes | hangs | bank changed on error | invariant breaks | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, kwargs in SETUPS.items():
        fb.ENVS[name] = (MemoryConsolidateEnv, kwargs)
        for mode in ("text", "structured"):
            c = (r := fb.fuzz(name, mode, args.steps, args.seed, 10.0))["counts"]
            print(f"| {name} | {mode} | {c['steps']} | {c['errors']} | {c['crashes']} | {c['hangs']} | "
                  f"{c['bank_changed_on_error']} | {c['invariant_breaks']} | {c['seconds']} |", flush=True)
            if r["examples"]:
                failed = True
                print(json.dumps(r["examples"], ensure_ascii=True)[:2000])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
