"""memgym/AnswerAgent-v0: Memory-R1's answer agent as the policy (check_env, the memories it reads, the
distillation format, its grammar, the bench taking a trained answerer), and a tiny model learning it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import memgym
from memgym.envs.answer_agent_env import AnswerAgentEnv
from memgym.envs.answer_memories import build_answer_memories, save_answer_memories
from memgym.envs.answering.distill import format_distillation, parse_distillation
from memgym.envs.checker import check_env
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.episode import ABSTAIN_ANSWER
from memgym.envs.stepping import step_envs
from memgym.errors import ConfigError
from memgym.policies.answer_agents.extractive import ExtractiveAnswerAgent

SMALL = SyntheticConfig(n_entities=2, facts_per_entity=2, n_sessions=3, turns_per_session=6)


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(3, seed=7, config=SMALL)


@pytest.fixture(scope="module")
def tiny():
    from memgym.policies.models import tiny_model

    return tiny_model()


def play(env, policy, index=0):
    """One episode; every info."""
    obs, _ = env.reset(seed=0, options={"episode_index": index})
    infos = []
    while env.current_unit is not None:
        *_, info = env.step(policy(env, obs))
        infos.append(info)
    return infos


def extractive(env, obs):
    """The model-free extractive agent as the policy: it answers from the memories the step shows."""
    unit = env.current_unit
    shown = env.shown_memories(unit)
    answer = ExtractiveAnswerAgent().answer([env.question(unit)], [shown])[0]
    return format_distillation([m.id for m in shown[:1]], answer)


@pytest.mark.parametrize("mode", ["episode", "single_step"])
@pytest.mark.parametrize("manager", ["mem0_heuristic", "oracle"])
def test_the_env_passes_check_env(episodes, mode, manager):
    check_env(memgym.make("memgym/AnswerAgent-v0", episodes=episodes[:2], mode=mode, manager=manager))


def test_one_step_per_question_and_the_memories_are_what_the_answer_agent_reads(episodes):
    """Answering with the extractive agent in AnswerAgent-v0 scores exactly what the same agent scores
    in MemoryManager-v0 with the same manager: the env shows each question the memories the manager's
    environment retrieved for it when it was asked."""
    from memgym.policies.managers import make_policy

    env = AnswerAgentEnv(episodes, manager="mem0_heuristic", answer_top_k=5)
    manager_env = memgym.make("memgym/MemoryManager-v0", episodes=episodes, answer_top_k=5).unwrapped
    policy = make_policy("mem0_heuristic")
    for index, episode in enumerate(episodes):
        infos = play(env, extractive, index)
        assert len(infos) == len(episode.questions) and all(len(i["answers"]) == 1 for i in infos)
        assert all(i["error"] is None and i["ops"] == [] for i in infos)
        mine = {i["answers"][0]["question_id"]: i["answers"][0]["score"] for i in infos}
        obs, _ = manager_env.reset(seed=index, options={"episode_index": index})
        theirs = {}
        while manager_env.current_unit is not None:
            [step] = step_envs([manager_env], policy.act([obs], [manager_env]))
            obs = step.observation
            theirs.update({a["question_id"]: a["score"] for a in step.info["answers"]})
        assert mine == theirs
        assert env.bank.to_dict()["entries"] == manager_env.bank.to_dict()["entries"]  # the final bank


def test_the_oracle_answer_scores_full_marks_and_the_baselines_abstain(episodes):
    env = AnswerAgentEnv(episodes, manager="oracle", answer_top_k=5)
    infos = play(env, lambda e, o: e.oracle_action())
    assert all(i["answers"][0]["correct"] for i in infos) and infos[-1]["episode_qa"] == 1.0
    assert any(i["selected"] for i in infos)
    infos = play(env, lambda e, o: e.render_action([]))
    assert all(i["answers"][0]["prediction"] == ABSTAIN_ANSWER for i in infos)


def test_a_malformed_answer_is_refused_scores_zero_and_pays_the_format_penalty(episodes):
    env = AnswerAgentEnv(episodes, manager="oracle", answer_top_k=5, mode="single_step")
    for text, code in [("Oslo", "no_answer"), ("**Answer:** Oslo", "no_selection"),
                       ("Relevant: [m999]\n**Answer:** Oslo", "unknown_memory"), (None, "invalid_input")]:
        env.reset(seed=1)
        _, reward, terminated, _, info = env.step(text)
        assert info["error"].code == code and terminated
        assert info["answers"][0]["prediction"] == "" and info["reward_components"]["reward/format_penalty"] == -1.0
        assert reward == pytest.approx(-0.2)


def test_single_step_picks_a_question_and_takes_question_id(episodes):
    env = AnswerAgentEnv(episodes, manager="oracle", mode="single_step")
    q = episodes[1].questions[2]
    obs, info = env.reset(seed=0, options={"episode_index": 1, "question_id": q.id})
    assert info["n_steps"] == 1 and obs["unit"] == q.id and q.question in obs["messages"][1]["content"]
    with pytest.raises(ConfigError, match="has no question"):
        env.reset(seed=0, options={"episode_index": 1, "question_id": "nope"})
    seen = {env.reset(seed=s, options={"episode_index": 0})[1]["unit"] for s in range(12)}
    assert len(seen) > 1


def test_the_prompt_is_the_llm_answer_agents(episodes):
    from memgym.policies.answer_agents.llm import LLMAnswerAgent

    env = AnswerAgentEnv(episodes, manager="mem0_heuristic", answer_top_k=4)
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    unit = env.current_unit
    agent = LLMAnswerAgent(backend=None, top_k=4)  # type: ignore[arg-type]
    assert obs["messages"] == agent.build_prompt(env.question(unit), env.shown_memories(unit))
    timed = AnswerAgentEnv(episodes, manager="mem0_heuristic", question_time=True)
    assert f"(asked {unit.date_time})" in timed.reset(seed=0, options={"episode_index": 0})[0]["messages"][1]["content"]


def test_memories_are_cached_saved_and_reloaded_and_a_saved_bank_is_a_manager(episodes, tmp_path):
    path = tmp_path / "memories.json"
    env = AnswerAgentEnv(episodes, manager="oracle", memory_cache=str(path), answer_top_k=3)
    env.reset(seed=0)
    saved = json.loads(path.read_text())
    assert saved["format"] == "memgym-answer-memories/1" and set(saved["episodes"]) == {e.id for e in episodes}
    tuples = env.answer_tuples()
    assert len(tuples) == sum(len(e.questions) for e in episodes)
    assert all(len(t["memories"]) <= 3 and t["gold"] for t in tuples)
    # a saved bank as the manager: questions read what is retrieved for them from the final bank
    banks = tmp_path / "banks.json"
    banks.write_text(json.dumps({e.id: saved["episodes"][e.id]["bank"] for e in episodes}))
    from_bank = AnswerAgentEnv(episodes, manager=str(banks), answer_top_k=3)
    obs, _ = from_bank.reset(seed=0, options={"episode_index": 0})
    assert len(from_bank.bank) == len(saved["episodes"][episodes[0].id]["bank"]["entries"])
    built = build_answer_memories(episodes, str(banks), answer_top_k=3)
    assert save_answer_memories(tmp_path / "again.json", built, "x").is_file()
    with pytest.raises(ConfigError, match="does not exist"):
        AnswerAgentEnv(episodes, manager=str(tmp_path / "none.json")).reset(seed=0)


def test_parse_distillation():
    ok = parse_distillation('Relevant: ["m2", m5]\nMei moved.\n**Answer:** "Oslo"\nbecause...', ["m2", "m5"])
    assert ok.error is None and ok.selected == ("m2", "m5") and ok.answer == "Oslo"
    assert parse_distillation("relevant: []\nfinal answer: not mentioned", []).answer == "not mentioned"


@pytest.mark.parametrize("style", ["format", "choices"])
def test_the_oracle_and_random_answers_are_in_the_grammar(episodes, tiny, style):
    from memgym.policies.backends.grammar import ll_tokenizer, matcher

    _, tokenizer = tiny
    env = AnswerAgentEnv(episodes, manager="oracle", answer_top_k=4, max_selected=2)
    rng = np.random.default_rng(0)
    env.reset(seed=0, options={"episode_index": 0})
    while env.current_unit is not None:
        grammar = env.action_grammar(style, 64)
        texts = [env.oracle_action(), env.random_action(rng)] if style == "choices" else [env.random_action(rng)]
        for text in texts:
            if len(parse_distillation(text, env.progress.shown).selected) > 2:
                continue
            m = matcher(ll_tokenizer(tokenizer), grammar)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            assert all(m.consume_token(t) for t in ids) and m.is_accepting(), (text, grammar)
        env.step(env.oracle_action())


@pytest.mark.slow
def test_the_bench_takes_a_trained_answer_agent(episodes, tiny, tmp_path):
    """A checkpoint directory plugs into the bench as the llm answer agent of any environment, and the
    ablation runs every manager x answerer pair in one call."""
    from memgym.envs.answering.distill import answer_options
    from memgym.policies.answer_ablation import llm_answerer, run_answer_ablation
    from memgym.policies.bench import AgentSpec

    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    trained = llm_answerer(str(tmp_path / "ckpt"), max_new_tokens=24, constrained="choices")
    result = run_answer_ablation(
        {"noop": "noop", "oracle": "oracle"}, {"extractive": AgentSpec(), "trained": trained},
        episodes=episodes[:1], progress=False,
    )
    table = result.table("em")
    assert set(table) == {("noop", "extractive"), ("noop", "trained"), ("oracle", "extractive"), ("oracle", "trained")}
    assert table[("oracle", "extractive")] == 1.0 and all(0.0 <= v <= 1.0 for v in table.values())
    rows = result.results["trained"].summary()["oracle"]
    assert rows["overall"]["em"] is not None
    questions = {q.id: q for q in episodes[0].questions}
    answered = [q for r in result.results["trained"].policies for q in r.questions()]
    assert len(answered) == 2 * len(questions)  # both managers, every question
    for row in answered:  # sampled under the choices grammar: always one of the options
        q = questions[row["id"]]
        assert not q.candidates or row["prediction"] in answer_options(q)
    assert "| oracle |" in result.markdown("em")


# ------------------------------------------------------------------------------------------ learning
LEARN_DATA = {
    "n_episodes": 8,
    "seed": 0,
    "config": {"n_entities": 2, "facts_per_entity": 2, "n_sessions": 2, "turns_per_session": 6,
               "max_updates": 0, "deletion_rate": 0.0, "distractor_ratio": 0.0,
               "questions_per_category": {"single-hop": 3}},
}
LEARN_STEPS = 8


@pytest.mark.slow
def test_grpo_raises_a_tiny_models_answer_reward_from_the_qa_signal(tmp_path):
    """As tests/test_learning.py, for the answer agent: under the ``choices`` grammar an answer is one of
    the question's candidate values or the abstention answer, and only the value the memory holds scores
    (exact match; no labels, no warm start). Without updates, deletions and distractors each question has
    one candidate value, so an answer is that value or "not mentioned": a random tiny model is right about
    half the time, and a learner must learn that the memory does hold the fact."""
    from memgym.trainers.config import load_config
    from memgym.trainers.grpo import GRPOTrainer

    cfg = load_config(None, [
        "algorithm=grpo", "model.name_or_path=tiny", "logging.report_to=[none]",
        f"train.max_steps={LEARN_STEPS}", "train.episodes_per_step=8", "train.num_generations=4",
        "train.learning_rate=1e-3", "train.micro_batch_size=16",
        "env.id=memgym/AnswerAgent-v0", "env.group_by=state",
        "env.kwargs.mode=single_step", "env.kwargs.manager=oracle", "env.kwargs.answer_top_k=2",
        "env.kwargs.max_selected=0", f"env.kwargs.episode_kwargs={LEARN_DATA}",
        "generation.constrained=choices", "generation.max_new_tokens=32", "generation.temperature=1.0",
        "eval.num_episodes=0", "eval.baselines=[]", f"output_dir={tmp_path}", "run_name=learn", "seed=0",
    ])
    trainer = GRPOTrainer(cfg)
    curve = [trainer.train_step()["reward/qa"] for _ in range(LEARN_STEPS)]
    start, end = curve[0], sum(curve[-2:]) / 2
    assert end >= start + 0.2 and end >= 0.85, f"QA reward per step: {[round(x, 2) for x in curve]}"


@pytest.mark.slow
def test_ppo_and_the_warm_start_train_it_with_no_special_case(tmp_path, episodes):
    """PPO takes a step on the environment as it does on the others; the warm start collects the oracle's
    answers (the gold, selecting the evidence memories) and fits them."""
    import torch

    from memgym.trainers.config import SFTConfig, load_config
    from memgym.trainers.ppo import PPOTrainer
    from memgym.trainers.sft import collect_examples, run_sft

    cfg = load_config(None, [
        "algorithm=ppo", "model.name_or_path=tiny", "logging.report_to=[none]", "train.max_steps=1",
        "train.episodes_per_step=2", "train.num_generations=2", "train.micro_batch_size=4",
        "env.id=memgym/AnswerAgent-v0", "env.kwargs.manager=oracle", "env.kwargs.answer_top_k=2",
        f"env.kwargs.episode_kwargs={LEARN_DATA}", "generation.constrained=format", "generation.max_new_tokens=24",
        "eval.num_episodes=0", "eval.baselines=[]", f"output_dir={tmp_path}", "run_name=ppo", "seed=0",
    ])
    metrics = PPOTrainer(cfg).train_step()
    assert metrics["reward/format_penalty"] == 0.0 and "loss" in " ".join(metrics)

    def make_env():
        return memgym.make("memgym/AnswerAgent-v0", episodes=episodes, manager="oracle", answer_top_k=2)

    examples = collect_examples(make_env, [0])
    assert len(examples) == len(episodes[0].questions)
    assert all(e["completion"].startswith("Relevant: [") for e in examples)
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    out = run_sft(model, tokenizer, examples[:4], SFTConfig(epochs=1, batch_size=2, learning_rate=1e-3), tmp_path)
    assert out["sft/loss"] > 0 and any(not torch.equal(p, before[n]) for n, p in model.named_parameters())
