"""``evidence_oracle``: keeps exactly the turns the questions cite, refuses or evicts when full, and writes
actions the warm start can imitate (``#1`` under numbered candidates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memgym.envs import make
from memgym.envs.stepping import step_envs
from memgym.errors import ConfigError
from memgym.policies.evidence_oracle import EvidenceOraclePolicy
from memgym.policies.managers import make_policy

LOCOMO = Path(__file__).parent / "fixtures" / "data" / "locomo10_mini.json"


def _env(**kwargs):
    return make("memgym/MemoryManager-v0", episodes=str(LOCOMO), answer_agent="none", **kwargs)


def _run(policy, env, episode: int = 0) -> list[dict]:
    """Step ``policy`` through one episode; the bank's entries at the end."""
    obs, _ = env.reset(seed=0, options={"episode_index": episode})
    inner, done = env.unwrapped, False
    while not done:
        [step] = step_envs([env], policy.act([obs], [inner]))
        assert not step.info.get("error"), step.info["error"]
        obs, done = step.observation, step.done
    return [{"text": m.text, "provenance": set(m.provenance)} for m in inner.bank.entries()]


def _turns(env, episode: int = 0):
    ep = env.unwrapped.episodes[episode]
    cited = {e for q in ep.questions for e in q.evidence}
    return ep.turns(), cited


@pytest.mark.parametrize("numbered", [False, True])
def test_it_keeps_each_evidence_turn_whole_and_nothing_else(numbered):
    env = _env(numbered_candidates=numbered)
    turns, cited = _turns(env)
    held = _run(make_policy("evidence_oracle"), env)
    assert [m["provenance"] for m in held] == [{t.id} for t in turns if t.id in cited]
    by_id = {t.id: t for t in turns}
    assert [m["text"] for m in held] == [f"{by_id[next(iter(m['provenance']))].speaker}: "
                                         f"{by_id[next(iter(m['provenance']))].text.strip()}" for m in held]


def test_a_full_bank_refuses_or_evicts_the_related_memory():
    turns, _ = _turns(_env())
    order = [t.id for t in turns]
    keep_all = {"tpr": 1.0, "fpr": 1.0}
    refused = _run(EvidenceOraclePolicy(evict="refuse", **keep_all), _env(max_entries=1))
    assert [m["provenance"] for m in refused] == [{order[0]}]
    # "related" replaces the held memory whenever a turn is shown it (the fixture's turns share words)
    evicted = _run(EvidenceOraclePolicy(evict="related", **keep_all), _env(max_entries=1))
    assert len(evicted) == 1
    assert order.index(next(iter(evicted[0]["provenance"]))) > 0


def test_a_noisy_detector_keeps_what_its_rates_say():
    env = _env()
    turns, cited = _turns(env)
    held = _run(EvidenceOraclePolicy(tpr=0.0, fpr=1.0), env)
    assert [m["provenance"] for m in held] == [{t.id} for t in turns if t.id not in cited]


@pytest.mark.parametrize("kwargs", [{"evict": "oldest"}, {"tpr": 1.5}, {"fpr": -0.1}])
def test_bad_arguments_are_named(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        EvidenceOraclePolicy(**kwargs)


def test_as_a_warm_start_teacher_it_writes_the_choices_the_grammar_offers():
    from memgym.trainers.sft import collect_examples, make_teacher

    turns, cited = _turns(_env())
    examples = collect_examples(lambda: _env(numbered_candidates=True), [0], make_teacher("evidence_oracle"))
    assert [e["op"] for e in examples] == ["ADD" if t.id in cited else "NOOP" for t in turns]
    assert all('"#1"' in e["completion"] for e in examples if e["op"] == "ADD")
