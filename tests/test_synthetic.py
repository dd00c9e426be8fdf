"""The synthetic generator, its oracle labels and the extractive answer agent that scores memories."""

import re
from collections import Counter

import pytest

from memgym.envs.answering import AnswerAgent
from memgym.envs.data import (
    CATEGORIES,
    SyntheticConfig,
    chunk_episode,
    episode_tokens,
    generate_episode,
    generate_synthetic,
)
from memgym.envs.data import _vocab as V
from memgym.envs.episode import ABSTAIN_ANSWER, Question, from_dataset, to_dataset
from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.envs.operations import Operation
from memgym.envs.oracle import apply_oracle, oracle_operations, replay_oracle
from memgym.envs.retrieval import BM25Retriever
from memgym.errors import ConfigError
from memgym.policies.answer_agents.extractive import ExtractiveAnswerAgent


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(6, seed=3)


def word_in(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_episodes_and_episode_i_independent_of_count():
    a = generate_synthetic(3, seed=7)
    b = generate_synthetic(5, seed=7)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b[:3]]
    assert generate_episode(7, 4).to_dict() == b[4].to_dict()


def test_different_seeds_and_indices_differ():
    texts = {tuple(t.text for t in ep.turns()) for ep in generate_synthetic(4, seed=0)}
    texts |= {tuple(t.text for t in generate_episode(1, 0).turns())}
    assert len(texts) == 5


# ----------------------------------------------------------------------------- structure
def test_every_turn_has_exactly_one_label_and_ids_are_consistent(episodes):
    for ep in episodes:
        turn_ids = [t.id for t in ep.turns()]
        assert len(set(turn_ids)) == len(turn_ids)
        assert [label.turn_id for label in ep.op_labels] == turn_ids
        for session in ep.sessions:
            assert all(t.id.startswith(session.id + ":") for t in session.turns)
        for q in ep.questions:
            assert set(q.evidence) <= set(turn_ids), q
            assert q.asked_after is None or q.asked_after in turn_ids


def test_labels_exercise_every_operation(episodes):
    kinds = Counter(label.kind for ep in episodes for label in ep.op_labels)
    assert set(kinds) == {"ADD", "UPDATE", "DELETE", "NOOP"}
    restated = [label for ep in episodes for label in ep.op_labels if label.kind == "NOOP" and label.slot]
    assert restated, "restatements and distractors carry the slot they mention"


def test_questions_follow_the_configured_counts_and_mix_end_and_mid_stream(episodes):
    config = SyntheticConfig()
    per_category = Counter(q.category for ep in episodes for q in ep.questions)
    assert set(per_category) == set(CATEGORIES)
    for category, n in per_category.items():
        assert n <= config.questions_per_category[category] * len(episodes)
    asked = [q.asked_after for ep in episodes for q in ep.questions]
    assert None in asked and any(a is not None for a in asked)
    for ep in episodes:  # questions come in the order they are asked
        position = {t.id: i for i, t in enumerate(ep.turns())}
        order = [position.get(q.asked_after, len(position)) for q in ep.questions]
        assert order == sorted(order)


def test_answers_are_candidates_and_abstentions_say_not_mentioned(episodes):
    for q in (q for ep in episodes for q in ep.questions):
        if q.category == "abstention":
            assert q.answers == [ABSTAIN_ANSWER]
        elif q.category == "counting":
            assert q.answers[0].isdigit() and int(q.answers[0]) <= len(q.candidates)
        else:
            assert q.answers[0] in q.candidates, q


def test_length_knobs():
    small = generate_episode(
        0,
        0,
        SyntheticConfig(n_sessions=3, turns_per_session=8, n_entities=1, facts_per_entity=1, max_updates=0),
    )
    assert len(small.sessions) == 3 and all(len(s.turns) == 8 for s in small.sessions)
    long = generate_episode(0, 0, SyntheticConfig(target_tokens=20_000))
    assert 20_000 <= episode_tokens(long) < 20_100
    assert len({s.date_time for s in long.sessions}) == len(long.sessions)


