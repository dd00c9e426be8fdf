"""A model-free, deterministic answer agent for synthetic episodes: exact string look-up in memories.

It measures what a *memory* makes recoverable, not how well a model reads: with the oracle memory it
answers (nearly) everything, with an empty memory only abstention questions, and a memory full of stale
values, distractors and retracted facts misleads it as it would mislead a reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from memgym.envs.episode import ABSTAIN_ANSWER, Question
from memgym.envs.memory_bank import MemoryEntry

_BEFORE = re.compile(r"\bbefore\b", re.IGNORECASE)
_HOW_MANY = re.compile(r"^\s*how many\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _pattern(value: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive match of a value ("8 June, 2023" must not match "18 June, 2023")."""
    return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)


def _mentions(text: str, candidates: Sequence[str]) -> list[tuple[int, int, str]]:
    """Every (start, end, candidate) occurrence in ``text``, in text order."""
    found = [(m.start(), m.end(), c) for c in candidates for m in _pattern(c).finditer(text)]
    return sorted(found)


class ExtractiveAnswerAgent:
    """Answers from ``Question.candidates`` and the retrieved memory texts only (ranked best first).

    Rules, applied to the retrieved memories of each question:

    - **Default** (current value, multi-hop, abstention, "when" questions whose candidates are dates):
      take the highest-ranked memory that mentions any candidate and answer the candidate mentioned
      *last* in it. Memories and turns tell changes in time order ("moved from Lyon to Oslo", "... is
      Oslo (changed from Lyon to Oslo on 8 June, 2023)"), so the last mention is the newest value.
    - **Before** (the question contains the word "before" and names a candidate X): take the
      highest-ranked memory that mentions another candidate before its last mention of X; answer the
      candidate mentioned nearest before that mention of X ("from Lyon to Oslo" -> Lyon).
    - **Counting** (the question starts with "How many"): the number of distinct candidates mentioned
      across all retrieved memories, in digits.
    - **Abstain** (answer ``ABSTAIN_ANSWER``) when the question has no candidates (every non-synthetic
      question) or no retrieved memory mentions one.

    Args:
        abstain_answer: the answer given when nothing is found.
    """

    def __init__(self, abstain_answer: str = ABSTAIN_ANSWER) -> None:
        self.abstain_answer = abstain_answer

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]:
        """One answer per question, each from its own memories (the ``AnswerAgent`` protocol)."""
        if len(questions) != len(memories):
            raise ValueError(f"got {len(questions)} questions but {len(memories)} memory lists")
        return [self.answer_one(q, [m.text for m in ms]) for q, ms in zip(questions, memories, strict=True)]

    def answer_one(self, question: Question, texts: Sequence[str]) -> str:
        """The answer to one question from memory texts ranked best first."""
        candidates = [c for c in dict.fromkeys(question.candidates) if c and c.strip()]
        if not candidates:
            return self.abstain_answer
        if _HOW_MANY.search(question.question):
            seen = {c for text in texts for _, _, c in _mentions(text, candidates)}
            return str(len(seen)) if seen else self.abstain_answer
        named = [c for c in candidates if _pattern(c).search(question.question)]
        if named and _BEFORE.search(question.question):
            return self._before(named[0], candidates, texts)
        for text in texts:
            found = _mentions(text, candidates)
            if found:
                return found[-1][2]
        return self.abstain_answer

    def _before(self, anchor: str, candidates: Sequence[str], texts: Sequence[str]) -> str:
        others = [c for c in candidates if c.lower() != anchor.lower()]
        for text in texts:
            anchors = [m.start() for m in _pattern(anchor).finditer(text)]
            if not anchors:
                continue
            earlier = [(end, c) for _, end, c in _mentions(text, others) if end <= anchors[-1]]
            if earlier:
                return max(earlier)[1]
        return self.abstain_answer
