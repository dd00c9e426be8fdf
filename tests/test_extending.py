"""Each kind of addition is one new definition plus one registration: a baseline, a data format, a backend.

(A reward component: ``tests/test_rewards.py::test_a_registered_reward_component_is_paid_and_logged``;
an environment: ``tests/plugin_example`` with ``tests/test_env_plugin.py``.)
"""

from __future__ import annotations

import json

import pytest

from memgym.envs.data import FORMATS, load_episodes
from memgym.envs.episode import Episode, Question, Session, Turn
from memgym.envs.operations import Operation
from memgym.policies.backends import BACKENDS, Generation, make_backend
from memgym.policies.bench import run_bench
from memgym.policies.managers import POLICIES, BaselinePolicy


def _episode() -> Episode:
    turns = [Turn("D1:1", "Ana", "I live in Lisbon."), Turn("D1:2", "Ana", "My cat is Tom.")]
    question = Question("q1", "Where does Ana live?", ["Lisbon"], "single-hop", asked_after="D1:2",
                        candidates=["Lisbon", "Porto"])
    return Episode("toy-1", ["Ana"], [Session("D1", "1 May, 2023", turns)], [question], source="toy")


class FirstTurnOnly(BaselinePolicy):
    """A baseline: store the first turn of an episode, nothing after it."""

    name = "first_turn_only"

    def act_one(self, env):
        unit = env.current_unit
        first = unit.index == 0
        return env.render_action([Operation.add(f"{unit.turns[0].speaker}: {unit.text}")] if first else [])


def test_a_baseline_is_one_class_and_one_registration():
    POLICIES.register("first_turn_only", FirstTurnOnly)
    try:
        result = run_bench(["first_turn_only", "noop"], episodes=[_episode()], progress=False)
    finally:
        POLICIES._entries.pop("first_turn_only")
    summary = result.summary()
    assert summary["first_turn_only"]["overall"]["em"] == 1.0  # "Lisbon" was in the first turn
    assert summary["noop"]["overall"]["em"] == 0.0
    assert result.policies[0].episodes[0]["memory_entries"] == 1


def load_toy_lines(path, **options) -> list[Episode]:
    """A data format: one conversation per line, ``{"id", "speaker", "lines": [...], "qa": [[q, a]]}``."""
    episodes = []
    for row in map(json.loads, open(path, encoding="utf-8")):
        turns = [Turn(f"D1:{i + 1}", row["speaker"], text) for i, text in enumerate(row["lines"])]
        questions = [Question(f"q{i}", q, [a], "single-hop") for i, (q, a) in enumerate(row["qa"])]
        episodes.append(Episode(row["id"], [row["speaker"]], [Session("D1", None, turns)], questions, source="toy"))
    return episodes


def test_a_data_format_is_one_function_and_one_registration(tmp_path):
    path = tmp_path / "toy.txt"
    path.write_text(json.dumps({"id": "t1", "speaker": "Bo", "lines": ["Hi.", "I am 40."], "qa": [["Age?", "40"]]}))
    FORMATS.register("toy_lines", load_toy_lines)
    try:
        [episode] = load_episodes(path, "toy_lines")
    finally:
        FORMATS._entries.pop("toy_lines")
    assert [t.text for t in episode.turns()] == ["Hi.", "I am 40."] and episode.questions[0].answers == ["40"]


class EchoBackend:
    """A backend: answers every prompt with a fixed text (here, a valid Mem0 JSON action)."""

    def __init__(self, text: str = '{"memory": []}') -> None:
        self.text, self.calls = text, 0

    def generate(self, prompts, params=None):
        self.calls += 1
        return [Generation(text=self.text) for _ in prompts]


def test_a_backend_is_one_class_and_one_registration():
    BACKENDS.register("echo", EchoBackend)
    try:
        backend = make_backend("echo", text='{"memory": [{"id": "new", "text": "Ana: I live in Lisbon.", "event": "ADD"}]}')
        from memgym.policies.llm_policy import LLMPolicy

        result = run_bench([LLMPolicy(backend, name="echo")], episodes=[_episode()], progress=False)
    finally:
        BACKENDS._entries.pop("echo")
    assert backend.calls == 2  # one generation call per step (two turns)
    assert result.summary()["echo"]["overall"]["em"] == 1.0


@pytest.mark.parametrize("name", ["store_all", "mem0_heuristic", "noop"])
def test_baselines_write_what_the_plugin_env_asks_for(name):
    """Baselines ask the environment to render their operations, whatever it is."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "plugin_example"))
    try:
        from memgym_example_plugin import DiaryEnv

        env = DiaryEnv([_episode()])
        from memgym.policies.managers import make_policy

        policy = make_policy(name)
        policy.check(env)
        obs, _ = env.reset(seed=0)
        *_, info = env.step(policy.act([obs], [env])[0])
        assert info["error"] is None
        texts = [e.text for e in env.bank.entries()]
        assert not any("{" in t for t in texts)  # never the raw Mem0 JSON as a diary line
        if name == "store_all":
            assert texts == ["Ana: I live in Lisbon.; Ana: My cat is Tom."]
    finally:
        sys.path.pop(0)
        sys.modules.pop("memgym_example_plugin", None)
