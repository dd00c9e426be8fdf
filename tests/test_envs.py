"""The environments: Gymnasium's and memgym's checks, policies over whole episodes, fuzzing, vector envs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memgym.envs import list_envs, make
from memgym.envs.answering import AnswerCache, answer_pending, memories_hash, question_points, tied_questions
from memgym.envs.base import MemoryEnv
from memgym.envs.checker import check_determinism, check_env, check_malformed_actions
from memgym.envs.construct import MemoryConstructEnv
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.episode import ABSTAIN_ANSWER
from memgym.envs.manager import MemoryManagerEnv
from memgym.envs.operations import Operation
from memgym.envs.overwrite import MemoryOverwriteEnv
from memgym.envs.spaces import ChatMessages, UnicodeText
from memgym.envs.stepping import step_envs
from memgym.errors import ConfigError, UnknownNameError
from memgym.policies.answer_agents.extractive import ExtractiveAnswerAgent
from memgym.policies.answer_agents.llm import LLMAnswerAgent, parse_answer

FIXTURES = Path(__file__).parent / "fixtures" / "data"
ENV_CLASSES = (MemoryManagerEnv, MemoryConstructEnv, MemoryOverwriteEnv)


@pytest.fixture(scope="module")
def episodes():
    """Three short synthetic episodes (6 sessions of 10 turns) with every question category."""
    return generate_synthetic(3, seed=11, config=SyntheticConfig(n_sessions=6, turns_per_session=10))


def run_episode(env: MemoryEnv, policy, index: int = 0, seed: int = 0) -> tuple[float, list[dict], dict]:
    """Play one episode; return the return, every answer dict, and the last info."""
    env.reset(seed=seed, options={"episode_index": index})
    total, answers, terminated = 0.0, [], False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(policy(env))
        assert not truncated and np.isfinite(reward)
        total += reward
        answers += info["answers"]
    return total, answers, info


def noop(env: MemoryEnv) -> str:
    return "<memory></memory>" if isinstance(env, MemoryOverwriteEnv) else '{"memory": []}'


# ------------------------------------------------------------------------------------------ spaces
def test_unicode_text_accepts_any_str_within_bounds_and_samples_broadly():
    space = UnicodeText(12, seed=0)
    assert "Zoë & 李 🙂\n\t" in space and "" in space
    assert "x" * 13 not in space and b"abc" not in space and None not in space
    samples = [space.sample() for _ in range(50)]
    assert all(s in space for s in samples)
    assert any(ord(c) > 127 for s in samples for c in s)  # not just ASCII
    assert UnicodeText(12, seed=0).sample() == samples[0]  # the space's own RNG, seeded
    assert gym.spaces.Text(12).contains("a b") is False  # why UnicodeText exists


def test_chat_messages_space():
    space = ChatMessages(max_length=10, seed=1)
    assert [{"role": "system", "content": "héllo"}, {"role": "user", "content": ""}] in space
    assert [{"role": "robot", "content": "x"}] not in space
    assert [{"role": "user", "content": "x" * 11}] not in space
    assert ({"role": "user", "content": "x"},) not in space  # a list, as chat templates take it
    assert all(space.sample() in space for _ in range(20))


# ------------------------------------------------------------------------------------------ checker
@pytest.mark.parametrize("mode", ["text", "structured"])
@pytest.mark.parametrize("env_id", [i for i in list_envs() if i.startswith("memgym/")])
def test_every_registered_env_passes_check_env(env_id, mode, episodes):
    env = make(env_id, episodes=episodes[:2], action_mode=mode)
    check_env(env)
    env.close()


def test_single_step_mode_passes_check_env(episodes):
    check_env(make("memgym/MemoryManager-v0", episodes=episodes[:2], mode="single_step"))


class _LeakyEnv(MemoryManagerEnv):
    """Applies what it could parse even when the action was malformed (breaks the all-or-nothing rule)."""

    def parse_text(self, text, unit):
        parsed = super().parse_text(text, unit)
        if parsed.error is not None:
            self.bank.apply([Operation.add("leaked")])
        return parsed


class _UnseededEnv(MemoryManagerEnv):
    """Shows the policy a turn chosen with an RNG that reset(seed=...) does not control."""

    _rng = np.random.default_rng()

    def shown_memories(self, unit):
        return self.bank.entries()[: int(self._rng.integers(0, 3))]


def test_checker_catches_a_bank_changed_by_a_malformed_action(episodes):
    with pytest.raises(AssertionError, match="changed the bank"):
        check_malformed_actions(_LeakyEnv(episodes[:1]))


def test_checker_catches_nondeterminism(episodes):
    with pytest.raises(AssertionError, match="differs between the two runs"):
        check_determinism(_UnseededEnv(episodes[:1], action_mode="structured"), n_steps=30)


# ------------------------------------------------------------------------------------------ policies
@pytest.mark.parametrize(
    "cls,kwargs",
    [(MemoryManagerEnv, {}), (MemoryConstructEnv, {}), (MemoryOverwriteEnv, {"memory_budget": 4000})],
)
def test_oracle_policy_scores_full_marks_and_noop_only_abstention(cls, kwargs, episodes):
    env = cls(episodes, **kwargs)
    for index in range(len(episodes)):
        _, answers, info = run_episode(env, lambda e: e.oracle_action(), index)
        assert len(answers) == len(episodes[index].questions)
        wrong = [a for a in answers if not a["correct"]]
        assert not wrong, wrong
        assert info["episode_qa"] == 1.0
        _, answers, info = run_episode(env, noop, index)
        assert {a["category"] for a in answers if a["correct"]} == {"abstention"}
        assert all(a["correct"] for a in answers if a["category"] == "abstention")
        assert all(a["prediction"] == ABSTAIN_ANSWER for a in answers)
        assert len(env.bank) == 0


@pytest.mark.parametrize("cls", ENV_CLASSES)
@pytest.mark.parametrize("mode", ["text", "structured"])
def test_random_policy_runs_full_episodes(cls, mode, episodes):
    env = cls(episodes, action_mode=mode)
    rng = np.random.default_rng(0)
    total, answers, info = run_episode(env, lambda e: e.random_action(rng), index=1)
    assert len(answers) == len(episodes[1].questions) and 0.0 <= info["episode_qa"] <= 1.0
    assert sum(info["op_counts"].values()) >= 0 and "reward/total" in info["reward_components"]


def _fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*") if p.suffix in (".json", ".jsonl") or p.is_dir())


@pytest.mark.skipif(
    not _fixture_files(), reason="the data engineer's fixtures are not in tests/fixtures/data yet"
)
@pytest.mark.parametrize("cls", ENV_CLASSES)
def test_random_and_scripted_policies_on_fixture_data(cls):
    from memgym.envs.data import load_episodes

    files = _fixture_files()
    for path in files:
        data = [ep for ep in load_episodes(path) if ep.turns()]
        assert data, f"{path.name} has no episode with turns"
        env = cls(data)
        for policy in (lambda e, rng=np.random.default_rng(0): e.random_action(rng), noop):
            for index in range(len(data)):
                _, answers, info = run_episode(env, policy, index)
                assert len(answers) == len(data[index].questions)
                assert all(isinstance(a["prediction"], str) for a in answers)


# ------------------------------------------------------------------------------------------ fuzzing
_VALID = '{"memory": [{"id": "m1", "text": "Mei lives in Oslo", "event": "UPDATE"}, {"text": "x", "event": "ADD"}]}'


@st.composite
def mangled_actions(draw):
    """Random text, random JSON, random tool calls, and valid actions cut short or with characters spliced in."""
    kind = draw(st.sampled_from(["text", "json", "cut", "splice", "tools"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "json":
        value = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                max_leaves=12,
            )
        )
        return json.dumps({"memory": value} if draw(st.booleans()) else value)
    if kind == "tools":
        name = draw(
            st.sampled_from(["memory_insert", "memory_update", "memory_delete", "memory_search", "fly"])
        )
        args = draw(
            st.dictionaries(
                st.sampled_from(["content", "new_content", "memory_id", "tier", "query", "top_k"]),
                st.text(max_size=10) | st.integers(-5, 10**9) | st.none(),
                max_size=4,
            )
        )
        return f"<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>"
    at = draw(st.integers(0, len(_VALID)))
    if kind == "cut":
        return _VALID[:at]
    return _VALID[:at] + draw(st.text(min_size=1, max_size=5)) + _VALID[at:]


@pytest.fixture(scope="module")
def fuzz_envs(episodes):
    envs = []
    for cls in ENV_CLASSES:
        env = cls(episodes[:1])
        env.reset(seed=0, options={"episode_index": 0})
        while len(env.bank) < (1 if isinstance(env, MemoryOverwriteEnv) else 2):  # so m1 exists
            env.step(env.oracle_action())
        envs.append(env)
    return envs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=mangled_actions())
def test_fuzzed_actions_never_crash_and_refused_ones_leave_the_bank_unchanged(fuzz_envs, action):
    for env in fuzz_envs:
        state, before = env.get_state(), env.bank.to_dict()
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs in env.observation_space and np.isfinite(reward)
        if info["error"] is not None:
            assert env.bank.to_dict() == before and info["ops"] == []
            assert info["reward_components"]["reward/format_penalty"] == -1.0
        env.set_state(state)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.dictionaries(
        st.sampled_from(["op", "target", "content", "tier", "extra"]),
        st.integers(-3, 12) | st.text(max_size=3) | st.none(),
        max_size=5,
    )
)
def test_fuzzed_structured_actions_never_crash(episodes, action):
    env = MemoryManagerEnv(episodes[:1], action_mode="structured")
    env.reset(seed=0)
    before = env.bank.to_dict()
    *_, info = env.step(action)
    if info["error"] is not None:
        assert env.bank.to_dict() == before


# ------------------------------------------------------------------------------------------ rewards, info
def test_malformed_action_gets_typed_error_and_format_penalty(episodes):
    env = MemoryManagerEnv(episodes[:1])
    env.reset(seed=0)
    _, reward, _, _, info = env.step('{"memory": [{"event": "UPDATE", "text": "no id"}]}')
    assert info["error"].code == "invalid_item" and "needs 'id'" in info["error"].message
    assert reward == pytest.approx(-0.1)  # format_penalty weight 0.1
    assert info["op_counts"] == {"ADD": 0, "UPDATE": 0, "DELETE": 0, "NOOP": 0, "failed": 0}


def test_partially_valid_action_is_refused_as_a_whole(episodes):
    env = MemoryManagerEnv(episodes[:1])
    env.reset(seed=0)
    *_, info = env.step('{"memory": [{"event": "ADD", "text": "good"}, {"event": "FLY", "text": "bad"}]}')
    assert info["error"] is not None and len(env.bank) == 0


def test_info_keys_and_provenance(episodes):
    env = MemoryManagerEnv(episodes[:1])
    obs, info = env.reset(seed=0)
    unit = env.current_unit
    *_, info = env.step('{"memory": [{"event": "ADD", "text": "Lorenzo likes tea"}]}')
    for key in (
        "ops",
        "error",
        "op_counts",
        "memory_entries",
        "memory_tokens",
        "reward_components",
        "answers",
    ):
        assert key in info
    assert info["ops"][0]["ok"] and info["op_counts"]["ADD"] == 1
    assert info["memory_entries"] == 1 and info["memory_tokens"] == 3
    entry = env.bank.entries()[0]
    assert entry.provenance == (unit.id,) and entry.timestamp == unit.date_time


@pytest.mark.parametrize("timing", ["questions", "end", "both"])
def test_reward_timing(timing, episodes):
    env = MemoryManagerEnv(episodes[:1], reward_timing=timing, reward_weights={"format_penalty": 0.0})
    env.reset(seed=0)
    rewards, comps, terminated = [], [], False
    while not terminated:
        _, reward, terminated, _, info = env.step(env.oracle_action())
        rewards.append(reward)
        comps.append(info["reward_components"])
    mid = [c for c in comps[:-1] if "reward/qa" in c]
    if timing == "end":
        assert rewards[:-1] == [0.0] * (len(rewards) - 1) and not mid
        assert comps[-1]["reward/qa_episode"] == 1.0 and "reward/qa" not in comps[-1]
    else:
        assert mid and all(c["reward/qa"] == 1.0 for c in mid)
        assert ("reward/qa_episode" in comps[-1]) == (timing == "both")
    assert sum(rewards) == pytest.approx(
        len([c for c in comps if "reward/qa" in c]) + (timing != "questions")
    )


def test_oracle_shaping_is_off_by_default_and_dense_when_weighted(episodes):
    plain = MemoryManagerEnv(episodes[:1])
    shaped = MemoryManagerEnv(episodes[:1], reward_weights={"oracle_ops": 0.5})
    for env in (plain, shaped):
        env.reset(seed=0)
    noop_checked = 0
    while plain.current_unit is not None:
        if shaped.oracle_ops():  # a step that needs operations: doing nothing disagrees with the labels
            info = shaped.spawn().step("[]")[4]
            assert info["reward_components"]["reward/oracle_ops"] == 0.0
            noop_checked += 1
        action = shaped.oracle_action()
        _, r_plain, _, _, info_plain = plain.step(action)
        _, r_shaped, _, _, info = shaped.step(action)
        assert "reward_weighted/oracle_ops" not in info_plain["reward_components"]
        assert info["reward_components"]["reward/oracle_ops"] == 1.0
        assert r_shaped - r_plain == pytest.approx(0.5)
    assert noop_checked > 5


def test_evidence_recall_is_reported_where_questions_have_evidence(episodes):
    env = MemoryManagerEnv(episodes[:1])
    recalls = []
    for policy in (lambda e: e.oracle_action(), noop):
        env.reset(seed=0)
        terminated, seen = False, []
        while not terminated:
            *_, terminated, _, info = env.step(policy(env))
            if "evidence_recall" in info:
                seen.append(info["evidence_recall"])
        recalls.append(np.mean(seen))
    assert recalls[0] > 0.5 and recalls[1] == 0.0


def test_unknown_names_and_bad_config_give_clear_errors(episodes):
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean: memgym/MemoryManager-v0")):
        make("memgym/MemoryManagr-v0")
    with pytest.raises(ConfigError, match="reward_timing='later' is not one of"):
        MemoryManagerEnv(episodes, reward_timing="later")
    with pytest.raises(ConfigError, match="unknown reward component"):
        MemoryManagerEnv(episodes, reward_weights={"accuracy": 1.0})
    with pytest.raises(ConfigError, match="out of range"):
        MemoryManagerEnv(episodes).reset(options={"episode_index": 99})
    with pytest.raises(gym.error.ResetNeeded):
        MemoryManagerEnv(episodes).step("[]")


# ------------------------------------------------------------------------------------------ state, G rollouts
def test_spawn_branches_independent_rollouts_from_one_state(episodes):
    env = MemoryManagerEnv(episodes[:1])
    env.reset(seed=0)
    for _ in range(20):
        env.step(env.oracle_action())
    before = env.bank.to_dict()
    clones = [env.spawn() for _ in range(3)]
    results = [c.step(a) for c, a in zip(clones, ["[]", env.oracle_action(), "{bad"], strict=False)]
    assert env.bank.to_dict() == before  # the original is untouched
    assert results[2][4]["error"] is not None and results[0][4]["error"] is None
    again = env.spawn().step(env.oracle_action())
    assert again[1] == results[1][1] and again[4]["ops"] == results[1][4]["ops"]
    state = env.get_state()
    env.step("[]")
    env.set_state(state)
    assert env.bank.to_dict() == before and env.step(env.oracle_action())[4]["ops"] == results[1][4]["ops"]


def test_single_step_tuples_score_the_tied_questions(episodes):
    ep = episodes[0]
    tied = tied_questions(ep)
    turn_id = next(iter(tied))
    env = MemoryManagerEnv(episodes[:1], mode="single_step")
    obs, info = env.reset(seed=0, options={"episode_index": 0, "turn_id": turn_id})
    assert info["n_steps"] == 1 and env.current_unit.id == turn_id
    group = [env.spawn() for _ in range(2)]
    good = group[0].step(group[0].oracle_action())
    bad = group[1].step("[]")
    assert good[2] and bad[2]  # one step, then terminated
    assert {a["question_id"] for a in good[4]["answers"]} == {q.id for q in tied[turn_id]}
    assert good[1] >= bad[1] and good[4]["episode_qa"] == 1.0
    for builder in ("add_all", "empty", lambda obs: '{"memory": []}'):
        env = MemoryManagerEnv(episodes[:1], mode="single_step", builder=builder)
        env.reset(seed=0, options={"turn_id": turn_id, "episode_index": 0})
        assert (len(env.bank) > 0) == (builder == "add_all")
    untied = next(t.id for t in ep.turns() if t.id not in tied)
    with pytest.raises(ConfigError, match="completes no question's evidence"):
        env.reset(options={"turn_id": untied, "episode_index": 0})


def test_balanced_single_step_states_are_half_on_evidence_turns(episodes):
    ep = episodes[0]
    cited = {e for q in ep.questions for e in q.evidence}
    share = {}
    for how in ("all", "balanced"):
        env = MemoryManagerEnv(episodes[:1], mode="single_step", single_step_turns=how, builder="empty")
        env.reset(seed=0)
        picks = []
        for _ in range(300):
            env.reset(options={"episode_index": 0})
            picks.append(env.current_unit.turns[0].id in cited)
        share[how] = sum(picks) / len(picks)
    base = len(cited & {t.id for t in ep.turns()}) / len(list(ep.turns()))
    assert abs(share["all"] - base) < 0.1 and abs(share["balanced"] - 0.5) < 0.1 and abs(base - 0.5) > 0.15


def test_extractor_makes_one_step_per_fact(episodes):
    def sentences(turn):
        return [s for s in re.split(r"(?<=[.!?])\s+", turn.text) if s]

    env = MemoryManagerEnv(episodes[:1], extractor=sentences)
    _, info = env.reset(seed=0)
    n_facts = sum(len(sentences(t)) for t in episodes[0].turns())
    assert info["n_steps"] == n_facts > len(episodes[0].turns())
    ids = []
    while env.current_unit is not None:
        ids.append(env.current_unit.id)
        obs, *_ = env.step("[]")
    assert any("#2" in i for i in ids)  # a turn with two sentences gave facts "D..#1" and "D..#2"


def test_question_points_follow_asked_after(episodes):
    ep = episodes[0]
    env = MemoryConstructEnv([ep])
    units = env.units_for(0)
    points = question_points(ep, units)
    for index, questions in points.items():
        for q in questions:
            if q.asked_after is None:
                assert index == len(units) - 1
            else:
                turns = {t.id for t in units[index].turns}
                assert q.asked_after in turns


# ------------------------------------------------------------------------------------------ batching, caching
class CountingAgent:
    """The real extractive agent, counting how often it is called and with how many questions."""

    def __init__(self):
        self.inner, self.calls = ExtractiveAnswerAgent(), []

    def answer(self, questions, memories):
        self.calls.append(len(questions))
        return self.inner.answer(questions, memories)


def test_step_envs_answers_many_envs_in_one_call_with_the_same_results(episodes):
    agent = CountingAgent()
    envs = [MemoryManagerEnv(episodes, answer_agent=agent) for _ in range(3)]
    solo = [MemoryManagerEnv(episodes) for _ in range(3)]
    for i, (a, b) in enumerate(zip(envs, solo, strict=False)):
        a.reset(seed=0, options={"episode_index": i})
        b.reset(seed=0, options={"episode_index": i})
    steps_with_questions = answered = 0
    for _ in range(60):
        actions = [e.oracle_action() for e in envs]
        batched = step_envs(envs, actions)
        single = [e.step(a) for e, a in zip(solo, actions, strict=False)]
        assert [r.reward for r in batched] == [r[1] for r in single]
        assert [r.info["answers"] for r in batched] == [r[4]["answers"] for r in single]
        steps_with_questions += any(r.info["answers"] for r in batched)
        answered += sum(len(r.info["answers"]) for r in batched)
    assert len(agent.calls) == steps_with_questions > 0  # one agent call per batched step with questions
    assert sum(agent.calls) == answered
    assert answer_pending([None, None], agent) == [None, None] and len(agent.calls) == steps_with_questions


def test_answer_cache_makes_a_repeated_episode_free(episodes):
    agent, cache = CountingAgent(), AnswerCache()
    env = MemoryManagerEnv(episodes[:1], answer_agent=agent, answer_cache=cache)
    first = run_episode(env, lambda e: e.oracle_action())
    asked = sum(agent.calls)
    second = run_episode(env, lambda e: e.oracle_action())
    assert sum(agent.calls) == asked and cache.answer_hits == asked > 0
    assert first[0] == second[0]


# ------------------------------------------------------------------------------------------ env specifics
def test_structured_manager_decodes_ops_against_shown_memories(episodes):
    env = MemoryManagerEnv(episodes[:1], action_mode="structured")
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space and obs.dtype == np.float32
    *_, info = env.step({"op": 2, "target": 0, "content": 0, "tier": 0})  # UPDATE with nothing shown
    assert info["error"].code == "invalid_target"
    *_, info = env.step({"op": 1, "target": 0, "content": 0, "tier": 0})  # ADD candidate 0
    assert info["op_counts"]["ADD"] == 1 and env.bank.entries()[0].text.startswith(
        env.episode.turns()[1].speaker
    )
    while not env.retriever.retrieve(env.current_unit.text, env.top_k):  # what the next step shows
        env.step({"op": 0, "target": 0, "content": 0, "tier": 0})
    *_, info = env.step({"op": 3, "target": 0, "content": 0, "tier": 0})  # DELETE the shown memory
    assert info["op_counts"]["DELETE"] == 1 and len(env.bank) == 0


def test_construct_search_repeats_the_chunk_once_with_results(episodes):
    env = MemoryConstructEnv(episodes[:1])
    env.reset(seed=0)
    env.step(
        '<tool_call>{"name": "memory_insert", "arguments": {"content": "Mei lives in Oslo", "tier": "semantic"}}</tool_call>'
        '<tool_call>{"name": "memory_update", "arguments": {"new_content": "Core: Lorenzo", "tier": "core"}}</tool_call>'
    )
    unit = env.current_unit
    obs, *_, info = env.step(
        '<tool_call>{"name": "memory_search", "arguments": {"query": "Oslo"}}</tool_call>'
    )
    assert env.current_unit == unit and "Mei lives in Oslo" in info["search_results"]
    assert "Results of your searches" in obs["messages"][1]["content"]
    obs, *_ = env.step('<tool_call>{"name": "memory_search", "arguments": {"query": "Oslo"}}</tool_call>')
    assert env.current_unit != unit and "Results of your searches" not in obs["messages"][1]["content"]
    assert re.search(r"<core>\n\[m\d+\] Core: Lorenzo\n</core>", obs["messages"][1]["content"])
    assert "memory_insert" in obs["messages"][0]["content"] and len(env.tools) == 4


def test_overwrite_budget_truncation_refusal_and_clearing(episodes):
    env = MemoryOverwriteEnv(episodes[:1], memory_budget=5)
    env.reset(seed=0)
    *_, info = env.step("<think>plan</think><memory>one two three four five six seven</memory>")
    assert env.memory_text == "one two three four five" and info["memory_truncated"]
    *_, info = env.step("<memory></memory>")
    assert env.memory_text == "" and info["error"] is None
    strict = MemoryOverwriteEnv(episodes[:1], memory_budget=5, overflow="refuse")
    strict.reset(seed=0)
    *_, info = strict.step("<memory>one two three four five six</memory>")
    assert info["ops"][0]["error"] == "capacity_tokens" and strict.memory_text == ""
    *_, info = strict.step("<memory>never closed")
    assert info["error"].code == "unclosed_memory"
    with pytest.raises(ConfigError, match="memory_budget"):
        MemoryOverwriteEnv(episodes, max_tokens=10)


# ------------------------------------------------------------------------------------------ vector envs, wrappers
def _make(mode):
    def thunk():
        eps = generate_synthetic(2, seed=11, config=SyntheticConfig(n_sessions=3, turns_per_session=6))
        return make("memgym/MemoryManager-v0", episodes=eps, action_mode=mode)

    return thunk


@pytest.mark.parametrize("mode", ["text", "structured"])
def test_sync_vector_env(mode):
    venv = gym.vector.SyncVectorEnv([_make(mode) for _ in range(2)])
    obs, info = venv.reset(seed=[0, 1])
    if mode == "text":
        assert isinstance(obs["messages"], tuple) and obs["step"].shape == (2,)
        actions = ('{"memory": [{"event": "ADD", "text": "Zoë likes tea"}]}', "not json")
    else:
        assert obs.shape[0] == 2
        actions = {
            "op": np.array([1, 0]),
            "target": np.zeros(2, int),
            "content": np.zeros(2, int),
            "tier": np.zeros(2, int),
        }
    obs, reward, terminated, truncated, info = venv.step(actions)
    assert info["memory_entries"].tolist() == [1, 0]
    if mode == "text":
        assert (
            reward.tolist() == [0.0, -0.1] and info["error"][0] is None and info["error"][1].code == "no_json"
        )
    for _ in range(40):  # through the end of an episode: autoreset
        venv.step(venv.action_space.sample())
    venv.close()


@pytest.mark.slow
def test_async_vector_env_needs_shared_memory_off():
    venv = gym.vector.AsyncVectorEnv([_make("text") for _ in range(2)], shared_memory=False)
    venv.reset(seed=0)
    _, reward, *_, info = venv.step(('{"memory": [{"event": "ADD", "text": "x y"}]}', '{"memory": []}'))
    assert info["memory_tokens"].tolist() == [2, 0] and reward.tolist() == [0.0, 0.0]
    venv.close()
    with pytest.raises(ValueError, match="shared_memory=False"):  # text has no fixed-size shared buffer
        gym.vector.AsyncVectorEnv([_make("text")], shared_memory=True)


def test_make_with_wrappers(episodes):
    env = make("memgym/MemoryManager-v0", episodes=episodes[:1], max_episode_steps=5)
    env = gym.wrappers.RecordEpisodeStatistics(gym.wrappers.TransformReward(env, lambda r: 2 * r))
    env.reset(seed=0)
    for _i in range(5):
        _, reward, terminated, truncated, info = env.step("{bad")
        assert reward == pytest.approx(-0.2)
    assert truncated and not terminated and info["episode"]["l"] == 5
    assert isinstance(env.unwrapped, MemoryManagerEnv)


# ------------------------------------------------------------------------------------------ LLM answer agent
def test_parse_answer_reads_the_last_marker_robustly():
    assert (
        parse_answer("Relevant: [m1, m4]\nMei moved twice.\n**Answer:** Oslo\nBecause m4 is newer.") == "Oslo"
    )
    assert parse_answer('Answer: Lyon\nWait, m4 is newer.\nFinal answer: "Oslo"') == "Oslo"
    assert parse_answer("**ANSWER:**\n\n  *Berlin*  \n") == "Berlin"
    assert parse_answer("Relevant: []\nI think it is\n'Paris'\n\n") == "Paris"  # no marker: last line
    assert parse_answer("") == "" and parse_answer("**Answer:**") == ""


def test_llm_answer_agent_prompt_shows_memories_with_ids_and_times():
    from memgym.envs.memory_bank import MemoryEntry
    from memgym.policies.backends.openai_http import OpenAIBackend

    agent = LLMAnswerAgent(OpenAIBackend("http://127.0.0.1:9", "tiny-test"), top_k=2)  # never called here
    memories = [
        MemoryEntry("m4", "Mei lives in Oslo.", "memory", timestamp="8 June, 2023"),
        MemoryEntry("m1", "Mei lives in Lyon.", "memory"),
        MemoryEntry("m9", "cut by top_k", "memory"),
    ]
    question = generate_synthetic(1, seed=1)[0].questions[0]
    system, user = agent.build_prompt(question, memories)
    assert "**Answer:**" in system["content"] and "list their ids" in system["content"]
    assert user["content"].startswith(
        "Memories:\n[m4] (8 June, 2023) Mei lives in Oslo.\n[m1] Mei lives in Lyon."
    )
    assert "cut by top_k" not in user["content"] and user["content"].endswith(
        f"Question: {question.question}"
    )
    assert "tiny-test" in agent.name and memories_hash(memories[:2]) != memories_hash(memories[1:])


class CountingBackend:
    """A real generation backend, counting its calls."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def generate(self, prompts, params=None):
        self.batches.append(len(prompts))
        return self.inner.generate(prompts, params)


