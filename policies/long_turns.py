"""Keep the long turns: the simplest template-free manager for real conversations, and a strong one.

On LoCoMo a turn's length ranks the turns questions cite (their evidence) above the others better than
any other signal measured here (``experiments/evidence_detection.py``, conversation 30: ROC AUC 0.737 for
the word count, 0.714 for ``salience``'s score). :class:`LongTurnsPolicy` keeps, whole and one memory per
turn, every step whose turns have at least ``min_words`` words, until the bank's budget refuses (or,
with ``evict="related"``, it DELETEs the most related memory shown first).

``min_words=30`` was read off a sweep on *both* LoCoMo conversations at hand, at a budget of 120 memories
(``experiments/selection_ceiling.py --budget 120`` prints it): there it is the best heuristic measured, so
a trained manager compared with it is compared with an optimistically tuned rule. The threshold is
conversation-dependent (on conversation 26 alone the best was 40, which on conversation 30 keeps too
little), and under a small budget it fills the bank with the first long turns it meets. What it cannot
do: tell a long story from a long fact, or notice a short one ("I moved to Paris").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memgym.errors import ConfigError
from memgym.policies.managers import WholeTurnPolicy

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv
    from memgym.envs.units import Unit


class LongTurnsPolicy(WholeTurnPolicy):
    """Keep each step whose turns have at least ``min_words`` words (see the module docstring).

    Args:
        min_words: the shortest step kept, in whitespace-separated words of its turns.
        evict: ``"refuse"`` or ``"related"``: what to do when the bank is full.
    """

    name = "long_turns"

    def __init__(self, min_words: int = 30, evict: str = "refuse") -> None:
        super().__init__(evict)
        if int(min_words) < 1:
            raise ConfigError(f"min_words={min_words!r} must be at least 1")
        self.min_words = int(min_words)

    def keeps(self, env: MemoryEnv, unit: Unit) -> bool:
        return sum(len(t.text.split()) for t in unit.turns) >= self.min_words
