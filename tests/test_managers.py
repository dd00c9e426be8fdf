"""Memory-manager policies: the baselines on each environment, the Mem0-style rules, the LLM policy."""

from __future__ import annotations

import re

import pytest

import memgym.envs
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.memory_bank import MemoryBank
from memgym.envs.retrieval import make_retriever
from memgym.errors import ConfigError, UnknownNameError
from memgym.policies.managers import (
    BASELINES,
    HEURISTICS,
    POLICIES,
    FullContextPolicy,
    expand_policy_names,
    make_policy,
)
from memgym.policies.mem0_heuristic import Mem0Rules

ENVS = ("memgym/MemoryManager-v0", "memgym/MemoryConstruct-v0", "memgym/MemoryOverwrite-v0")
SMALL = SyntheticConfig(n_entities=3, facts_per_entity=2, n_sessions=3, turns_per_session=10)


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(3, seed=1, config=SMALL)


def run_episodes(policy, env_id, episodes, **env_kwargs):
    """Step every episode with ``policy`` the way the bench does (one env, one step at a time)."""
    env = memgym.envs.make(
        env_id, episodes=episodes, **{**env_kwargs, **policy.env_overrides(env_id)}
    ).unwrapped
    policy.check(env)
    out = {"answers": [], "infos": [], "banks": []}
    for i in range(len(episodes)):
        obs, _ = env.reset(seed=i, options={"episode_index": i})
        done = False
        while not done:
            obs, _, done, _, info = env.step(policy.act([obs], [env])[0])
            out["answers"] += info["answers"]
            out["infos"].append(info)
        out["banks"].append([e.text for e in env.bank.entries()])
    return out


def em(answers) -> float:
    return sum(a["correct"] for a in answers) / len(answers)


#: Baselines that need a bank of entries have no meaning on MemAgent's one block of text.
ENTRIES_ONLY = ("rag_turns", "salience")
APPLIES = [(p, e) for p in BASELINES for e in ENVS if not (p in ENTRIES_ONLY and "Overwrite" in e)]


@pytest.mark.parametrize(("name", "env_id"), APPLIES)
def test_baseline_actions_parse_on_every_env(name, env_id, episodes):
    """Every baseline writes the env's own text format: nothing is ever unparsable."""
    out = run_episodes(make_policy(name), env_id, episodes)
    assert all(info["error"] is None for info in out["infos"]), [
        i["error"] for i in out["infos"] if i["error"]
    ][:3]
    assert len(out["answers"]) == sum(len(ep.questions) for ep in episodes)


@pytest.mark.parametrize("env_id", ENVS)
def test_oracle_answers_everything_with_the_extractive_agent(env_id, episodes):
    assert em(run_episodes(make_policy("oracle"), env_id, episodes)["answers"]) == 1.0


@pytest.mark.parametrize("env_id", ENVS)
def test_noop_scores_only_on_abstention(env_id, episodes):
    out = run_episodes(make_policy("noop"), env_id, episodes)
    correct = {a["category"] for a in out["answers"] if a["correct"]}
    assert correct == {"abstention"}
    assert all(a["correct"] for a in out["answers"] if a["category"] == "abstention")
    assert all(bank == [] for bank in out["banks"])


def test_store_all_keeps_every_turn_until_the_capacity_refuses(episodes):
    unlimited = run_episodes(make_policy("store_all"), "memgym/MemoryManager-v0", episodes[:1])
    turns = [f"{t.speaker}: {t.text}" for t in episodes[0].turns()]
    assert unlimited["banks"][0] == turns
    capped = run_episodes(make_policy("store_all"), "memgym/MemoryManager-v0", episodes[:1], max_entries=7)
    assert capped["banks"][0] == turns[:7]
    assert sum(i["op_counts"]["failed"] for i in capped["infos"]) == len(turns) - 7


def test_rag_turns_ignores_the_capacity(episodes):
    out = run_episodes(make_policy("rag_turns"), "memgym/MemoryConstruct-v0", episodes[:1], max_entries=7)
    assert len(out["banks"][0]) == len(episodes[0].turns())