@pytest.mark.slow
def test_llm_answer_agent_with_a_real_tiny_model_batches_and_caches(episodes):
    from memgym.policies.backends import SamplingParams
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model()
    backend = CountingBackend(TransformersBackend(model, tokenizer, batch_size=16))
    agent = LLMAnswerAgent(backend, SamplingParams(max_new_tokens=4), top_k=5)
    env = MemoryManagerEnv(episodes[:1], answer_agent=agent, answer_cache=AnswerCache())
    _, answers, _ = run_episode(env, lambda e: e.oracle_action())
    n_points = len({q.asked_after for q in episodes[0].questions})
    assert len(answers) == len(episodes[0].questions) and all(
        isinstance(a["prediction"], str) for a in answers
    )
    assert len(backend.batches) <= n_points and sum(backend.batches) == len(answers)  # one call per point
    calls = len(backend.batches)
    _, again, _ = run_episode(env, lambda e: e.oracle_action())  # the same memories: all cached
    assert len(backend.batches) == calls and [a["prediction"] for a in again] == [
        a["prediction"] for a in answers
    ]


# ------------------------------------------------------------------------------------------ qa_pending
def _toy_episode():
    from memgym.envs.episode import Episode, Question, Session, Turn

    turns = [Turn("D1:1", "Ana", "I live in Lisbon."), Turn("D1:2", "Ana", "Nice weather."),
             Turn("D1:3", "Ana", "My cat is Tom."), Turn("D1:4", "Ana", "Bye.")]
    qs = [
        Question("q1", "Where does Ana live?", ["Lisbon"], "single-hop", evidence=["D1:1"], candidates=["Lisbon", "Porto"]),
        Question("q2", "What is Ana's cat?", ["Tom"], "single-hop", evidence=["D1:3"], asked_after="D1:3",
                 candidates=["Tom", "Rex"]),
        Question("q3", "Anything?", ["x"], "single-hop"),  # no evidence: never determined
    ]
    return Episode("toy", ["Ana"], [Session("D1", None, turns)], qs)


