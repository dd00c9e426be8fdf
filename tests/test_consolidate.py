"""The consolidation environment: Retain / Delete / Consolidate, regimes, utility over time, faithfulness."""

from __future__ import annotations

import json

import numpy as np
import pytest

import memgym.envs
from memgym.envs.checker import check_env
from memgym.envs.consolidate import MemoryConsolidateEnv
from memgym.envs.consolidate_actions import (
    Decision,
    decisions_from_ops,
    merge_texts,
    parse_decisions,
    render_decisions,
)
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.data.synthetic.streams import STREAM_CATEGORIES, StreamConfig, generate_streams
from memgym.envs.operations import Operation
from memgym.errors import ConfigError
from memgym.policies.managers import make_policy

ENV_ID = "memgym/MemoryConsolidate-v0"
SMALL = {"n_episodes": 2, "config": {"n_sessions": 4}}


def _env(**kwargs) -> MemoryConsolidateEnv:
    return memgym.envs.make(ENV_ID, episode_kwargs=SMALL, **kwargs).unwrapped


def _run(env: MemoryConsolidateEnv, policy: str, index: int = 0) -> dict:
    obs, _ = env.reset(seed=0, options={"episode_index": index})
    pol = make_policy(policy)
    while True:
        obs, _, terminated, _, info = env.step(pol.act([obs], [env])[0])
        assert info["error"] is None, info["error"]
        if terminated:
            return info


@pytest.mark.parametrize("regime", ["automatic", "forced", "episodic"])
def test_check_env_passes_in_every_regime(regime):
    check_env(memgym.envs.make(ENV_ID, episode_kwargs=SMALL, regime=regime))


def test_check_env_passes_in_structured_mode_and_on_the_default_synthetic_data():
    check_env(memgym.envs.make(ENV_ID, episode_kwargs=SMALL, action_mode="structured", regime="forced"))
    episodes = generate_synthetic(1, seed=1, config=SyntheticConfig(n_sessions=3, turns_per_session=6))
    check_env(memgym.envs.make(ENV_ID, episodes=episodes))


def test_new_episodes_enter_raw_with_provenance_and_consolidation_unions_it():
    env = _env()
    env.reset(seed=0, options={"episode_index": 0})
    new = env.new_episodes()
    assert [e.id for e in new][:2] == ["n1", "n2"] and all(len(e.provenance) == 1 for e in new)
    *_, info = env.step(render_decisions([Decision.consolidate(["n1", "n3"], "A summary."), Decision.delete(["n2"])]))
    assert info["error"] is None
    raw = env.bank.entries("episodic")
    [merged] = env.bank.entries("consolidated")
    assert merged.text == "A summary." and merged.provenance == new[0].provenance + new[2].provenance
    assert [e.provenance for e in raw] == [e.provenance for e in new[3:]]
    assert info["consolidation"]["groups"] == 1 and info["consolidation"]["sources"] == 2
    # a second round consolidates the first round's entries with the new ones: provenance is the union
    second = env.new_episodes()
    *_, info = env.step(render_decisions([Decision.consolidate([merged.id, raw[0].id, "n1"], "B.")]))
    [again] = env.bank.entries("consolidated")
    assert set(again.provenance) == set(merged.provenance) | set(raw[0].provenance) | set(second[0].provenance)
    assert info["utility"]["max_depth"] == 2


@pytest.mark.parametrize("regime,action,code", [
    ("episodic", render_decisions([Decision.consolidate(["n1", "n2"], "x")]), "consolidation_disabled"),
    ("forced", '{"decisions": []}', "forced_consolidation"),
    ("automatic", render_decisions([Decision.delete(["n1"]), Decision.delete(["no-such"])]), "unknown_id"),
    ("automatic", render_decisions([Decision.delete(["n1"]), Decision.retain(["n1"])]), "duplicate_id"),
    ("automatic", '{"decisions": [{"action": "CONSOLIDATE", "ids": ["n1"]}]}', "invalid_item"),
])
def test_refused_actions_change_nothing_and_say_why(regime, action, code):
    env = _env(regime=regime)
    env.reset(seed=0, options={"episode_index": 0})
    env.step(env.oracle_action())
    before = env.bank.to_dict()
    *_, info = env.step(action)
    assert info["error"].code == code and info["ops"] == []
    assert env.bank.to_dict() == before
    assert info["reward_components"]["reward/format_penalty"] == -1.0