def test_full_context_is_a_fifo_within_the_budget_read_newest_first(episodes):
    policy = FullContextPolicy(budget_tokens=60)
    out = run_episodes(policy, "memgym/MemoryManager-v0", episodes[:1])
    turns = [f"{t.speaker}: {t.text}" for t in episodes[0].turns()]
    kept = out["banks"][0]
    assert kept == turns[-len(kept) :]  # the newest turns, in order
    assert sum(len(t.split()) for t in kept) <= 60 < sum(len(t.split()) for t in turns[-len(kept) - 1 :])
    env = memgym.envs.make(
        "memgym/MemoryManager-v0", episodes=episodes, max_entries=5, **policy.env_overrides("")
    ).unwrapped
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    for _ in range(12):
        obs, *_ = env.step(policy.act([obs], [env])[0])
    assert [e.text for e in env.bank.entries()] == turns[7:12]
    question = episodes[0].questions[0]
    context = env._memories_for(question)  # what the answer agent reads: everything, newest first
    assert [m.text for m in context] == turns[7:12][::-1]


def test_full_context_on_overwrite_keeps_the_newest_lines(episodes):
    out = run_episodes(
        make_policy("full_context", budget_tokens=50), "memgym/MemoryOverwrite-v0", episodes[:1]
    )
    [block] = out["banks"][0]
    turns = [f"{t.speaker}: {t.text}" for t in episodes[0].turns()]
    assert block.splitlines() == turns[-len(block.splitlines()) :]
    assert len(block.split()) <= 50


def test_mem0_beats_store_all_under_a_capacity_limit():
    """Not tuned to pass: on the default-size synthetic episodes (figures in the report)."""
    eps = generate_synthetic(3, seed=2)
    mem0 = em(
        run_episodes(make_policy("mem0_heuristic"), "memgym/MemoryManager-v0", eps, max_entries=30)["answers"]
    )
    store = em(
        run_episodes(make_policy("store_all"), "memgym/MemoryManager-v0", eps, max_entries=30)["answers"]
    )
    assert mem0 > store


def test_inapplicable_baselines_say_why(episodes):
    env = memgym.envs.make("memgym/MemoryOverwrite-v0", episodes=episodes).unwrapped
    with pytest.raises(ConfigError, match="rag_turns has no meaning on MemoryOverwriteEnv"):
        make_policy("rag_turns").check(env)
    unlabelled = [ep for ep in generate_synthetic(1, seed=0)]
    unlabelled[0].op_labels = []
    env = memgym.envs.make("memgym/MemoryManager-v0", episodes=unlabelled).unwrapped
    with pytest.raises(ConfigError, match="oracle needs operation labels"):
        make_policy("oracle").check(env)
    env = memgym.envs.make("memgym/MemoryManager-v0", episodes=episodes, action_mode="structured").unwrapped
    with pytest.raises(ConfigError, match=re.escape("action_mode='text'")):
        make_policy("noop").check(env)


def test_registry_names_and_errors():
    consolidation = {"always_retain", "always_consolidate", "never_delete"}  # MemoryConsolidate's own
    annotations = {"evidence_oracle"}  # reads the questions' evidence: a ceiling, run by name only
    real_data = {"long_turns"}  # a LoCoMo baseline (the recipe's report), run by name
    assert set(BASELINES) | {"llm"} | consolidation | annotations | real_data == set(POLICIES.names())
    assert "oracle" not in HEURISTICS and not annotations & set(HEURISTICS)
    assert expand_policy_names(["heuristic", "oracle", "noop"]) == [*HEURISTICS, "oracle"]
    with pytest.raises(UnknownNameError, match="Did you mean: mem0_heuristic"):
        make_policy("mem0_heuristc")


@pytest.mark.parametrize("env_id", ENVS)
def test_render_action_parses_back_to_the_same_operations(env_id, episodes):
    """What env.render_action writes is what the env applies: the oracle's ops parse back to equal ops."""
    env = memgym.envs.make(env_id, episodes=episodes).unwrapped
    env.reset(seed=0, options={"episode_index": 0})
    while env.current_unit is not None:
        ops = env.oracle_ops()
        parsed = env.parse_text(env.render_action(ops), env.current_unit)
        assert parsed.error is None
        assert [(o.kind, o.id, o.text) for o in parsed.ops if o.kind != "NOOP"] == [
            (o.kind, o.id, o.text) for o in ops if o.kind != "NOOP"
        ]
        env.step(env.oracle_action())


