"""Wrappers for memgym environments that keep batched stepping working.

Gymnasium's wrappers only know ``step``; memgym's batched stepping (:mod:`memgym.envs.stepping`) splits a
step into ``begin_step`` / ``end_step``. A :class:`MemoryWrapper` implements both halves through two
hooks, so the same change applies whether the wrapper is stepped alone (``step``) or in a batch:

- :meth:`MemoryWrapper.transform_action`: the action the inner environment gets;
- :meth:`MemoryWrapper.transform_result`: the step tuple the caller gets.

Write a wrapper by overriding these two, never ``step`` itself (a subclass that overrides ``step`` is
refused by :func:`memgym.envs.stepping.splitter`, because batched stepping would skip its ``step``).

Example:
    >>> import memgym
    >>> env = ScaleReward(memgym.make("memgym/MemoryManager-v0"), 2.0)
    >>> _ = env.reset(seed=0)
    >>> _, reward, *_ = env.step("{bad")   # format penalty -0.1, doubled
    >>> reward
    -0.2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from memgym.envs.answering import AnswerRequest
from memgym.errors import ConfigError, MemgymError

StepTuple = tuple[Any, float, bool, bool, dict]


class MemoryWrapper(gym.Wrapper):
    """A Gymnasium wrapper that forwards memgym's batched step protocol (see the module docstring)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            raise MemgymError(
                f"{cls.__name__} overrides step(); a MemoryWrapper changes steps through transform_action() "
                "and transform_result(), so that batched stepping applies the same change"
            )

    def transform_action(self, action: Any) -> Any:
        """The action passed to the inner environment (default: unchanged)."""
        return action

    def transform_result(self, result: StepTuple) -> StepTuple:
        """The step tuple returned to the caller (default: unchanged)."""
        return result

    def step(self, action: Any) -> StepTuple:
        return self.transform_result(self.env.step(self.transform_action(action)))

    def begin_step(self, action: Any) -> AnswerRequest | None:
        from memgym.envs.stepping import splitter

        return splitter(self.env).begin_step(self.transform_action(action))

    def end_step(self, answers: Sequence[str] | None) -> StepTuple:
        from memgym.envs.stepping import splitter

        return self.transform_result(splitter(self.env).end_step(answers))


class TimeLimit(MemoryWrapper):
    """Truncate an episode after ``max_episode_steps`` steps (``memgym.make(..., max_episode_steps=N)``)."""

    def __init__(self, env: gym.Env, max_episode_steps: int) -> None:
        if int(max_episode_steps) < 1:
            raise ConfigError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
        super().__init__(env)
        self.max_episode_steps = int(max_episode_steps)
        self._elapsed = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self._elapsed = 0
        return self.env.reset(**kwargs)

    def transform_result(self, result: StepTuple) -> StepTuple:
        obs, reward, terminated, truncated, info = result
        self._elapsed += 1
        return obs, reward, terminated, truncated or self._elapsed >= self.max_episode_steps, info


class ScaleReward(MemoryWrapper):
    """Multiply every reward by ``scale`` (an example of a reward wrapper that batches)."""

    def __init__(self, env: gym.Env, scale: float) -> None:
        super().__init__(env)
        self.scale = float(scale)

    def transform_result(self, result: StepTuple) -> StepTuple:
        obs, reward, terminated, truncated, info = result
        return obs, reward * self.scale, terminated, truncated, info
