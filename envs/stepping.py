"""The one stepping engine: step many environments with one answer-agent call per round.

An environment needs answers in the middle of its step. :func:`step_envs` splits the step of every
environment into two halves of the batched step protocol (:class:`BatchedStep`): ``begin_step`` applies
the action and says which questions need answers now; the pending questions of ALL the environments
then go to the answer agent in one call (:func:`memgym.envs.answering.answer_pending`, through the
answer cache), and ``end_step`` scores the answers and returns Gymnasium's step tuple. An LLM answer
agent therefore generates for a whole batch of episodes at once.

Everything that steps memgym environments goes through here: ``MemoryEnv.step`` itself, training
rollouts (:mod:`memgym.trainers.rollout`), the benchmark harness (:mod:`memgym.policies.bench`), the
warm start's example collection (:mod:`memgym.trainers.sft`) and the tests.

**Wrappers.** A memgym environment implements :class:`BatchedStep`; so does every
:class:`memgym.envs.wrappers.MemoryWrapper`, which forwards the two halves through its own
``transform_action`` / ``transform_result``. A Gymnasium wrapper that does not implement the protocol
cannot be split, so :func:`step_envs` refuses it with an error naming it (never a silent slow path);
step it with ``env.step`` one environment at a time, or write it as a ``MemoryWrapper``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import gymnasium as gym

from memgym.envs.answering import AnswerAgent, AnswerRequest, answer_pending
from memgym.errors import MemgymError

__all__ = ["BatchedStep", "StepRecord", "splitter", "step_envs"]


@runtime_checkable
class BatchedStep(Protocol):
    """The two halves of a step, as environments and memgym wrappers implement them."""

    def begin_step(self, action: Any) -> AnswerRequest | None:
        """Apply ``action``; return the questions to answer now, or ``None``."""
        ...

    def end_step(self, answers: Sequence[str] | None) -> tuple[Any, float, bool, bool, dict]:
        """Score the answers to the request of ``begin_step``; Gymnasium's step tuple."""
        ...


class StepRecord(NamedTuple):
    """One environment's step: Gymnasium's five values plus what the step showed."""

    observation: Any
    reward: float
    terminated: bool
    truncated: bool
    info: dict
    unit: Any
    """The :class:`~memgym.envs.units.Unit` the step acted on (the observation before it)."""

    @property
    def done(self) -> bool:
        return bool(self.terminated or self.truncated)

    def as_tuple(self) -> tuple[Any, float, bool, bool, dict]:
        """Gymnasium's ``(observation, reward, terminated, truncated, info)``."""
        return self.observation, self.reward, self.terminated, self.truncated, self.info


def splitter(env: gym.Env) -> BatchedStep:
    """The object that takes ``env``'s two step halves: ``env`` itself when it implements the protocol.

    Raises:
        MemgymError: ``env`` is a wrapper that does not forward the protocol (the message names it and
            says what to do instead).
    """
    if isinstance(env, BatchedStep):
        return env
    raise MemgymError(
        f"{type(env).__name__} does not implement memgym's batched step protocol (begin_step / end_step), "
        "so its steps cannot share one answer-agent call. Step it with env.step(), write the wrapper as a "
        "memgym.envs.wrappers.MemoryWrapper, or build the environment with memgym.make (whose own "
        "wrappers forward the protocol)."
    )


def step_envs(
    envs: Sequence[gym.Env], actions: Sequence[Any], *, answer_agent: AnswerAgent | None = None
) -> list[StepRecord]:
    """Step each environment with its action; all pending questions go to the answer agent at once.

    Equivalent to ``[env.step(a) for env, a in zip(envs, actions)]`` (the same results), with one
    answer-agent call per distinct agent instead of one per environment and question point.

    Args:
        envs: memgym environments, or :class:`~memgym.envs.wrappers.MemoryWrapper` stacks around them.
        actions: one action per environment.
        answer_agent: answer every environment's questions with this agent (default: each
            environment's own ``answer_agent`` and ``answer_cache``).

    Raises:
        MemgymError: an environment cannot be split (see :func:`splitter`), or lengths differ.
    """
    if len(envs) != len(actions):
        raise MemgymError(f"{len(actions)} actions for {len(envs)} environments")
    parts = [splitter(env) for env in envs]
    units = [env.unwrapped.current_unit for env in envs]
    requests: list[AnswerRequest | None] = []
    try:
        for part, action in zip(parts, actions, strict=True):
            requests.append(part.begin_step(action))
        answers = _answer_all(envs, requests, answer_agent)
    except BaseException:
        for env in envs[: len(requests)]:
            abandon = getattr(env.unwrapped, "abandon_step", None)
            if abandon is not None:
                abandon()
        raise
    return [
        StepRecord(*part.end_step(ans), unit=unit)
        for part, ans, unit in zip(parts, answers, units, strict=True)
    ]


def _answer_all(
    envs: Sequence[gym.Env], requests: list[AnswerRequest | None], agent: AnswerAgent | None
) -> list[list[str] | None]:
    """Answer the requests, one call per distinct (agent, cache) pair, in environment order."""
    groups: dict[tuple[int, int], list[int]] = {}
    owners: dict[tuple[int, int], tuple[Any, Any]] = {}
    for i, (env, request) in enumerate(zip(envs, requests, strict=True)):
        if request is None:
            continue
        base = env.unwrapped
        who = (agent if agent is not None else base.answer_agent, base.answer_cache)
        key = (id(who[0]), id(who[1]))
        groups.setdefault(key, []).append(i)
        owners[key] = who
    out: list[list[str] | None] = [None] * len(requests)
    for key, members in groups.items():
        who, cache = owners[key]
        for i, answers in zip(members, answer_pending([requests[i] for i in members], who, cache), strict=True):
            out[i] = answers
    return out
