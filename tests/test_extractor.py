"""Fact extractors: selectable by name, the LLM one batched and cached, and their facts feed the manager's steps."""

from __future__ import annotations

import json

import pytest

import memgym
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.episode import Turn
from memgym.envs.extractors import EXTRACTORS, SentenceExtractor, extract_episode, make_extractor
from memgym.envs.stepping import step_envs
from memgym.errors import UnknownNameError
from memgym.policies.backends import Generation
from memgym.policies.extractors import LLMFactExtractor, fact_recall, oracle_value_words, parse_facts
from memgym.policies.managers import make_policy

SMALL = SyntheticConfig(n_entities=2, facts_per_entity=2, n_sessions=2, turns_per_session=6)


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(2, seed=3, config=SMALL)


class ScriptedBackend:
    """Answers each extraction prompt with two facts naming the message (stands in for a model's text)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def generate(self, prompts, params=None):
        self.calls.append(len(prompts))
        out = []
        for p in prompts:
            said = p[-1]["content"].split(": ", 1)[-1]
            facts = [] if said.endswith("?") or len(said.split()) < 4 else [f"Fact A of {said}", f"Fact B of {said}"]
            out.append(Generation(f'Sure. {{"facts": {json.dumps(facts)}}}'))
        return out


def test_extractors_are_selected_by_name():
    assert {"turn", "sentences", "llm"} <= set(EXTRACTORS.names())
    assert isinstance(make_extractor("sentences", min_words=2), SentenceExtractor)
    with pytest.raises(UnknownNameError, match="sentences"):
        make_extractor("sentence")
    assert SentenceExtractor()(Turn("D1:1", "Ana", "Hi! I moved to Oslo. Do you like it? Got it.")) == ["I moved to Oslo."]


def test_the_manager_steps_once_per_extracted_fact(episodes):
    env = memgym.make("memgym/MemoryManager-v0", episodes=episodes, extractor="sentences").unwrapped
    facts = extract_episode(SentenceExtractor(), episodes[0])
    obs, info = env.reset(seed=0, options={"episode_index": 0})
    assert info["n_steps"] == sum(len(f) for f in facts)
    policy, written = make_policy("store_all"), []
    while env.current_unit is not None:
        unit = env.current_unit
        [step] = step_envs([env], policy.act([obs], [env]))
        written += [o["op"]["text"] for o in step.info["ops"]]
        assert all(t == f"{unit.turns[0].speaker}: {unit.text}" for t in [o["op"]["text"] for o in step.info["ops"]])
        obs = step.observation
    turns = episodes[0].turns()
    assert written == [f"{t.speaker}: {f}" for t, fs in zip(turns, facts, strict=True) for f in fs]


def test_the_llm_extractor_is_batched_cached_and_feeds_the_manager(episodes, tmp_path):
    backend = ScriptedBackend()
    cache = tmp_path / "facts.json"
    env = memgym.make("memgym/MemoryManager-v0", episodes=episodes, extractor="llm",
                      extractor_kwargs={"backend": backend, "cache_path": str(cache)}).unwrapped
    _, info = env.reset(seed=0, options={"episode_index": 0})
    turns = episodes[0].turns()
    assert len(backend.calls) == 1 and backend.calls[0] <= len(turns)  # one batch for the episode's turns
    stated = [t for t in turns if not t.text.endswith("?") and len(t.text.split()) >= 4]
    assert info["n_steps"] == 2 * len(stated)
    units = env.units_for(0)
    assert units[0].text == f"Fact A of {stated[0].text}" and units[0].id == f"{stated[0].id}#1"
    env.reset(seed=0, options={"episode_index": 0})
    assert len(backend.calls) == 1  # the environment's units are built once
    again = LLMFactExtractor(ScriptedBackend(), cache_path=cache)  # a later run: the file has every fact
    assert extract_episode(again, episodes[0]) == extract_episode(env.extractor, episodes[0])
    assert again.backend.calls == []
    only = LLMFactExtractor(ScriptedBackend(), speakers=["nobody"])
    assert only.extract_many(turns, [None] * len(turns)) == [[] for _ in turns] and only.backend.calls == []


def test_parse_facts():
    assert parse_facts('{"facts": ["Lives in Oslo", "Lives in Oslo", ""]}') == ["Lives in Oslo"]
    assert parse_facts("```json\n{\"facts\": []}\n```") == []
    assert parse_facts("1. Has a cat\n2) Works as a nurse\nnothing") == ["Has a cat", "Works as a nurse"]
    assert parse_facts("no facts here") == []


def test_fact_recall_counts_the_oracle_values_recovered(episodes):
    assert oracle_value_words("The job of Idris (Lorenzo's brother) is locksmith (the job changed from "
                              "paramedic to locksmith on 23 March, 2023).", ["idris"]) == {"locksmith"}
    assert oracle_value_words("Raj is Lorenzo's grandfather.", ["raj", "lorenzo"]) == {"grandfather"}
    texts = {}  # turn text -> the oracle's memory text (what a perfect extractor would write)
    for ep in episodes:
        said = {t.id: t.text for t in ep.turns()}
        texts.update({said[lab.turn_id]: lab.text for lab in ep.op_labels if lab.text})
    oracle = fact_recall(episodes, lambda turn: [texts[turn.text]] if turn.text in texts else [])
    assert oracle["fact_recall"] == 1.0 and oracle["quiet_rate"] == 1.0
    raw = fact_recall(episodes, make_extractor("turn"))
    assert raw["fact_recall"] >= 0.9 and raw["quiet_rate"] == 0.0 and raw["facts_per_turn"] == 1.0
    silent = fact_recall(episodes, lambda turn: [])
    assert silent["fact_recall"] == 0.0 and silent["quiet_rate"] == 1.0


@pytest.mark.slow
def test_the_llm_extractor_runs_on_a_real_model(episodes):
    """One generation batch per episode on a real (tiny) model; under its grammar every completion is the
    JSON list, whatever the model's skill."""
    from memgym.policies.backends import SamplingParams
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model()
    backend = TransformersBackend(model, tokenizer)
    extractor = LLMFactExtractor(backend, SamplingParams(max_new_tokens=24, temperature=0.0), constrained=True,
                                 max_facts=2)
    facts = extract_episode(extractor, episodes[0])
    assert extractor.calls == 1 and len(facts) == len(episodes[0].turns())
    assert all(isinstance(f, str) for fs in facts for f in fs)
    turns = episodes[0].turns()[:3]
    for gen in backend.generate([extractor.build_prompt(t) for t in turns], extractor.params):
        assert isinstance(json.loads(gen.text)["facts"], list), gen.text
