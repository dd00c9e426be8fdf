"""Benchmark protocols: each metric on hand-computed cases, including every difference from memgym's own
metrics (issue 13), the judges' prompts and parsing, hints, averaging, and the protocol registry."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from memgym.envs.data import load_episodes
from memgym.envs.episode import ABSTAIN_ANSWER, Episode, Question, Session, Turn
from memgym.errors import ConfigError, UnknownNameError
from memgym.rewards.judge import JUDGE_STYLES, JudgeItem, parse_verdict
from memgym.rewards.memory_metrics import answer_support, evidence_all, evidence_recall
from memgym.rewards.metrics import (
    METRICS,
    bleu1,
    exact_match,
    is_abstention,
    locomo_em,
    locomo_f1,
    score_answers,
    token_f1,
)
from memgym.rewards.protocols import PROTOCOLS, Hint, get_protocol, natural_protocol
from memgym.rewards.protocols.builtin import LOCOMO_NOT_MENTIONED, locomo_hint
from memgym.rewards.protocols.longmemeval import (
    build_longmemeval_judge_prompt,
    longmemeval_judge_item,
    parse_longmemeval_verdict,
)
from memgym.rewards.protocols.mem0 import (
    build_mem0_judge_prompt,
    mem0_bleu1,
    mem0_exact_match,
    mem0_f1,
    parse_mem0_verdict,
)
from memgym.rewards.protocols.memoryagentbench import mab_accuracy_metric, mab_f1, mab_scores, parse_output
from memgym.rewards.tokenization import count_gpt4o_tokens, sent_tokenize, word_tokenize

FIXTURES = Path(__file__).parent / "fixtures" / "data"
LOCOMO_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo-dev"


# ----------------------------------------------------------------------------- Mem0 vs SQuAD F1
def test_mem0_f1_counts_token_sets_where_squad_counts_repeats():
    # SQuAD: [cat, cat, dog] vs [cat]: 1 common, P = 1/3, R = 1 -> 0.5; Mem0: {cat, dog} vs {cat}: P = 1/2 -> 2/3
    assert token_f1("cat cat dog", "cat") == pytest.approx(0.5)
    assert mem0_f1("cat cat dog", "cat") == pytest.approx(2 / 3)


def test_mem0_f1_keeps_articles_and_most_punctuation():
    # SQuAD drops "a": equal -> 1.0; Mem0 keeps it: {a, shell, necklace} vs {shell, necklace}: P = 2/3, R = 1 -> 0.8
    assert token_f1("a shell necklace", "shell necklace") == 1.0
    assert mem0_f1("a shell necklace", "shell necklace") == pytest.approx(0.8)
    # only . , ! ? are separators: "hawaii;" is not "hawaii"
    assert token_f1("Hawaii; Fiji", "Hawaii") == pytest.approx(2 / 3)
    assert mem0_f1("Hawaii; Fiji", "Hawaii") == 0.0
    assert mem0_f1("Paris!", "paris") == 1.0  # "!" and case do not matter
    assert (mem0_f1("", "x"), mem0_f1("x", ""), token_f1("", "")) == (0.0, 0.0, 1.0)


# ----------------------------------------------------------------------------- BLEU-1
def test_mem0_bleu1_tokenises_punctuation_as_words():
    # Mem0: [paris, .] vs [paris]: P = 1/2, hypothesis longer -> no brevity penalty -> 0.5; memgym's: 1.0
    assert mem0_bleu1("Paris.", "Paris") == pytest.approx(0.5)
    assert bleu1("Paris.", "Paris") == 1.0
    # Mem0 keeps articles: [a, cat] vs [the, cat, sat]: P = 1/2, BP = exp(1 - 3/2)
    assert mem0_bleu1("a cat", "the cat sat") == pytest.approx(0.5 * math.exp(-0.5))
    # memgym drops them: [cat] vs [cat, sat]: P = 1, BP = exp(1 - 2)
    assert bleu1("a cat", "the cat sat") == pytest.approx(math.exp(-1))
    assert mem0_bleu1("", "Paris") == 0.0


def test_word_tokenize_splits_sentences_first_as_nltk_does():
    # Treebank alone keeps "home." (only a final period is split); nltk's word_tokenize splits sentences first
    assert word_tokenize("I went home. Then I slept!") == ["I", "went", "home", ".", "Then", "I", "slept", "!"]
    assert word_tokenize("Mr. Bond's car") == ["Mr.", "Bond", "'s", "car"]  # an abbreviation, not a break
    assert sent_tokenize("Dr. Smith came at 5 p.m. today. He left.") == [
        "Dr. Smith came at 5 p.m. today.",
        "He left.",
    ]
    # [i, went, home, ., then, i, slept, !] against [home]: P = 1/8, no brevity penalty
    assert mem0_bleu1("I went home. Then I slept!", "home") == pytest.approx(1 / 8)


# ----------------------------------------------------------------------------- EM
def test_three_exact_matches_disagree():
    # SQuAD: normalised strings; Mem0: stripped lower-cased strings; LoCoMo: sets of normalised words
    assert (exact_match("Paris.", "paris"), mem0_exact_match("Paris.", "paris"), locomo_em("Paris.", "paris")) == (
        1.0,
        0.0,
        1.0,
    )
    assert (
        exact_match("salt and pepper", "pepper, salt"),
        mem0_exact_match("salt and pepper", "pepper, salt"),
        locomo_em("salt and pepper", "pepper, salt"),
    ) == (0.0, 0.0, 1.0)
    assert (exact_match(" PARIS ", "paris"), mem0_exact_match(" PARIS ", "paris")) == (1.0, 1.0)
    assert mem0_exact_match("", "") == 0.0 and exact_match("", "") == 1.0


# ----------------------------------------------------------------------------- category 5
def test_locomo_adversarial_rule_differs_from_memgym_abstention_rule():
    accepted_by_memgym_only = ["I don't know", "Unknown", "The conversation does not say"]
    for text in accepted_by_memgym_only:
        assert is_abstention(text) and locomo_f1(text, ABSTAIN_ANSWER, 5) == 0.0
    # LoCoMo tests for the phrase anywhere, even inside a longer word
    assert locomo_f1("That is knot mentioned", ABSTAIN_ANSWER, 5) == 1.0 and not is_abstention("knot mentioned")
    assert locomo_f1("No information available.", "Tosca", 5) == 1.0
    q = Question("q", "Fav opera?", [ABSTAIN_ANSWER], "adversarial")
    assert score_answers(["I don't know"], [q], ("em", "locomo_f1")) == [{"em": 1.0, "locomo_f1": 0.0}]


# ----------------------------------------------------------------------------- the judges
def test_mem0_judge_prompt_and_parsing():
    [message] = build_mem0_judge_prompt(JudgeItem("Where?", "Paris", "In Paris"))
    assert message["role"] == "user"  # one user message, no system prompt
    text = message["content"]
    assert "Question: Where?\nGold answer: Paris\nGenerated answer: In Paris\n" in text
    assert "First, provide a short (one sentence) explanation of your reasoning" in text
    replies = ['{"label": "CORRECT"}', '{"label":"correct"}', 'Same city.\n```json\n{"label": "CORRECT"}\n```',
               '{"label": "WRONG"}', "CORRECT", '{"verdict": "CORRECT"}']
    assert [parse_mem0_verdict(r) for r in replies] == [1.0, 0.0, 1.0, 0.0, None, None]
    assert parse_verdict('{"label":"correct"}') == 1.0  # memgym's own parser is lenient


def test_longmemeval_judge_prompt_per_type():
    def prompt(task, abstention=False):
        return build_longmemeval_judge_prompt(JudgeItem("Q?", "A", "R", task, abstention))[0]["content"]

    assert "off-by-one" in prompt("temporal-reasoning") and "off-by-one" not in prompt("multi-session")
    assert "updated answer" in prompt("knowledge-update")
    assert "Rubric: A" in prompt("single-session-preference")
    assert "unanswerable" in prompt("knowledge-update", abstention=True)
    assert "Explanation: A" in prompt("temporal-reasoning", abstention=True)
    assert prompt("single-session-user") == prompt("single-session-assistant") == prompt("multi-session")
    assert prompt("multi-session").endswith("Model Response: R\n\nIs the model response correct? Answer yes or no only.")
    assert [parse_longmemeval_verdict(r) for r in ("Yes.", "no", " YES", "No, not yes")] == [1.0, 0.0, 1.0, 1.0]
    assert JUDGE_STYLES.get("longmemeval").params.max_new_tokens == 10


def test_longmemeval_judge_sees_the_type_and_the_explanation():
    normal, abstention = load_episodes(FIXTURES / "longmemeval_s_mini.json")
    item = longmemeval_judge_item(abstention.questions[0], abstention, "I can't tell")
    assert item.abstention and item.task == "temporal-reasoning"
    assert item.gold.startswith("The information provided is not enough")
    item = longmemeval_judge_item(normal.questions[0], normal, "hydrology")
    assert (item.task, item.abstention, item.gold) == ("single-session-user", False, "a master's in hydrology")


# ----------------------------------------------------------------------------- MemoryAgentBench
def test_memoryagentbench_metrics():
    assert mab_scores("It was the Eiffel Tower, I think", ["Eiffel Tower"], "ruler_qa1_197K")["mab_substring_em"] == 1.0
    # the yes / no rule: "yes it is" vs "yes" is 0, not SQuAD's 2/3
    assert (mab_f1("yes it is", ["yes"]), token_f1("yes it is", "yes")) == (0.0, pytest.approx(0.5))
    # EventQA: recall = every element, lower-cased, in the raw output; EM / F1 on the parsed first line
    scores = mab_scores("Ona met Marigold\nlater", ["ona", "marigold"], "eventqa_full")
    assert scores["mab_eventqa_recall"] == 1.0 and scores["mab_substring_em"] == 1.0
    assert mab_scores("Ona\nlater", ["ona", "marigold"], "eventqa_full")["mab_eventqa_recall"] == 0.0
    # default: the better of raw and parsed ("Answer: ..." line)
    assert parse_output("Let me think.\nAnswer: Paris\n") == "Paris"
    assert mab_scores("Let me think.\nAnswer: Paris", ["Paris"], "detective_qa")["mab_em"] == 1.0
    # ICL: parsed only, so "label: 43" is not "43"
    assert mab_scores("label: 43", ["43"], "icl_banking77_5900shot_balance")["mab_em"] == 0.0
    niah = mab_scores("the numbers are 12 and 7", ["12", "7", "99"], "ruler_niah_mk")
    assert niah["mab_ruler_recall"] == pytest.approx(2 / 3) and niah["mab_em"] is None
    assert [mab_accuracy_metric(s) for s in ("eventqa_full", "detective_qa", "recsys_redial_full", "longmemeval_s")] == [
        "mab_substring_em", "mab_em", "mab_recall_at_5", None]
    q = Question("q", "?", ["Paris"], "longmemeval_s_star")
    assert score_answers(["Paris"], [q], ("mab_accuracy",)) == [{"mab_accuracy": None}]


def test_memoryagentbench_sentence_chunks(tmp_path):
    from memgym.envs.data.memoryagentbench import split_context_sentences

    text = "One two three. Four five. Six seven eight nine. Ten."
    words = lambda s: len(s.split())  # noqa: E731  (a counter we can compute by hand)
    assert split_context_sentences(text, 5, words) == ["One two three. Four five.", "Six seven eight nine. Ten."]
    assert split_context_sentences(text, 2, words) == ["One two three.", "Four five.", "Six seven eight nine.", "Ten."]
    row = {"context": text, "questions": ["q?"], "answers": [["x"]], "metadata": {"source": "eventqa_x"}}
    (tmp_path / "m.jsonl").write_text(json.dumps(row) + "\n")
    [ep] = load_episodes(tmp_path / "m.jsonl", chunking="sentences", turn_tokens=4096)
    assert [t.text for t in ep.turns()] == [text]
    assert count_gpt4o_tokens("Hello world, it's 2024!") == 8
    with pytest.raises(ConfigError, match="chunking='pages' is not one of words, sentences"):
        load_episodes(tmp_path / "m.jsonl", chunking="pages")


# ----------------------------------------------------------------------------- memory metrics
def test_evidence_recall_fractional_and_all_or_nothing():
    assert evidence_recall(["D1:1", "D1:2", "D2:1", "D3:3"], {"D1:1", "D2:1", "D9:9"}) == 0.5
    assert evidence_all(["D1:1", "D1:2"], {"D1:1"}) == 0.0 and evidence_all(["D1:1"], {"D1:1"}) == 1.0
    assert evidence_recall([], set()) == 1.0 and evidence_all([], set()) is None  # LoCoMo counts them as 1


def test_answer_support():
    # gold "the red car" -> [red, car]; memories hold "red" only -> 1/2
    assert answer_support(["the red car"], ["Ana bought a red bike"]) == 0.5
    assert answer_support(["red car", "bike"], ["a red bike"]) == 1.0  # the best accepted answer
    assert answer_support([ABSTAIN_ANSWER], ["anything"]) is None and answer_support(["!"], ["x"]) is None


def test_memory_metrics_are_reward_components():
    from memgym.rewards.components import REWARDS, StepOutcome

    step = StepOutcome((), None, answers=(
        {"score": 1.0, "evidence_recall": 0.5, "evidence_all": 0.0, "answer_support": 1.0},
        {"score": 0.0, "evidence_recall": 1.0, "evidence_all": None, "answer_support": None},
    ))
    got = {name: REWARDS.get(name)(step) for name in ("evidence_recall", "evidence_all", "answer_support")}
    assert got == {"evidence_recall": 0.75, "evidence_all": 0.0, "answer_support": 1.0}
    assert REWARDS.get("evidence_recall")(StepOutcome((), None)) is None


# ----------------------------------------------------------------------------- protocols
def test_protocol_registry_and_natural_protocols():
    assert set(PROTOCOLS) == {"memgym", "locomo", "mem0", "memory-r1", "longmemeval", "memoryagentbench"}
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean: mem0")):
        get_protocol("mem1")
    assert natural_protocol(load_episodes(FIXTURES / "locomo10_mini.json")).name == "locomo"
    assert natural_protocol(load_episodes(FIXTURES / "longmemeval_s_mini.json")).name == "longmemeval"
    assert natural_protocol(load_episodes(FIXTURES / "memoryagentbench_mini.jsonl")).name == "memoryagentbench"
    assert natural_protocol(load_episodes(FIXTURES / "episodes_mini.jsonl")).name == "memgym"
    for name in PROTOCOLS:
        assert all(m in METRICS for m in get_protocol(name).metrics)


def test_mem0_protocol_drops_category_5_and_memory_r1_splits():
    episodes = load_episodes(FIXTURES / "locomo10_mini.json")
    selection = get_protocol("mem0").select(episodes)
    assert all(q.category != "adversarial" for ep in selection.episodes for q in ep.questions)
    assert selection.excluded["adversarial"] == sum(q.category == "adversarial" for ep in episodes for q in ep.questions)
    r1 = get_protocol("memory-r1")
    assert [ep.id for ep in r1.select(episodes).episodes] == ["conv-41"] and r1.select(episodes).part == "test"
    assert [ep.id for ep in r1.select(episodes, "train").episodes] == ["conv-26"]
    assert [ep.id for ep in r1.select(episodes[:2]).episodes] == ["conv-30"]  # no test conversation: validation
    with pytest.raises(ConfigError, match="has no split"):
        get_protocol("locomo").select(episodes, "test")


def test_locomo_hints():
    [conv26, *_] = load_episodes(FIXTURES / "locomo10_mini.json")
    hints = get_protocol("locomo").hints([conv26])
    temporal = next(q for q in conv26.questions if q.category == "temporal")
    assert hints[temporal.id].question == temporal.question + " Use DATE of CONVERSATION to answer with an approximate date."
    adversarial = next(q for q in conv26.questions if q.category == "adversarial")
    hint = locomo_hint(adversarial, conv26)
    assert "Select the correct answer: (a)" in hint.question and "Tosca" in hint.question
    not_mentioned = next(letter for letter, text in hint.choices if text == LOCOMO_NOT_MENTIONED)
    assert hint.resolve(not_mentioned) == LOCOMO_NOT_MENTIONED and hint.resolve(f"({not_mentioned})") == LOCOMO_NOT_MENTIONED
    assert hint.resolve("Tosca, I think") == "tosca, i think"  # LoCoMo's rule keeps it, lower-cased
    assert Hint("q").resolve(" A ") == " A " and get_protocol("mem0").hints([conv26]) == {}


def test_longmemeval_hint_and_sessions_by_date(tmp_path):
    data = json.loads((FIXTURES / "longmemeval_s_mini.json").read_text())
    data[0]["haystack_sessions"].reverse()
    data[0]["haystack_dates"].reverse()
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(data))
    by_date, _ = load_episodes(path)
    by_file, _ = load_episodes(path, session_order="file")
    assert [s.date_time for s in by_date.sessions] == sorted(s.date_time for s in by_date.sessions)
    assert [s.id for s in by_date.sessions] == ["D2", "D1"] and [s.id for s in by_file.sessions] == ["D1", "D2"]
    [q] = by_date.questions
    assert get_protocol("longmemeval").hints([by_date])[q.id].question == f"{q.question}\nCurrent Date: 2023/05/30 (Tue) 23:40"


def test_longmemeval_averages_by_hand():
    from memgym.policies.bench.results import PolicyResult

    rows = [  # (id, type, judged): type A 1/2, type B 1/1, abstention 0/1 (inside type A)
        ("a1", "A", 1.0), ("a2_abs", "A", 0.0), ("b1", "B", 1.0),
    ]
    result = PolicyResult("p", episodes=[{"questions": [{"id": i, "category": c, "j": j} for i, c, j in rows],
                                          "ops": {}, "op_agreement": [], "op_agreement_facts": [], "steps": 1,
                                          "memory_entries": 0, "memory_tokens": 0}])
    s = result.summary((), get_protocol("longmemeval"))
    assert s["overall"]["j"] == pytest.approx(2 / 3)  # over questions
    assert s["task_averaged"]["j"] == pytest.approx((0.5 + 1.0) / 2)  # over types
    assert s["abstention"] == {"n": 1, "j": 0.0}
    mab = result.summary((), get_protocol("memoryagentbench"))
    assert mab["overall"]["j"] == pytest.approx(0.75)  # averaged over sub-tasks


def test_answer_agent_hints_reach_the_agent_only():
    from memgym.policies.bench.runner import HintedAnswerAgent

    class Echo:
        def answer(self, questions, memories):
            return ["a" if "Select" in q.question else q.question for q in questions]

    q1 = Question("q1", "Fav opera?", [ABSTAIN_ANSWER], "adversarial")
    q2 = Question("q2", "Where?", ["Paris"], "single-hop")
    agent = HintedAnswerAgent(Echo(), {"q1": Hint("Fav opera? Select the correct answer: (a) X (b) Y. ",
                                                   (("a", "X"), ("b", "Y")))})
    assert agent.answer([q1, q2], [[], []]) == ["X", "Where?"]
    assert agent.name == "Echo+hints" and q1.question == "Fav opera?"


@pytest.mark.skipif(not LOCOMO_DEV.exists(), reason="the LoCoMo development conversations are not here")
def test_memory_r1_train_and_validation_on_the_real_conversations():
    episodes = load_episodes(LOCOMO_DEV)
    r1 = get_protocol("memory-r1")
    train, validation = r1.select(episodes, "train"), r1.select(episodes, "validation")
    assert [ep.id for ep in train.episodes] == ["26"] and [ep.id for ep in validation.episodes] == ["30"]
    assert sum(len(ep.questions) for ep in train.episodes) == 152
    assert sum(len(ep.questions) for ep in validation.episodes) == 81
    assert (train.excluded, validation.excluded) == ({"adversarial": 47}, {"adversarial": 24})  # 199 - 152, 105 - 81
    assert r1.select(list(reversed(episodes))).episodes[0].id == "30"  # by number, not by position


def test_unsupported_episode_sources_fall_back_to_memgym():
    ep = Episode("e", ["a"], [Session("D1", None, [Turn("D1:1", "a", "hi")])], source="mine")
    assert natural_protocol([ep]).name == "memgym"