def test_pending_points_are_the_determined_questions_not_yet_asked():
    from memgym.envs.answering import pending_points

    env = MemoryManagerEnv([_toy_episode()])
    points = pending_points(env.episodes[0], env.units_for(0))
    assert {i: [q.id for q in qs] for i, qs in points.items()} == {
        0: ["q1"], 1: ["q1"], 2: ["q1", "q2"], 3: ["q1"]  # q2 is asked after D1:3, q3 has no evidence
    }


def test_qa_pending_pays_what_the_step_did_to_what_the_memory_should_know():
    env = MemoryManagerEnv([_toy_episode()], reward_weights={"qa": 0.0, "qa_episode": 0.0, "qa_pending": 1.0})
    assert env.probes_pending and not MemoryManagerEnv([_toy_episode()]).probes_pending
    env.reset(seed=0)
    _, reward, *_, info = env.step('{"memory": [{"id": "new", "text": "Ana: I live in Lisbon.", "event": "ADD"}]}')
    assert reward == 1.0 and info["reward_components"]["reward/qa_pending"] == 1.0 and info["answers"] == []
    _, reward, *_, info = env.step('{"memory": [{"id": "m1", "event": "DELETE"}]}')  # forgets Lisbon
    assert reward == 0.0


def test_evidence_kept_and_memory_cost_price_what_the_bank_holds():
    env = MemoryManagerEnv([_toy_episode()], reward_weights={"qa": 0.0, "qa_episode": 0.0, "evidence_kept": 1.0,
                                                          "memory_cost": 0.5})
    env.reset(seed=0)
    add = '{"memory": [{"id": "new", "text": "Ana: I live in Lisbon.", "event": "ADD"}]}'
    _, reward, *_, info = env.step(add)  # D1:1 is q1's evidence: kept (+1), one memory (-0.5)
    assert info["reward_components"]["reward/evidence_kept"] == 1.0 and reward == 0.5
    _, reward, *_ = env.step('{"memory": [{"id": "new", "text": "Ana: Nice weather.", "event": "ADD"}]}')
    assert reward == 1.0 - 2 * 0.5  # chit-chat kept: no more evidence, one more memory
    _, reward, *_ = env.step('{"memory": [{"id": "m1", "event": "DELETE"}]}')
    assert reward == 0.0 - 0.5  # the evidence is gone
