"""``long_turns``: keeps exactly the turns of at least ``min_words`` words, whole, until the budget refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from memgym.envs import make
from memgym.envs.stepping import step_envs
from memgym.errors import ConfigError
from memgym.policies.long_turns import LongTurnsPolicy
from memgym.policies.managers import make_policy

LOCOMO = Path(__file__).parent / "fixtures" / "data" / "locomo10_mini.json"


def _run(policy, **kwargs) -> tuple[list, list[set[str]]]:
    """Step ``policy`` through the fixture's first conversation: its turns, and the held memories' turns."""
    env = make("memgym/MemoryManager-v0", episodes=str(LOCOMO), answer_agent="none", **kwargs)
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    inner, done = env.unwrapped, False
    while not done:
        [step] = step_envs([env], policy.act([obs], [inner]))
        assert not step.info.get("error"), step.info["error"]
        obs, done = step.observation, step.done
    return inner.episodes[0].turns(), [set(m.provenance) for m in inner.bank.entries()]


@pytest.mark.parametrize("numbered", [False, True])
def test_it_keeps_the_turns_of_at_least_min_words_and_nothing_else(numbered):
    turns, _ = _run(make_policy("long_turns"))
    lengths = sorted(len(t.text.split()) for t in turns)
    cut = lengths[len(lengths) // 2]  # a threshold that splits the fixture's turns
    assert lengths[0] < cut
    turns, held = _run(LongTurnsPolicy(min_words=cut), numbered_candidates=numbered)
    assert held == [{t.id} for t in turns if len(t.text.split()) >= cut]


def test_a_full_bank_refuses_further_turns():
    turns, held = _run(LongTurnsPolicy(min_words=1), max_entries=2)
    assert held == [{turns[0].id}, {turns[1].id}]


@pytest.mark.parametrize("kwargs", [{"min_words": 0}, {"evict": "oldest"}])
def test_bad_arguments_are_named(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        LongTurnsPolicy(**kwargs)


@pytest.mark.parametrize("told", [False, True])
def test_word_counts_tell_the_manager_each_messages_length(told):
    env = make("memgym/MemoryManager-v0", episodes=str(LOCOMO), answer_agent="none", word_counts=told)
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    prompt = obs["messages"][-1]["content"]
    words = len(env.unwrapped.episodes[0].turns()[0].text.split())
    assert prompt.endswith(f"The new message has {words} words.") is told
    assert ("The new message has" in prompt) is told