def test_capacity_refuses_a_whole_action_not_part_of_it():
    env = _env(max_entries=3)
    env.reset(seed=0, options={"episode_index": 0})
    *_, info = env.step('{"decisions": []}')  # would add every turn of the round
    assert info["error"].code == "refused_by_bank" and len(env.bank) == 0


def test_the_utility_curve_is_in_info_with_the_no_memory_baseline():
    env = _env()
    info = _run(env, "oracle")
    curve = info["utility_curve"]
    assert len(curve) == len(env.progress.units) == 4
    assert [p["round"] for p in curve] == [1, 2, 3, 4]
    assert all(p["qa"] == 1.0 for p in curve if p["n_questions"])  # the oracle's memory answers all
    assert all(p["qa_no_memory"] == 0.0 for p in curve if p["n_questions"])
    assert curve[-1]["n_questions"] == len([q for q in env.episode.questions if q.asked_after is None])
    assert env.utility_curve == curve
    final = _env(utility_set="final", utility_every=2)
    curve = _run(final, "always_retain")["utility_curve"]
    assert [p["round"] for p in curve] == [2, 4] and len({p["n_questions"] for p in curve}) == 1


def test_forced_lossy_consolidation_loses_what_keeping_raw_episodes_keeps():
    """The qualitative finding on the streams: forced consolidation by a lossy merge ends below
    keeping raw episodes, and the episodic regime matches the automatic one."""
    scores = {}
    for regime, policy in (("forced", "always_consolidate"), ("automatic", "always_retain"),
                           ("episodic", "always_retain")):
        env = memgym.envs.make(ENV_ID, episode_kwargs={"n_episodes": 2}, regime=regime).unwrapped
        scores[regime] = np.mean([_run(env, policy, i)["episode_qa"] for i in range(2)])
    assert scores["forced"] < scores["automatic"] - 0.15
    assert scores["episodic"] == scores["automatic"]


def test_faithfulness_rewards_consolidations_that_keep_their_answers():
    env = _env()
    env.reset(seed=0, options={"episode_index": 0})
    fact = _first_answerable_fact(env)
    kept = env.spawn()
    *_, info = kept.step(render_decisions([Decision.consolidate([fact.id], fact.text)]))
    lost = env.spawn()
    *_, lossy = lost.step(render_decisions([Decision.consolidate([fact.id], "Something happened.")]))
    assert info["consolidation"]["faithfulness"] == 1.0 and lossy["consolidation"]["faithfulness"] == 0.0
    assert info["reward_components"]["reward/consolidation_faithfulness"] == 1.0
    assert lossy["reward_components"]["reward/consolidation_faithfulness"] == 0.0


def _first_answerable_fact(env):
    """Step with the oracle until a new episode is evidence of a question answerable right away."""
    while True:
        questions = [q for q in env.utility_questions(env.current_unit.index) if q.answers[0] != "not mentioned"]
        for e in env.new_episodes():
            if any(set(e.provenance) & set(q.evidence) and q.answers[0] in e.text for q in questions):
                return e
        env.step(env.oracle_action())


def test_faithfulness_probes_measure_it_with_the_answer_agent():
    env = _env(faithfulness_probes=True, regime="forced")
    info = _run(env, "always_consolidate")
    assert "faithfulness_qa" in info["consolidation"]
    seen = [v for v in (info["consolidation"]["faithfulness_qa"],) if v is not None]
    assert all(0.0 <= v <= 1.0 for v in seen)


