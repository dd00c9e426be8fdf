"""The learning test's task, trained as the test trains it, with the advantage's sign as it is and flipped.

    .venv/bin/python experiments/sign_flip_check.py          # ~3 min on 2 cores

Prints the QA reward per step of GRPO and PPO (``tests/test_learning.py``'s configs); with ``--flip`` the
advantages are negated (``group_advantages`` and ``whiten``), which must make the reward fall instead of
rise: the check that the learning test can fail.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import memgym.trainers.grpo as grpo  # noqa: E402
import memgym.trainers.ppo as ppo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flip", action="store_true", help="negate the advantages")
    args = parser.parse_args()
    import test_learning

    if args.flip:
        advantages, whiten = grpo.group_advantages, ppo.whiten
        grpo.group_advantages = lambda *a, **k: -advantages(*a, **k)
        ppo.whiten = lambda x, *a, **k: -whiten(x, *a, **k)
    for name, cls, extra in (("grpo", grpo.GRPOTrainer, ()), ("ppo", ppo.PPOTrainer, ("ppo.whiten_advantages=true",))):
        with tempfile.TemporaryDirectory() as tmp:
            curve = test_learning.qa_curve(cls(test_learning.learning_config(tmp, name, *extra)))
        print(f"{name} ({'flipped' if args.flip else 'as is'}): QA reward per step {[round(x, 2) for x in curve]}")


if __name__ == "__main__":
    main()
