"""A memory manager for real conversations that does not depend on any generator's templates.

``mem0_heuristic``'s cue lexicons were written against the synthetic generator's English; on LoCoMo it
keeps 8 memories of conversation 30's 369 turns. :class:`SalienceHeuristicPolicy` instead scores each
sentence of a turn by surface signals any conversation has, and keeps the most salient ones within the
bank's budget:

- **Salience** of a sentence: +1 per named entity candidate (a capitalised word that does not start the
  sentence), +1 per number, +1 for a month or weekday, +1 for a first-person statement of fact ("I am",
  "I have", "my ..."), +0.5 per content word beyond the fifth (capped at 2); questions, greetings and
  sentences under four words score 0.
- **Novelty**: a sentence whose content words are mostly (``overlap``) in one memory already held is a
  restatement and is skipped.
- **Budget**: the best sentence of the turn with a salience of at least ``threshold`` is ADDed as
  ``"Speaker: sentence"``; when the bank is full, the least salient memory held is DELETEd first, if it
  is less salient than the new one (recency breaks ties: the older one goes).

Measured figures are in the recipe's report (``experiments/locomo_recipe.py``). What it cannot do: merge
facts, resolve "she"/"it", or notice that a fact changed (it keeps both).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from memgym.envs.operations import Operation
from memgym.policies.managers import BaselinePolicy, unit_lines

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:[.,:]\d+)*")
_TIME_WORDS = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday yesterday tomorrow week month year".split()
)
_STOP = frozenset(
    "a an the and or but so to of in on at for with by from about as is are was were be been being am i you "
    "he she it we they me him her us them my your his its our their this that these those do does did have "
    "has had not no yes just really very too also what how why when where who which can could would should "
    "will wow oh hey hi hello thanks thank great cool nice awesome love lol haha yeah okay ok sure".split()
)
_GREETING = re.compile(r"^\s*(hi|hey|hello|thanks|thank you|wow|bye|see you|good (morning|night|luck))\b", re.I)
_FIRST_PERSON = re.compile(r"\b(i am|i'm|i have|i've|i was|i went|i got|my)\b", re.I)


def salience(sentence: str) -> float:
    """How much a sentence looks like a fact worth keeping (0: chit-chat)."""
    words = _WORD.findall(sentence)
    if len(words) < 4 or sentence.rstrip().endswith("?") or _GREETING.match(sentence):
        return 0.0
    score = sum(1.0 for w in words[1:] if w[0].isupper() and w.lower() not in _STOP)
    score += sum(1.0 for w in words if w[0].isdigit())
    score += 1.0 if any(w.lower() in _TIME_WORDS for w in words) else 0.0
    score += 1.0 if _FIRST_PERSON.search(sentence) else 0.0
    content = [w for w in words if w.lower() not in _STOP]
    return score + min(2.0, 0.5 * max(0, len(content) - 5))


def content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP}


class SalienceHeuristicPolicy(BaselinePolicy):
    """Keep each turn's most salient sentence within the budget (see the module docstring).

    Args:
        threshold: the lowest salience worth a memory.
        overlap: the share of a sentence's content words already in one memory that makes it a restatement.
    """

    name = "salience"
    memory_kinds = ("entries",)

    def __init__(self, threshold: float = 2.0, overlap: float = 0.7) -> None:
        self.threshold, self.overlap = float(threshold), float(overlap)

    def act_one(self, env: MemoryEnv) -> str:
        unit = env.current_unit
        if unit is None:
            return env.render_action([])
        best: tuple[float, str] | None = None
        for speaker, text in unit_lines(unit):
            for sentence in _SENTENCE.split(text.strip()):
                score = salience(sentence)
                if score >= self.threshold and (best is None or score > best[0]):
                    best = (score, f"{speaker}: {sentence.strip()}")
        if best is None or self._known(env, best[1]):
            return env.render_action([])
        ops: list[Operation] = []
        bank = env.bank
        if bank.max_entries is not None and len(bank) >= bank.max_entries:
            held = bank.entries()
            weakest = min(range(len(held)), key=lambda i: (salience(held[i].text.split(": ", 1)[-1]), i))
            if salience(held[weakest].text.split(": ", 1)[-1]) >= best[0]:
                return env.render_action([])
            ops.append(Operation.delete(held[weakest].id))
        tier = "episodic" if "episodic" in bank.tiers else None
        return env.render_action([*ops, Operation.add(best[1], tier=tier)])

    def _known(self, env: Any, text: str) -> bool:
        words = content_words(text)
        if not words:
            return True
        return any(len(words & content_words(m.text)) / len(words) >= self.overlap for m in env.bank.entries())
