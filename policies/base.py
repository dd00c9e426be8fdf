"""What the environments ask of policies and answer agents."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from memgym.envs.episode import Question
from memgym.envs.memory_bank import MemoryEntry


@runtime_checkable
class AnswerAgent(Protocol):
    """Answers a batch of questions, each from its own retrieved memories (ranked best first).

    Batching matters: environments collect all pending questions of many episodes into one call.
    """

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]:
        ...