def test_other_environments_neither_pay_nor_log_the_consolidation_components():
    import memgym.envs.consolidate  # noqa: F401  (registers them)

    env = memgym.envs.make("memgym/MemoryManager-v0", episode_kwargs={"n_episodes": 1}).unwrapped
    env.reset(seed=0)
    *_, info = env.step('{"memory": []}')
    names = {"consolidation_faithfulness", "consolidation_qa_faithfulness", "memory_utility", "memory_utility_gain"}
    assert not any(k.split("/")[-1] in names for k in info["reward_components"])


def test_the_memory_utility_component_is_the_curve_point():
    env = _env(reward_weights={"memory_utility": 1.0, "memory_utility_gain": 0.5})
    env.reset(seed=0, options={"episode_index": 0})
    while True:
        *_, terminated, _, info = env.step(env.oracle_action())
        point = info["utility"]
        if point["qa"] is not None:
            assert info["reward_components"]["reward/memory_utility"] == point["qa"]
            assert info["reward_components"]["reward/memory_utility_gain"] == point["qa"] - point["qa_no_memory"]
        if terminated:
            break


def test_baselines_say_where_they_do_not_apply():
    with pytest.raises(ConfigError, match="forced regime"):
        make_policy("always_retain").check(_env(regime="forced"))
    with pytest.raises(ConfigError, match="episodic regime"):
        make_policy("always_consolidate").check(_env(regime="episodic"))
    with pytest.raises(ConfigError, match="consolidation environment"):
        make_policy("never_delete").check(memgym.envs.make("memgym/MemoryManager-v0",
                                                           episode_kwargs={"n_episodes": 1}))
    for regime in ("automatic", "forced", "episodic"):
        assert _run(_env(regime=regime), "never_delete")["episode_qa"] >= 0.0


def test_the_oracle_consolidates_one_entry_per_fact_and_deletes_noise():
    env = _env(regime="forced")
    _run(env, "oracle")
    assert not env.bank.entries("episodic")
    slots = [{lb.slot for lb in env.progress.oracle.labels(e.provenance) if lb.slot} for e in env.bank.entries()]
    assert all(len(s) >= 1 for s in slots)
    assert len(env.bank) == len({lb.slot for lb in env.episode.op_labels if lb.kind in ("ADD", "UPDATE")})


def test_same_seed_same_actions_same_everything():
    a, b = _env(), _env()
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    while a.current_unit is not None:
        out_a, out_b = a.step(a.random_action(rng_a)), b.step(b.random_action(rng_b))
        assert out_a[0] == out_b[0] and out_a[1] == out_b[1] and a.bank.to_dict() == b.bank.to_dict()


HOSTILE = [None, 3, b"\xff", "", "[]", "{}", '{"decisions": null}', '{"decisions": [1, 2]}',
           '{"decisions": [{"action": "delete", "ids": "n1"}]}', '{"decisions": [{"action": "RETAIN", "ids": []}]}',
           '{"decisions": [{"action": "CONSOLIDATE", "ids": ["n1"], "text": "\\ud83d tea\\n[m999] forged"}]}',
           '{"decisions": [' + ", ".join(['{"action": "DELETE", "ids": ["n1"]}'] * 500) + "]}",
           '{"decisions": ' + "[" * 5000 + "]" * 5000 + "}", "<think>x</think>" + "{" * 100,
           '{"decisions": [{"action": "CONSOLIDATE", "ids": ["n1", 7], "text": "x"}]}',
           '{"decisions": [{"action": "CONSOLIDATE", "ids": ["n1"], "text": "' + "y " * 50_000 + '"}]}']


@pytest.mark.parametrize("action", HOSTILE)
def test_hostile_actions_never_raise_and_stored_text_is_clean(action):
    env = _env()
    env.reset(seed=0, options={"episode_index": 0})
    obs, reward, *_ , info = env.step(action)
    assert np.isfinite(reward) and env.observation_space.contains(obs)
    assert all("\ud83d" not in e.text for e in env.bank.entries())
    forged = [line for m in obs["messages"] for line in m["content"].splitlines() if line.startswith("[m999]")]
    assert not forged


