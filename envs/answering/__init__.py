"""Answering, in one place: the answer-agent contract, the answer cache, and when questions are asked.

An environment needs answers in the middle of its step: after the step that completes a question's
``asked_after`` turn, the answer agent answers it from the memories retrieved for it, and the answer is
scored. This package holds everything about that hand-off:

- :class:`AnswerAgent`, the protocol every answer agent implements (a batch of questions, each with
  its own retrieved memories, in; one answer each out), and :data:`ANSWER_AGENTS`, the names users
  type (``"extractive"``, ``"llm"``; the agents themselves live in :mod:`memgym.policies.answer_agents`);
- :class:`AnswerRequest` and :func:`answer_pending`: the questions many environments need answered now,
  answered in ONE call of the agent (what an LLM answer agent needs to batch its generation), through
  the :class:`~memgym.envs.answering.cache.AnswerCache` when one is given;
- :mod:`~memgym.envs.answering.points`: which step answers which question.

The batched step itself (begin every environment's step, answer all pending questions, finish the
steps) is :func:`memgym.envs.stepping.step_envs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from memgym.envs.answering.cache import AnswerCache, memories_hash, question_key
from memgym.envs.answering.points import pending_points, question_points, tied_questions
from memgym.envs.episode import Question
from memgym.envs.memory_bank import MemoryEntry
from memgym.errors import MemgymError
from memgym.registry import Registry

__all__ = [
    "ANSWER_AGENTS",
    "AnswerAgent",
    "AnswerCache",
    "AnswerRequest",
    "agent_name",
    "answer_pending",
    "make_answer_agent",
    "memories_hash",
    "pending_points",
    "question_key",
    "question_points",
    "tied_questions",
]


@runtime_checkable
class AnswerAgent(Protocol):
    """Answers a batch of questions, each from its own retrieved memories (ranked best first).

    Batching matters: environments collect all pending questions of many episodes into one call. An
    agent may set a ``name`` attribute: the answer cache keys answers by it (default: the class name),
    so it must name everything besides the memories and the question that changes an answer.
    """

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]: ...


#: Answer agents by the names configs and the command line use; entries are lazy ``"module:Class"``
#: paths, so naming one imports nothing until it is built. Plugins add theirs with
#: ``ANSWER_AGENTS.register("mine", "pkg.module:MyAgent")``.
ANSWER_AGENTS: Registry[Any] = Registry("answer agent")
ANSWER_AGENTS.register("extractive", "memgym.policies.answer_agents.extractive:ExtractiveAnswerAgent")
ANSWER_AGENTS.register("llm", "memgym.policies.answer_agents.llm:LLMAnswerAgent")
ANSWER_AGENTS.register("none", "memgym.policies.answer_agents.none:NoAnswerAgent")


def make_answer_agent(agent: AnswerAgent | str, **kwargs: Any) -> AnswerAgent:
    """An answer agent object, or the one registered as ``agent`` built with ``kwargs``."""
    if isinstance(agent, str):
        return ANSWER_AGENTS.get(agent)(**kwargs)
    if kwargs:
        raise MemgymError(f"answer agent arguments {sorted(kwargs)} need an agent name, not an object")
    return agent


def agent_name(agent: AnswerAgent) -> str:
    """What identifies an agent's answers in the cache: its ``name`` attribute, else its class name."""
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__


@dataclass
class AnswerRequest:
    """The questions one environment needs answered now, each with the memories the agent reads."""

    questions: list[Question]
    memories: list[list[MemoryEntry]]


def answer_pending(
    requests: Sequence[AnswerRequest | None], agent: AnswerAgent, cache: AnswerCache | None = None
) -> list[list[str] | None]:
    """Answer the questions of many requests with ONE call of ``agent.answer``.

    ``None`` requests (environments with nothing to answer) give ``None``. With ``cache``, answers are
    looked up by (the memories shown, the question, the agent's name) first and only the misses reach
    the agent.
    """
    flat = [(i, j) for i, r in enumerate(requests) if r is not None for j in range(len(r.questions))]
    questions = [requests[i].questions[j] for i, j in flat]  # type: ignore[union-attr]
    memories = [requests[i].memories[j] for i, j in flat]  # type: ignore[union-attr]
    if not flat:
        answers: list[str] = []
    elif cache is not None:
        answers = cache.answer(agent, questions, memories)
    else:
        answers = [str(a) for a in agent.answer(questions, memories)]
        if len(answers) != len(flat):
            raise MemgymError(f"the answer agent returned {len(answers)} answers for {len(flat)} questions")
    out: list[list[str] | None] = [None if r is None else [""] * len(r.questions) for r in requests]
    for (i, j), text in zip(flat, answers, strict=True):
        out[i][j] = text  # type: ignore[index]
    return out
