"""A manager told which turns are evidence: the ceiling of *choosing what to keep*, and a warm-start teacher.

Real conversations carry no operation labels, but LoCoMo annotates each question with the turns that
state what it needs (its evidence). :class:`EvidenceOraclePolicy` reads those annotations and keeps, as
one whole-turn memory, every turn some question of the episode cites, and nothing else. It is an oracle,
not a heuristic: it sees the questions' annotations, which no manager at test time has. It serves

- as the ceiling of selection in a report (``experiments/selection_ceiling.py``), optionally with a
  noisy detector (keep an evidence turn with probability ``tpr``, any other with ``fpr``) to say how
  good a learned detector must be;
- as the warm-start teacher of the LoCoMo recipe (``sft.teacher: evidence_oracle`` on the *training*
  conversation, ``configs/locomo_cpu.yaml``): the policy imitates its decisions from the prompt alone,
  then RL refines them on the model-free evidence reward.

When the bank is full it either refuses (``evict="refuse"``: the turn is not kept) or DELETEs the most
related memory shown (``"related"``: the only eviction a manager that sees ``top_k`` memories can choose).
With ``numbered_candidates`` it names the whole turn as ``#1`` (the environment expands it), so its
actions are exactly those an LLM under the ``choices`` grammar can write.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from memgym.errors import ConfigError
from memgym.policies.managers import WholeTurnPolicy

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv
    from memgym.envs.units import Unit


class EvidenceOraclePolicy(WholeTurnPolicy):
    """Keep every turn a question cites as evidence (see the module docstring).

    Args:
        evict: ``"refuse"`` or ``"related"``: what to do when the bank is full.
        tpr: the probability of keeping an evidence turn (1.0: always).
        fpr: the probability of keeping any other turn (0.0: never).
        seed: the seed of the noisy detector's draws.
    """

    name = "evidence_oracle"

    def __init__(self, evict: str = "refuse", tpr: float = 1.0, fpr: float = 0.0, seed: int = 0) -> None:
        super().__init__(evict)
        for key, value in (("tpr", tpr), ("fpr", fpr)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{key}={value!r} must be a probability in [0, 1]")
        self.tpr, self.fpr = float(tpr), float(fpr)
        self._rng = random.Random(seed)

    def check(self, env: MemoryEnv) -> None:
        super().check(env)
        if not any(q.evidence for ep in env.unwrapped.episodes for q in ep.questions):
            raise ConfigError("evidence_oracle needs questions annotated with evidence turns; these have none")

    def keeps(self, env: MemoryEnv, unit: Unit) -> bool:
        cited = env.episode.evidence_ids()
        evidence = any(t.id in cited for t in unit.turns)
        if self.tpr == 1.0 and self.fpr == 0.0:
            return evidence
        return self._rng.random() < (self.tpr if evidence else self.fpr)
