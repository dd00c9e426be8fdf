"""No answer agent: for measuring what a memory holds without a reader (model-free memory metrics only).

On real conversations the model-free extractive agent can only abstain, and an LLM reader costs seconds
per question on a CPU. The memory metrics (evidence recall, answer support; :mod:`memgym.rewards.memory_metrics`)
need no answers, so ``answer_agent="none"`` answers nothing and its QA columns measure nothing: report
the memory metrics only.
"""

from __future__ import annotations

from memgym.envs.episode import Question
from memgym.envs.memory_bank import MemoryEntry


class NoAnswerAgent:
    """Answers every question with the empty string (QA is not measured)."""

    name = "none (QA not measured)"

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]:
        return ["" for _ in questions]