def test_paraphrase_variety_one_uses_the_plainest_template():
    ep = generate_episode(0, 0, SyntheticConfig(paraphrase_variety=1, distractor_ratio=0.0))
    intros = [t.text for t in ep.turns() if t.text.startswith("Have I told you about my ")]
    assert len(intros) == SyntheticConfig().n_entities
    many = generate_episode(0, 0, SyntheticConfig(paraphrase_variety=5))
    assert any(t.text.endswith(", by the way.") or t.text.startswith("My ") for t in many.turns())


def test_config_errors_say_what_to_fix():
    with pytest.raises(ConfigError, match=re.escape("SyntheticConfig.update_rate must be within [0, 1]")):
        SyntheticConfig(update_rate=1.5)
    with pytest.raises(ConfigError, match="turns_per_session must be an even number"):
        SyntheticConfig(turns_per_session=7)
    with pytest.raises(ConfigError, match="unknown categories"):
        SyntheticConfig(questions_per_category={"multihop": 2})
    with pytest.raises(ConfigError, match="unknown SyntheticConfig keys"):
        SyntheticConfig.from_dict({"n_entity": 3})
    with pytest.raises(ConfigError, match="ran out of pets values"):
        generate_episode(0, 0, SyntheticConfig(n_entities=40, facts_per_entity=5, max_pets=3))


def test_vocabulary_keeps_answers_unambiguous():
    values = [*V.CITIES, *V.JOBS, *V.CARS, *V.HOBBIES, *V.PET_NAMES]
    assert len({v.lower() for v in values}) == len(values)
    words = {w.lower() for v in values for w in v.split()}
    for v in values:  # no value is a whole-word part of another (checked through shared words)
        for other in values:
            if other != v and v.lower() in words and word_in(v, other):
                pytest.fail(f"{v!r} occurs inside {other!r}")
    small_talk = " ".join(V.CHITCHAT + V.ASSISTANT + V.DISHES + V.WEATHER + V.GENRES + V.MOODS)
    for v in [*values, *V.PEOPLE_NAMES, *V.USER_NAMES, *V.ROLES]:
        assert not word_in(v, small_talk), v


def test_round_trip_through_a_datasets_dataset(episodes):
    assert [e.to_dict() for e in from_dataset(to_dataset(episodes[:2]))] == [
        e.to_dict() for e in episodes[:2]
    ]


# ----------------------------------------------------------------------------- oracle labels
def test_replayed_oracle_memory_answers_every_question_and_holds_no_retracted_value(episodes):
    for ep in episodes:
        for q in ep.questions:
            texts = [e.text for e in replay_oracle(ep, until=q.asked_after)]
            if q.category == "abstention":
                assert not any(word_in(c, t) for c in q.candidates for t in texts), q
            elif q.category == "counting":
                assert sum(any(word_in(c, t) for t in texts) for c in q.candidates) == int(q.answers[0])
            else:
                assert any(word_in(q.answers[0], t) for t in texts), q


def test_oracle_operations_follow_slots_and_carry_provenance(episodes):
    ep = episodes[0]
    update = next(label for label in ep.op_labels if label.kind == "UPDATE")
    bank, slot_ids = MemoryBank(), {}
    for turn in ep.turns():
        if turn.id == update.turn_id:
            break
        apply_oracle(ep, turn.id, bank, slot_ids)
    [op] = oracle_operations(ep, update.turn_id, slot_ids)
    assert op.kind == "UPDATE" and op.id == slot_ids[update.slot] and op.provenance == (update.turn_id,)
    assert op.timestamp == ep.session_of()[update.turn_id].date_time
    # without the slot's memory, a perfect manager adds it instead
    [added] = oracle_operations(ep, update.turn_id, {})
    assert added.kind == "ADD" and added.text == update.text


# ----------------------------------------------------------------------------- the extractive agent
def memories(*texts: str) -> list[MemoryEntry]:
    return [MemoryEntry(id=f"m{i}", text=t, tier="memory") for i, t in enumerate(texts)]


def ask(question: str, candidates: list[str], *texts: str) -> str:
    q = Question(id="q", question=question, answers=[], category="", candidates=candidates)
    return ExtractiveAnswerAgent().answer([q], [memories(*texts)])[0]


