"""The one stepping engine: batched answering, wrappers that forward it, and clear refusals."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest

import memgym
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.stepping import step_envs
from memgym.envs.wrappers import MemoryWrapper, ScaleReward, TimeLimit
from memgym.errors import MemgymError
from memgym.policies.answer_agents.extractive import ExtractiveAnswerAgent

SMALL = SyntheticConfig(n_entities=2, facts_per_entity=2, n_sessions=2, turns_per_session=8)


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(3, seed=5, config=SMALL)


class CountingAgent:
    name = "counting"

    def __init__(self):
        self.inner, self.calls = ExtractiveAnswerAgent(), 0

    def answer(self, questions, memories):
        self.calls += 1
        return self.inner.answer(questions, memories)


def _oracle_rewards(envs):
    """Step envs together with the oracle until all end; each env's rewards in order."""
    for i, env in enumerate(envs):
        env.reset(seed=0, options={"episode_index": i})
    rewards: list[list[float]] = [[] for _ in envs]
    while True:
        live = [i for i, e in enumerate(envs) if e.unwrapped.current_unit is not None]
        if not live:
            return rewards
        steps = step_envs([envs[i] for i in live], [envs[i].unwrapped.oracle_action() for i in live])
        for i, step in zip(live, steps, strict=True):
            rewards[i].append(step.reward)


def test_memory_wrappers_batch_and_give_what_they_give_alone(episodes):
    agent = CountingAgent()
    wrapped = [ScaleReward(memgym.make("memgym/MemoryManager-v0", episodes=episodes, answer_agent=agent), 3.0)
               for _ in range(3)]
    batched = _oracle_rewards(wrapped)
    batched_calls = agent.calls
    alone = []
    for i in range(3):
        env = ScaleReward(memgym.make("memgym/MemoryManager-v0", episodes=episodes), 3.0)
        env.reset(seed=0, options={"episode_index": i})
        rewards = []
        while env.unwrapped.current_unit is not None:
            rewards.append(env.step(env.unwrapped.oracle_action())[1])
        alone.append(rewards)
    assert batched == alone
    assert any(r != 0 for rs in alone for r in rs)  # the scale was applied to real rewards
    assert 0 < batched_calls < sum(1 for rs in alone for _ in rs)  # one agent call per batched round


def test_time_limit_from_make_forwards_the_protocol(episodes):
    envs = [memgym.make("memgym/MemoryManager-v0", episodes=episodes, max_episode_steps=4) for _ in range(2)]
    assert all(isinstance(e, TimeLimit) for e in envs)
    for env in envs:
        env.reset(seed=0, options={"episode_index": 0})
    for n in range(1, 5):
        steps = step_envs(envs, ['{"memory": []}'] * 2)
        assert all(s.truncated == (n == 4) for s in steps)


def test_a_wrapper_that_does_not_forward_the_protocol_is_refused_by_name(episodes):
    env = gym.wrappers.TransformReward(memgym.make("memgym/MemoryManager-v0", episodes=episodes), lambda r: r)
    env.reset(seed=0)
    with pytest.raises(MemgymError, match=re.escape("TransformReward does not implement memgym's batched")):
        step_envs([env], ['{"memory": []}'])
    env.step('{"memory": []}')  # plain Gymnasium stepping still works, one environment at a time


def test_a_memory_wrapper_may_not_override_step():
    with pytest.raises(MemgymError, match="overrides step"):

        class Bad(MemoryWrapper):
            def step(self, action):
                return self.env.step(action)


def test_an_answer_agent_failure_leaves_a_clear_reset_needed(episodes):
    class Broken:
        def answer(self, questions, memories):
            raise RuntimeError("backend down")

    env = memgym.make("memgym/MemoryManager-v0", episodes=episodes, answer_agent=Broken()).unwrapped
    env.reset(seed=0, options={"episode_index": 0})
    with pytest.raises(RuntimeError, match="backend down"):
        while True:
            env.step(env.oracle_action())
    with pytest.raises(gym.error.ResetNeeded, match="interrupted"):
        env.step('{"memory": []}')
    env.reset(seed=0)  # and a reset recovers
    env.step('{"memory": []}')
