"""Answering at question points, batched across environments.

An environment needs answers in the middle of its step. :meth:`MemoryEnv.step` asks the answer agent
once per question point with all the questions asked there; :func:`step_batched` splits the steps of
many environments into :meth:`~memgym.envs.base.MemoryEnv.begin_step` (apply the action, return an
:class:`AnswerRequest`) and :meth:`~memgym.envs.base.MemoryEnv.end_step` (score), so ONE call of the agent
answers the pending questions of all of them: what an LLM answer agent needs to batch its generation.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from memgym.envs.episode import Episode, Question
from memgym.envs.memory_bank import MemoryEntry
from memgym.errors import MemgymError
from memgym.policies.base import AnswerAgent

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv, Unit


@dataclass
class AnswerRequest:
    """The questions one environment needs answered now, each with its retrieved memories."""

    questions: list[Question]
    memories: list[list[MemoryEntry]]
    bank_hash: str = ""
    agent_name: str = ""


def answer_pending(
    requests: Sequence[AnswerRequest | None], agent: AnswerAgent, cache: Any | None = None
) -> list[list[str] | None]:
    """Answer the questions of many requests with ONE call of ``agent.answer``.

    ``None`` requests (environments with nothing to answer) give ``None``. With ``cache`` (an
    :class:`~memgym.rewards.cache.AnswerCache`), answers are looked up by (bank content hash, question,
    agent name) first and only the misses reach the agent.
    """
    flat: list[tuple[int, int]] = []
    out: list[list[str] | None] = [None if r is None else [""] * len(r.questions) for r in requests]
    for i, request in enumerate(requests):
        for j, question in enumerate(request.questions if request is not None else ()):
            hit = cache.get_answer(request.bank_hash, question, request.agent_name) if cache else None
            if hit is None:
                flat.append((i, j))
            else:
                out[i][j] = hit  # type: ignore[index]
    if flat:
        questions = [requests[i].questions[j] for i, j in flat]  # type: ignore[union-attr]
        memories = [requests[i].memories[j] for i, j in flat]  # type: ignore[union-attr]
        answers = agent.answer(questions, memories)
        if len(answers) != len(flat):
            raise MemgymError(f"the answer agent returned {len(answers)} answers for {len(flat)} questions")
        for (i, j), text in zip(flat, answers, strict=False):
            out[i][j] = str(text)  # type: ignore[index]
            if cache is not None:
                req = requests[i]
                cache.put_answer(req.bank_hash, req.questions[j], req.agent_name, str(text))  # type: ignore[union-attr]
    return out


def step_batched(
    envs: Sequence[MemoryEnv], actions: Sequence[Any], agent: AnswerAgent | None = None
) -> list[tuple]:
    """Step several environments, answering all their pending questions in one agent call.

    Equivalent to ``[env.step(a) for env, a in zip(envs, actions)]`` (the same results), but the answer
    agent (default: the first environment's) sees one batch. Pass unwrapped environments.
    """
    requests = [env.begin_step(action) for env, action in zip(envs, actions, strict=True)]
    agent = agent if agent is not None else envs[0].answer_agent
    answers = answer_pending(requests, agent, envs[0].answer_cache)
    return [env.end_step(a) for env, a in zip(envs, answers, strict=False)]


def question_points(episode: Episode, units: Sequence[Unit]) -> dict[int, list[Question]]:
    """Map each unit index to the questions answered right after its step.

    A question asked after turn ``t`` is answered after the first unit that reaches ``t`` (for chunks:
    the chunk containing ``t``); a question asked at the end, or after a turn no unit reaches, after
    the last unit.
    """
    position = {t.id: i for i, t in enumerate(episode.turns())}
    reach = [max((position.get(t.id, -1) for t in u.turns), default=-1) for u in units]
    running = np.maximum.accumulate(reach).tolist() if reach else []
    points: dict[int, list[Question]] = {}
    for q in episode.questions:
        at = len(units) - 1
        if q.asked_after is not None and q.asked_after in position:
            i = bisect.bisect_left(running, position[q.asked_after])
            at = min(i, len(units) - 1)
        points.setdefault(units[at].index, []).append(q)
    return points