# ----------------------------------------------------------------------------- the Mem0-style rules
@pytest.fixture
def rules_bank():
    bank = MemoryBank()
    retriever = make_retriever("bm25")
    retriever.attach(bank)
    rules = Mem0Rules()

    def say(text: str, speaker: str = "Alice", when: str = "1:00 pm on 8 May, 2023"):
        ops = rules.plan([(speaker, text)], bank, retriever, ["Alice", "Assistant"], when)
        return [(op.kind, op.id, op.text) for op in ops]

    return bank, say


def test_mem0_rules_add_update_noop_delete(rules_bank):
    bank, say = rules_bank
    assert say("My sister is called Mei.") == [("ADD", None, "Mei is Alice's sister.")]
    assert say("I live in Lyon.") == [("ADD", None, "Alice: I live in Lyon.")]
    assert say("As I said, I live in Lyon.") == []  # a restatement
    assert say("I moved from Lyon to Oslo.") == [
        ("UPDATE", "m2", "Alice: I live in Lyon. Then (1:00 pm on 8 May, 2023): I moved from Lyon to Oslo.")
    ]
    assert say("Mei works as a nurse.") == [
        ("ADD", None, "Alice: Mei works as a nurse. (Mei is Alice's sister.)")
    ]
    assert say("I got a dog named Biscuit.")[0][0] == "ADD"
    assert say("I got a cat named Pepper.")[0][0] == "ADD"  # pets are keyed by name: no conflict
    assert say("Sadly, my dog Biscuit passed away.") == [("DELETE", "m4", None)]
    assert say("Mei quit her job as a nurse and is not working now.") == [("DELETE", "m3", None)]
    assert [e.id for e in bank.entries()] == ["m1", "m2", "m5"]


@pytest.mark.parametrize(
    ("speaker", "text"),
    [
        ("Alice", "Mei has never been to Cairo."),  # negated
        ("Alice", "I saw a red Volvo today."),  # hearsay
        ("Alice", "Do you live in Rome?"),  # a question
        ("Assistant", "I live in Paris."),  # not the user's side
        ("Alice", "I cooked soup for dinner yesterday."),  # small talk: nothing named, no attribute
    ],
)
def test_mem0_rules_skip_what_is_not_a_fact(rules_bank, speaker, text):
    bank, say = rules_bank
    assert say(text, speaker) == []
    assert len(bank) == 0


# ----------------------------------------------------------------------------- the LLM policy
@pytest.fixture(scope="module")
def tiny_backend():

    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model(seed=0)
    return TransformersBackend(model, tokenizer, batch_size=8)


TINY = SyntheticConfig(
    n_entities=1,
    facts_per_entity=1,
    n_sessions=1,
    turns_per_session=4,
    max_updates=0,
    questions_per_category={"single-hop": 1, "abstention": 1},
)


@pytest.mark.slow  # loading transformers and the tokenizer takes ~10 s on 2 shared cores
@pytest.mark.parametrize("env_id", ENVS)
def test_llm_policy_with_a_tiny_model_runs_an_episode(env_id, tiny_backend):
    from memgym.envs import step_envs
    from memgym.policies.backends import SamplingParams
    from memgym.policies.llm_policy import LLMPolicy

    policy = LLMPolicy(tiny_backend, SamplingParams(max_new_tokens=8, seed=0))
    eps = generate_synthetic(2, seed=0, config=TINY)
    envs = [memgym.envs.make(env_id, episodes=eps).unwrapped for _ in eps]
    obs = [env.reset(seed=0, options={"episode_index": i})[0] for i, env in enumerate(envs)]
    steps, answered = 0, 0
    while all(env.current_unit is not None for env in envs):
        actions = policy.act(obs, envs)
        assert all(isinstance(a, str) for a in actions)
        results = step_envs(envs, actions)
        obs = [r.observation for r in results]
        answered += sum(len(r.info["answers"]) for r in results)
        steps += 1
    assert policy.calls == steps  # one generation call per batched step
    assert policy.tokens_generated > 0
    assert answered > 0  # the episode reached its questions: gibberish was absorbed, not raised