def test_agent_rules():
    assert isinstance(ExtractiveAnswerAgent(), AnswerAgent)
    cities = ["Lyon", "Oslo", "Rome"]
    assert (
        ask("What is Mei's home city now?", cities, "Mei moved from Lyon to Oslo.", "Mei lives in Rome.")
        == "Oslo"
    )
    assert ask("What is Mei's home city now?", cities, "Mei likes tea.", "Mei lives in Rome.") == "Rome"
    assert (
        ask(
            "What was Mei's home city before Oslo?",
            cities,
            "Mei likes tea.",
            "The home city is Oslo (changed from Lyon to Oslo on 8 June, 2023).",
        )
        == "Lyon"
    )
    assert (
        ask("What was Mei's home city before Lyon?", cities, "Mei moved from Lyon to Oslo.") == ABSTAIN_ANSWER
    )
    dates = ["8 June, 2023", "18 June, 2023"]
    assert (
        ask("When did Mei's home city change to Oslo?", dates, "[1:56 pm on 18 June, 2023] Mei: Oslo!")
        == "18 June, 2023"
    )
    assert (
        ask(
            "How many pets does Mei have now?",
            ["Rex", "Tom", "Kiwi"],
            "Mei has a dog named Rex.",
            "Mei has a cat named Tom.",
            "Rex and Tom play.",
        )
        == "2"
    )
    assert ask("How many pets does Mei have now?", ["Rex"], "Nothing here.") == ABSTAIN_ANSWER
    assert ask("What is Mei's home city now?", [], "Mei lives in Oslo.") == ABSTAIN_ANSWER  # real data
    assert ask("What is Mei's home city now?", cities, "Mei lives in Osloville.") == ABSTAIN_ANSWER
    with pytest.raises(ValueError, match="2 questions but 1 memory lists"):
        ExtractiveAnswerAgent().answer([Question("a", "?", [], ""), Question("b", "?", [], "")], [[]])


def _accuracy(episodes, strategy: str, capacity: int | None = None, k: int = 10) -> dict[str, float]:
    """Stream each episode once, keeping a bank by ``strategy``, and answer every question when asked.

    Strategies: ``oracle`` (apply the labels), ``noop`` (store nothing), ``all`` (store every turn's
    text; with ``capacity``, forget the oldest turn first). Retrieval is the environments' BM25, top ``k``.
    """
    agent, right = ExtractiveAnswerAgent(), {}
    for ep in episodes:
        bank, slot_ids = MemoryBank(max_entries=capacity), {}
        retriever = BM25Retriever(bank)
        ask_at = {}
        for q in ep.questions:
            ask_at.setdefault(q.asked_after, []).append(q)
        for chunk in chunk_episode(ep, "turn"):
            turn_id = chunk.turns[0].id
            if strategy == "oracle":
                apply_oracle(ep, turn_id, bank, slot_ids)
            elif strategy == "all":
                if capacity and len(bank) >= capacity:
                    bank.apply([Operation.delete(bank.entries()[0].id)])
                bank.apply([Operation.add(chunk.text)])
            for q in ask_at.pop(turn_id, []) + (ask_at.pop(None, []) if turn_id == chunk_id_last(ep) else []):
                answer = agent.answer([q], [retriever.retrieve(q.question, k=k)])[0]
                right.setdefault(q.category, []).append(answer in q.answers)
        assert not ask_at, "every question was asked"
    totals = {c: sum(v) / len(v) for c, v in right.items()}
    return totals | {"all": sum(map(sum, right.values())) / sum(map(len, right.values()))}


def chunk_id_last(ep) -> str:
    return ep.sessions[-1].turns[-1].id


def test_oracle_memory_answers_everything_empty_only_abstains_and_raw_turns_do_worse(episodes):
    oracle = _accuracy(episodes, "oracle")
    assert oracle["all"] == 1.0, oracle
    noop = _accuracy(episodes, "noop")
    assert noop["abstention"] == 1.0 and all(
        v == 0.0 for c, v in noop.items() if c not in ("abstention", "all")
    )
    every_turn = _accuracy(episodes, "all", capacity=60)
    assert every_turn["all"] < oracle["all"] - 0.25, every_turn
    assert every_turn["abstention"] < 1.0 and every_turn["counting"] < 0.5


def test_replay_until_an_unknown_turn_is_an_error(episodes):
    with pytest.raises(ConfigError, match=re.escape("replay_oracle(until='D99:1')")):
        replay_oracle(episodes[0], until="D99:1")