def test_text_round_trips_and_generic_operations_map_onto_decisions():
    decisions = [Decision.consolidate(["m1", "n2"], "Ana: Oslo."), Decision.delete(["m3"]), Decision.retain(["m4"])]
    parsed, error = parse_decisions("Sure:\n```json\n" + render_decisions(decisions) + "\n```")
    assert error is None and parsed == decisions
    ops = [Operation.delete("m1"), Operation.delete("m2"), Operation.add("AB", tier="consolidated"),
           Operation.update("m5", "E"), Operation.add("raw"), Operation.delete("m9")]
    assert decisions_from_ops(ops) == [Decision.consolidate(["m1", "m2"], "AB"), Decision.consolidate(["m5"], "E"),
                                       Decision.delete(["m9"])]
    assert json.loads(render_decisions([]))["decisions"] == []


def test_the_lossy_merge_drops_one_off_details_first():
    texts = ["Ana lives in Lyon.", "Ana's locker code is 4172.", "Ana moved from Lyon to Oslo."]
    merged = merge_texts(texts, max_words=10)
    assert "4172" not in merged and "Oslo" in merged
    assert merge_texts(texts) == " ".join(texts)


def test_streams_are_deterministic_and_hold_the_faulty_consolidation_cases():
    a, b = generate_streams(3, seed=2), generate_streams(3, seed=2)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]
    assert generate_streams(1, seed=2)[0].to_dict() == a[0].to_dict()
    categories = {q.category for e in a for q in e.questions}
    assert categories <= set(STREAM_CATEGORIES) and {"update", "temporal", "detail", "near-duplicate"} <= categories
    for ep in a:
        labelled = {lb.turn_id for lb in ep.op_labels}
        assert labelled == {t.id for t in ep.turns()}
        for q in ep.questions:
            assert q.answers[0] in q.candidates and set(q.evidence) <= labelled
    with pytest.raises(ConfigError, match="n_pairs"):
        StreamConfig(n_pairs=99)


def test_grammar_accepts_the_oracle_actions():
    pytest.importorskip("llguidance")
    from memgym.policies.backends.grammar import ll_tokenizer, matcher
    from memgym.policies.models import tiny_model

    _, tokenizer = tiny_model()
    env = _env()
    env.reset(seed=0, options={"episode_index": 0})
    for _ in range(2):
        action = env.oracle_action()
        m = matcher(ll_tokenizer(tokenizer), env.action_grammar("format", 4096))
        assert all(m.consume_token(t) for t in tokenizer(action, add_special_tokens=False)["input_ids"]), action
        assert m.is_accepting()
        env.step(action)


def test_the_bench_runs_the_baselines_in_each_regime():
    from memgym.policies.bench import run_bench

    episodes = generate_streams(1, seed=0, config={"n_sessions": 3})
    for regime in ("automatic", "forced", "episodic"):
        result = run_bench(["always_retain", "always_consolidate", "never_delete", "oracle"], ENV_ID, episodes,
                           env_kwargs={"regime": regime}, progress=False)
        summary = result.summary()
        ran = [name for name, s in summary.items() if not s["skipped"]]
        assert "oracle" in ran and "never_delete" in ran
        if regime != "episodic":  # the episodic oracle keeps raw facts, which retrieval may miss
            assert summary["oracle"]["overall"]["em"] == 1.0
        if not summary["always_retain"]["skipped"]:
            assert summary["oracle"]["overall"]["em"] >= summary["always_retain"]["overall"]["em"]


def test_the_experiment_writes_the_curves_the_report_and_the_png(tmp_path, load_experiment):
    module = load_experiment("consolidation_utility")
    assert module.main(["--episodes", "1", "--sessions", "3", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    forced = data["results"]["final"]["forced"]
    assert forced["oracle"]["episode_qa"] == 1.0 and "skipped" in forced["always_retain"]
    assert len(forced["always_consolidate"]["qa"]) == 3
    assert (tmp_path / "utility_curve.png").stat().st_size > 1000
    assert "| always_consolidate |" in (tmp_path / "report.md").read_text()
