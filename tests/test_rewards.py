"""QA metrics, shaping terms, reward composition and the answer cache, on hand-computed examples.

Each expected value is worked out by hand in the comment beside it; lists are compared exactly (to
float precision), as TRL's reward tests do.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from memgym.envs.answering import AnswerCache, question_key
from memgym.envs.episode import ABSTAIN_ANSWER, OpLabel, Question
from memgym.envs.memory_bank import FLAT_TIERS, MemoryBank
from memgym.envs.operations import Operation, OpResult
from memgym.errors import ConfigError, DatasetError, MemgymError, UnknownNameError
from memgym.rewards import (
    REWARDS,
    RewardComposer,
    StepOutcome,
    bleu1,
    compression,
    exact_match,
    format_validity,
    is_abstention,
    locomo_category,
    locomo_f1,
    normalize_answer,
    oracle_op_agreement,
    register_reward,
    score_answers,
    token_f1,
    tool_call_success_rate,
)

# ----------------------------------------------------------------------------- normalisation, EM


def test_normalize_answer_follows_squad():
    assert [normalize_answer(s) for s in ["The  Eiffel Tower!", "An apple, a day", "  A  "]] == [
        "eiffel tower",  # lowercase, "!" and "the" dropped
        "apple day",  # "," dropped, "an" and "a" dropped
        "",  # only an article
    ]


def test_exact_match_worked_examples():
    cases = [
        ("The Eiffel Tower!", "eiffel tower"),  # equal after normalising -> 1
        ("Paris", ["London", "paris."]),  # max over accepted answers: 0, 1 -> 1
        ("Paris France", "Paris"),  # "paris france" != "paris" -> 0
        ("I don't know", ABSTAIN_ANSWER),  # abstention question, prediction abstains -> 1
        ("Paris", ABSTAIN_ANSWER),  # abstention question, prediction answers -> 0
    ]
    assert [exact_match(p, a) for p, a in cases] == [1.0, 1.0, 0.0, 1.0, 0.0]


def test_exact_match_without_answers_is_a_dataset_error():
    with pytest.raises(DatasetError, match=re.escape("field 'answers': there is no accepted answer")):
        exact_match("Paris", [])


# ----------------------------------------------------------------------------- token F1


def test_token_f1_worked_examples():
    cases = [
        ("in Paris France", "Paris"),  # common 1; P = 1/3, R = 1/1; F1 = 2PR/(P+R) = (2/3)/(4/3) = 0.5
        ("red blue green", ["blue green yellow", "red"]),  # vs 1st: P = R = 2/3 -> 2/3; vs 2nd: 0.5; max 2/3
        ("cat cat dog", "cat dog dog"),  # common = min(2,1) + min(1,2) = 2; P = R = 2/3 -> 2/3
        ("Paris", "London"),  # nothing in common -> 0
        ("the", "a"),  # both empty after normalising: SQuAD scores 1
        ("Paris, not London", ABSTAIN_ANSWER),  # abstention question, no abstention -> 0 (not F1 of "not")
        ("That was never mentioned.", ABSTAIN_ANSWER),  # abstains -> 1
    ]
    assert [token_f1(p, a) for p, a in cases] == pytest.approx([0.5, 2 / 3, 2 / 3, 0.0, 1.0, 0.0, 1.0])


# ----------------------------------------------------------------------------- LoCoMo


def test_locomo_f1_stems_and_uses_locomo_normalisation():
    # Porter: running -> run, dogs -> dog, ran -> ran. Stems {run, dog} vs {ran, dog}: P = R = 1/2 -> 0.5;
    # SQuAD F1 on the unstemmed words finds nothing in common.
    assert locomo_f1("running dogs", "ran dog", 2) == pytest.approx(0.5)
    assert token_f1("running dogs", "ran dog") == 0.0
    # LoCoMo's normaliser also drops commas and "and": [salt, pepper] vs [pepper, salt] -> 1.0;
    # SQuAD keeps "and": common 2 of 3 predicted words, P = 2/3, R = 1 -> F1 = (4/3)/(5/3) = 0.8.
    assert locomo_f1("salt and pepper", "pepper, salt", 4) == 1.0
    assert token_f1("salt and pepper", "pepper, salt") == pytest.approx(0.8)
    # Unlike SQuAD, two empty answers score 0 (no common token).
    assert (locomo_f1("", "", 2), token_f1("", "")) == (0.0, 1.0)


def test_locomo_category_1_averages_over_gold_sub_answers():
    # Gold sub-answers London, Rome, Paris; predicted London, Paris: best F1s 1, 0, 1 -> mean 2/3.
    assert locomo_f1("Paris, London", "London, Rome, Paris", 1) == pytest.approx(2 / 3)
    assert locomo_f1("Paris, London", "London, Rome, Paris", "multi-hop") == pytest.approx(2 / 3)
    # Category 4 does not split: stems [paris, london] vs [london, rome, paris]: P = 1, R = 2/3 -> 0.8.
    assert locomo_f1("Paris, London", "London, Rome, Paris", 4) == pytest.approx(0.8)
    # hiking -> hike, mountains -> mountain: [hike, in, mountain] vs [hike]: P = 1/3, R = 1 -> 0.5;
    # vs [swim]: 0. Mean over the two gold sub-answers: 0.25.
    assert locomo_f1("hiking in mountains", "hiking, swimming", 1) == pytest.approx(0.25)


def test_locomo_category_3_keeps_the_gold_before_the_semicolon():
    gold = "Likely yes; because she enjoys it"
    assert locomo_f1("likely yes", gold, 3) == 1.0  # gold is "Likely yes" only
    # Category 4 keeps it all: 6 gold words (";" dropped), 2 in common: P = 1, R = 1/3 -> F1 = 0.5.
    assert locomo_f1("likely yes", gold, 4) == pytest.approx(0.5)


def test_locomo_category_5_wants_the_official_phrases():
    preds = ["No information available.", "That was not mentioned", "I don't know", "Paris"]
    # Official rule: "no information available" or "not mentioned" in the lower-cased prediction.
    assert [locomo_f1(p, "Paris", 5) for p in preds] == [1.0, 1.0, 0.0, 0.0]
    assert [locomo_f1(p, "Paris", "adversarial") for p in preds] == [1.0, 1.0, 0.0, 0.0]


def test_locomo_category_names():
    assert [
        locomo_category(c) for c in (1, "3", "multi-hop", "Single_Hop", "adversarial", "counting", 7)
    ] == [
        1,
        3,
        1,
        4,
        5,
        None,
        None,
    ]


# ----------------------------------------------------------------------------- BLEU-1


def test_bleu1_matches_hand_computation():
    # BLEU-1 = BP * p1, p1 = clipped unigram matches / hypothesis length,
    # BP = 1 if c > r else exp(1 - r/c) (c = hypothesis length, r = reference length).
    cases = [
        ("paris in france", "paris"),  # p1 = 1/3, c = 3 > r = 1 -> 1/3
        ("Paris", "Paris France"),  # p1 = 1, c = 1 < r = 2 -> exp(1 - 2) = 0.36788
        ("red green blue yellow", "red black blue yellow white"),  # p1 = 3/4, BP = exp(1 - 5/4) -> 0.58410
        ("dog dog dog", "dog cat"),  # clipped: min(3, 1) = 1 -> p1 = 1/3, c = 3 > r = 2 -> 1/3
        ("london", "paris"),  # no unigram in common: nltk returns 0 despite smoothing
        ("paris", ["paris france", "paris"]),  # best over accepted answers: exp(-1), 1 -> 1
    ]
    expected = [1 / 3, math.exp(-1), 0.75 * math.exp(-0.25), 1 / 3, 0.0, 1.0]
    assert [bleu1(p, a) for p, a in cases] == pytest.approx(expected)


def test_bleu1_abstention_question():
    assert [bleu1("No information about that", ABSTAIN_ANSWER), bleu1("Paris", ABSTAIN_ANSWER)] == [1.0, 0.0]


# ----------------------------------------------------------------------------- abstention


def test_is_abstention():
    said_unknown = [
        ABSTAIN_ANSWER,
        "I don't know.",
        "No information available",
        "The conversation does not mention it",
        "It isn't mentioned",
        "Not specified",
        "unknown",
        "It is not in my memory",
        "I can't determine that",
        "There is not enough information to answer",
        "Caroline never mentioned her sister",
    ]
    answered = ["Paris", "Paris, not London", "She isn't happy", "No", "Nothing else", "She did not go"]
    assert [is_abstention(t) for t in said_unknown] == [True] * len(said_unknown)
    assert [is_abstention(t) for t in answered] == [False] * len(answered)


# ----------------------------------------------------------------------------- score_answers


def _questions() -> list[Question]:
    return [
        Question("q1", "Where does Ana live?", ["Lisbon"], "single-hop"),
        Question("q2", "What is Ana's dog called?", [ABSTAIN_ANSWER], "abstention"),
        # LoCoMo category 5: the released "adversarial_answer" is a distractor, never the truth.
        Question("q3", "Where did Ana's brother study?", ["Paris"], "5"),
        Question("q4", "Which cities did Ana visit?", ["London, Rome, Paris"], "multi-hop"),
    ]


def test_score_answers_applies_categories():
    predictions = ["Lisbon, Portugal", "I don't know", "Paris", "Paris, London"]
    rows = score_answers(predictions, _questions(), metrics=("em", "f1", "bleu1", "locomo_f1"))
    expected = [
        # q1: EM 0; F1 P = 1/2, R = 1 -> 2/3; BLEU-1 p1 = 1/2, c = 2 > r = 1 -> 1/2; LoCoMo as F1 -> 2/3.
        {"em": 0.0, "f1": 2 / 3, "bleu1": 0.5, "locomo_f1": 2 / 3},
        # q2: abstention question and the prediction abstains -> 1 everywhere.
        {"em": 1.0, "f1": 1.0, "bleu1": 1.0, "locomo_f1": 1.0},
        # q3: category 5 -> saying the distractor is wrong under every metric.
        {"em": 0.0, "f1": 0.0, "bleu1": 0.0, "locomo_f1": 0.0},
        # q4: EM 0; F1 [paris, london] vs [london, rome, paris]: P = 1, R = 2/3 -> 0.8;
        # BLEU-1 p1 = 1, BP = exp(1 - 3/2); LoCoMo category 1 -> 2/3 (see above).
        {"em": 0.0, "f1": 0.8, "bleu1": math.exp(-0.5), "locomo_f1": 2 / 3},
    ]
    assert [row.keys() for row in rows] == [e.keys() for e in expected]
    for row, want in zip(rows, expected, strict=True):
        assert row == pytest.approx(want)


def test_score_answers_rejects_bad_input():
    with pytest.raises(ConfigError, match=re.escape("unknown metric(s) ['judge']; known: bleu1, em, f1, locomo_em")):
        score_answers(["x"], _questions()[:1], metrics=("em", "judge"))
    with pytest.raises(ConfigError, match=re.escape("1 predictions for 2 questions")):
        score_answers(["x"], _questions()[:2])
    with pytest.raises(DatasetError, match=re.escape("record q9, field 'answers'")):
        score_answers(["x"], [Question("q9", "?", [], "single-hop")])


# ----------------------------------------------------------------------------- shaping


def test_format_and_compression():
    assert [format_validity(True), format_validity(False)] == [1.0, 0.0]
    assert [
        compression(25, 100),  # 1 - 25/100
        compression(0, 100),  # empty memory
        compression(150, 100),  # 1 - 1.5 = -0.5, clipped to 0
        compression(10, 0),  # nothing read yet
    ] == [0.75, 1.0, 0.0, 0.0]
    assert compression(150, 100, clip=False) == -0.5
    with pytest.raises(ConfigError, match="token counts must be >= 0"):
        compression(-1, 10)


def test_tool_call_success_rate_on_a_real_bank():
    bank = MemoryBank(FLAT_TIERS)
    results = bank.apply([Operation.add("Ana lives in Lisbon"), Operation.delete("m99"), Operation.noop()])
    assert [r.ok for r in results] == [True, False, True]
    assert tool_call_success_rate(results) == pytest.approx(2 / 3)  # 2 of 3 calls accepted
    assert [tool_call_success_rate([]), tool_call_success_rate([], empty=0.0)] == [1.0, 0.0]


def test_oracle_op_agreement():
    add, upd = Operation.add("a"), Operation.update("m1", "b")
    cases = [
        ([add, upd], ["ADD", "UPDATE"]),  # same multiset -> 2/2
        ([add, add], [OpLabel("D1:1", "ADD"), OpLabel("D1:2", "UPDATE")]),  # ADD matches once -> 1/max(2,2)
        ([add, upd, Operation.delete("m1")], ["ADD"]),  # 1 match, 2 extras -> 1/max(3,1)
        ([Operation.noop()], []),  # NOOP dropped: both empty -> 1
        ([], ["NOOP"]),  # same -> 1
        ([], ["ADD"]),  # missing ADD -> 0/1
        ([OpResult(add, ok=False, error="empty_text")], ["add"]),  # results and lower-case kinds count
        (["NONE", "bogus"], ["NOOP"]),  # Mem0's NONE is NOOP; an unknown kind matches nothing -> 0/1
    ]
    assert [oracle_op_agreement(ops, labels) for ops, labels in cases] == pytest.approx(
        [1.0, 0.5, 1 / 3, 1.0, 1.0, 0.0, 1.0, 0.0]
    )


# ----------------------------------------------------------------------------- composition


def test_composer_weighted_sum_and_log():
    composer = RewardComposer({"em": 1.0, "compression": 0.05, "tool_success": 1.0})
    total, log = composer({"em": 1.0, "f1": 0.5, "compression": 0.6, "tool_success": 0.5, "format": None})
    assert total == pytest.approx(1.0 * 1.0 + 0.05 * 0.6 + 1.0 * 0.5)  # 1.53
    assert log == pytest.approx(
        {
            "reward/em": 1.0,
            "reward/f1": 0.5,
            "reward/compression": 0.6,
            "reward/tool_success": 0.5,
            "reward_weighted/em": 1.0,
            "reward_weighted/compression": 0.03,
            "reward_weighted/tool_success": 0.5,
            "reward/total": 1.53,
        }
    )  # "format" was None: not computed, not logged


def test_composer_none_weighted_component_adds_nothing():
    total, log = RewardComposer({"em": 1.0, "judge": 2.0})({"em": 0.0, "judge": None})
    assert (total, log) == (0.0, {"reward/em": 0.0, "reward_weighted/em": 0.0, "reward/total": 0.0})


def test_composer_errors_name_the_fix():
    composer = RewardComposer({"em": 1.0, "compresion": 0.05})
    with pytest.raises(
        ConfigError,
        match=re.escape("not computed: 'compresion' (did you mean 'compression'?); known: compression, em"),
    ):
        composer({"em": 1.0, "compression": 0.5})
    with pytest.raises(
        ConfigError, match=re.escape("unknown reward component(s) 'emm' (did you mean 'em'?)")
    ):
        RewardComposer({"emm": 1.0}, known=["em", "f1"])
    with pytest.raises(ConfigError, match="reward weights are empty"):
        RewardComposer({})
    with pytest.raises(ConfigError, match="must be finite numbers"):
        RewardComposer({"em": float("nan")})
    with pytest.raises(MemgymError, match=re.escape("reward component 'em' is nan, not a finite number")):
        RewardComposer({"em": 1.0})({"em": float("nan")})


def test_reward_components_are_one_registry_of_named_functions():
    builtin = {"qa", "qa_episode", "format_penalty", "tool_success", "tool_success_episode", "compression",
               "oracle_ops", "qa_pending", "evidence_recall", "evidence_all", "answer_support", "evidence_kept",
               "memory_cost"}
    assert builtin <= set(REWARDS.names())  # plus what imported environments register (MemoryConsolidate's)
    with pytest.raises(UnknownNameError, match="Did you mean: compression"):
        REWARDS.get("compresion")


def test_reward_components_on_hand_computed_steps():
    ok, failed = OpResult(Operation.add("a"), ok=True, id="m1"), OpResult(Operation.delete("m9"), ok=False)
    answers = ({"score": 1.0}, {"score": 0.0})
    mid = StepOutcome(results=(ok, failed), error=None, answers=answers, labels=(OpLabel("D1:1", "ADD"),))
    assert REWARDS.get("qa")(mid) == 0.5  # mean of 1 and 0
    assert REWARDS.get("tool_success")(mid) == 0.5  # 1 of 2 accepted
    assert REWARDS.get("format_penalty")(mid) == 0.0
    assert REWARDS.get("oracle_ops")(mid) == 1.0  # the accepted ADD matches the ADD label
    for name in ("qa_episode", "tool_success_episode", "compression"):
        assert REWARDS.get(name)(mid) is None  # episode components wait for the last step
    assert REWARDS.get("oracle_ops")(StepOutcome(results=(ok,), error=None)) is None  # no labels
    assert REWARDS.get("qa")(StepOutcome(results=(), error=None, answers=answers, reward_timing="end")) is None

    refused = StepOutcome(results=(), error="invalid_json")
    assert REWARDS.get("format_penalty")(refused) == -1.0 and REWARDS.get("tool_success")(refused) == 0.0

    last = StepOutcome(
        results=(), error=None, final=True, episode_scores=(1.0, 0.0, 1.0, 1.0), reward_timing="both",
        op_counts={"ADD": 6, "failed": 1, "invalid_action": 1}, memory_tokens=25, tokens_read=100,
    )
    assert REWARDS.get("qa_episode")(last) == 0.75
    assert REWARDS.get("tool_success_episode")(last) == 0.75  # 1 - (1 failed + 1 refused) / 8 tried
    assert REWARDS.get("compression")(last) == 0.75  # 1 - 25 / 100
    assert REWARDS.get("qa_pending")(StepOutcome(results=(), error=None, pending_scores=(1.0, 0.0, 0.0))) == 1 / 3
    assert REWARDS.get("qa_pending")(last) is None  # nothing pending


def test_a_registered_reward_component_is_paid_and_logged():
    from memgym.envs.manager import MemoryManagerEnv

    @register_reward("test_memory_size")
    def memory_size(step: StepOutcome) -> float:
        return -step.memory_tokens / 10

    try:
        env = MemoryManagerEnv(episode_kwargs={"n_episodes": 1}, reward_weights={"test_memory_size": 1.0})
        env.reset(seed=0)
        _, reward, *_, info = env.step('{"memory": [{"event": "ADD", "text": "one two three"}]}')
        assert info["reward_components"]["reward/test_memory_size"] == -0.3
        assert reward == pytest.approx(-0.3 + info["reward_components"].get("reward/qa", 0.0))
    finally:
        REWARDS._entries.pop("test_memory_size")
    with pytest.raises(ConfigError, match="unknown reward component"):
        MemoryManagerEnv(episode_kwargs={"n_episodes": 1}, reward_weights={"test_memory_size": 1.0})


# ----------------------------------------------------------------------------- cache


class CountingAgent:
    """Answers from its memories and records each batch: the cache's job is to avoid these calls.

    A stand-in for the project's answer agents (written elsewhere): the test needs to count calls.
    """

    name = "counting"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def answer(self, questions, memories):
        self.batches.append([q.id for q in questions])
        return [mem[0].text if mem else ABSTAIN_ANSWER for mem in memories]


def test_cache_answers_each_bank_and_question_once():
    bank = MemoryBank(FLAT_TIERS)
    bank.apply([Operation.add("Ana lives in Lisbon")])
    questions = _questions()[:2]
    memories = [bank.entries(), []]
    cache, agent = AnswerCache(), CountingAgent()

    first = cache.answer(agent, questions, memories)
    again = cache.answer(agent, questions, memories)
    assert first == again == ["Ana lives in Lisbon", ABSTAIN_ANSWER]
    assert agent.batches == [["q1", "q2"]]  # the second call cost nothing
    assert (cache.answer_hits, cache.answer_misses) == (2, 2)

    bank.apply([Operation.update("m1", "Ana lives in Porto")])  # new memories shown -> new key -> miss
    assert cache.answer(agent, questions[:1], [bank.entries()]) == ["Ana lives in Porto"]
    assert agent.batches[-1] == ["q1"]
    assert cache.stats() == {
        "answers": 3,
        "verdicts": 0,
        "answer_hits": 2,
        "answer_misses": 3,
        "judge_hits": 0,
        "judge_misses": 0,
    }


def test_cache_keys_questions_by_content_not_id():
    a = Question("q0", "Where does Ana live?", ["Lisbon"], "single-hop", candidates=["Lisbon", "Porto"])
    b = Question("q0", "Where does Ana live?", ["Rome"], "single-hop", candidates=["Rome", "Milan"])
    assert question_key(a) != question_key(b)  # same id and text, different candidates
    assert question_key("free text") == "free text"


def test_cache_verdict_counters_and_eviction():
    cache = AnswerCache(max_entries=2)
    assert cache.get_verdict("q", "gold", "pred") is None
    cache.put_verdict("q", "gold", "pred", 1.0)
    assert cache.get_verdict("q", "gold", "pred") == 1.0
    cache.put_verdict("q", "gold", "other", 0.0)
    cache.put_verdict("q", "gold", "third", 1.0)  # over max_entries: the oldest goes
    assert cache.get_verdict("q", "gold", "pred") is None
    assert (cache.judge_hits, cache.judge_misses, cache.hits, cache.misses, len(cache)) == (1, 2, 1, 2, 2)
    cache.clear()
    assert (len(cache), cache.hits, cache.misses) == (0, 0, 0)
    assert cache  # an empty cache is still "a cache was given" in ``if cache:``


def test_cache_save_and_load(tmp_path):
    cache = AnswerCache()
    cache.put_answer("h1", "Where?", "agent", "Lisbon")
    cache.put_verdict("Where?", "Lisbon", "in Lisbon", 1.0)
    path = tmp_path / "sub" / "cache.json"
    cache.save(path)

    restored = AnswerCache()
    assert restored.load(path) == 2
    assert restored.get_answer("h1", "Where?", "agent") == "Lisbon"
    assert restored.get_verdict("Where?", "Lisbon", "in Lisbon") == 1.0


def test_cache_load_rejects_bad_files_and_adds_nothing(tmp_path):
    cache = AnswerCache()
    cache.put_answer("h1", "Where?", "agent", "Lisbon")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"format": "memgym.answer_cache", "answers": [["h2", "q", "a", "ok"], ["h3", "q"]]})
    )
    with pytest.raises(
        DatasetError, match=re.escape("record 1, field 'answers': expected [key, key, key, value]")
    ):
        cache.load(bad)
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="cannot read answer cache"):
        cache.load(bad)
    bad.write_text("[]")
    with pytest.raises(DatasetError, match="not a memgym answer cache"):
        cache.load(bad)
    assert len(cache) == 1  # the valid first row of the bad file was not added
