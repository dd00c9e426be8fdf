"""QA metrics: memgym's SQuAD-style EM / F1 and BLEU-1, LoCoMo's official F1 and EM, and abstention.

Every metric is a pure function of a prediction and its accepted answer(s) returning a float in [0, 1];
:func:`score_answers` scores a batch against :class:`~memgym.envs.episode.Question` objects so that
category rules apply. :data:`METRICS` is the registry of the names users type (``--metrics``,
``qa_metric=``), each a scorer ``(prediction, question) -> float``:

- ``squad_em`` (alias ``em``): SQuAD-normalised string equality, with memgym's abstention rule;
- ``squad_f1`` (alias ``f1``): SQuAD token F1 (repeated words counted), with memgym's abstention rule;
- ``bleu1``: BLEU-1 on SQuAD-normalised words, with memgym's abstention rule;
- ``locomo_f1``: LoCoMo's QA score, exactly (``task_eval/evaluation.py``), per category;
- ``locomo_em``: LoCoMo's exact match: equal *sets* of LoCoMo-normalised words;
- ``mem0_em``, ``mem0_f1``, ``mem0_bleu1``: Mem0's evaluation (:mod:`memgym.rewards.protocols.mem0`);
- ``mab_accuracy``, ``mab_em``, ``mab_substring_em``, ``mab_f1``, ``mab_eventqa_recall``,
  ``mab_ruler_recall``, ``mab_recall_at_5``: MemoryAgentBench's
  (:mod:`memgym.rewards.protocols.memoryagentbench`).

``em`` and ``f1`` are the historical short names of ``squad_em`` and ``squad_f1`` (environments and
configs default to them); the benchmark-exact metrics apply only their benchmark's own rules.

The abstention rule (memgym's metrics only)
    A question whose accepted answer is :data:`~memgym.envs.episode.ABSTAIN_ANSWER` ("not mentioned")
    asks about something the conversation never stated or retracted. Any prediction that *says* the
    information is not known counts as correct, whatever its wording ("I don't know", "No information
    about that"), and any other prediction as wrong. So under EM, F1 and BLEU-1 such a question scores
    exactly 1.0 or 0.0: a partial overlap with the words "not mentioned" earns nothing.
    :func:`score_answers` also treats LoCoMo's category 5 ("adversarial") this way, because its gold
    text in the released data is a distractor, not an answer. This is memgym's rule, not LoCoMo's:
    ``locomo_f1`` wants "no information available" or "not mentioned" in the prediction.

nltk (stemming, BLEU) is imported on first use: importing it takes seconds and ``import memgym.rewards``
should not.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache, lru_cache

from memgym.envs.episode import ABSTAIN_ANSWER, Question
from memgym.errors import ConfigError, DatasetError
from memgym.registry import Registry

__all__ = [
    "LOCOMO_CATEGORIES",
    "METRICS",
    "QuestionScorer",
    "bleu1",
    "check_metrics",
    "exact_match",
    "is_abstention",
    "locomo_category",
    "locomo_em",
    "locomo_f1",
    "memgym_scorer",
    "normalize_answer",
    "score_answers",
    "token_f1",
]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# LoCoMo's evaluation also drops "and" with the articles (task_eval/evaluation.py).
_LOCOMO_ARTICLES = re.compile(r"\b(a|an|the|and)\b")

#: LoCoMo's category numbers by the names the loaders use (1 multi-hop, ..., 5 adversarial).
LOCOMO_CATEGORIES: dict[str, int] = {
    "multi-hop": 1,
    "temporal": 2,
    "open-domain": 3,
    "single-hop": 4,
    "adversarial": 5,
}

# Phrases that say "the information is not known". Hand-written because no maintained library detects
# abstentions; each pattern is a whole phrase so that "Paris, not London" is not an abstention.
_ABSTENTION = re.compile(
    r"\b("
    r"not (been |ever |explicitly )?(mentioned|stated|specified|known|available|provided|given|"
    r"discussed|said|shared|disclosed|recorded)"
    r"|\w+n't (been |ever )?(mentioned|stated|specified|known|available|provided|given|discussed|said)"
    r"|not ((found|present|stored|included) )?in (the |my |your )?(memory|memories|conversation|context)"
    r"|never (been )?(mentioned|stated|said|discussed|shared|told)"
    r"|no (information|info|mention|record|records|data|details|evidence|answer|memory|memories)"
    r"|(not|insufficient) (enough |sufficient )?(information|info|details|context)"
    r"|(unknown|unanswerable|undetermined)"
    r"|(do not|don't|does not|doesn't|did not|didn't) (know|mention|say|specify|state)"
    r"|(i|we) (do not|don't|did not|didn't|cannot|can't) (remember|recall)"
    r"|(cannot|can't|can not|could not|couldn't|unable to) (be )?"
    r"(determine|determined|answer|answered|find|found|tell|told|know|known|say|recall|infer|inferred)"
    r")\b"
)


def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lowercase, drop punctuation and articles, collapse whitespace.

    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    """
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", s).split())


def is_abstention(text: str) -> bool:
    """Whether ``text`` says the answer is not known (not mentioned, no information, don't know, ...).

    A phrase-level heuristic: it recognises common ways of declining to answer, including
    :data:`~memgym.envs.episode.ABSTAIN_ANSWER` itself.

    >>> is_abstention("That was not mentioned."), is_abstention("I don't know"), is_abstention("Paris")
    (True, True, False)
    """
    return bool(_ABSTENTION.search(" ".join(text.lower().replace("\u2019", "'").split())))


def _answer_list(answers: str | Sequence[str]) -> list[str]:
    out = [answers] if isinstance(answers, str) else [str(a) for a in answers]
    if not out:
        raise DatasetError("there is no accepted answer to score against", field="answers")
    return out


def _is_abstain_gold(answer: str) -> bool:
    return normalize_answer(answer) == normalize_answer(ABSTAIN_ANSWER)


def _abstention_score(prediction: str, answers: list[str]) -> float | None:
    """1.0/0.0 under the abstention rule when an accepted answer is ``ABSTAIN_ANSWER``, else ``None``."""
    if any(_is_abstain_gold(a) for a in answers):
        return 1.0 if is_abstention(prediction) else 0.0
    return None


def exact_match(prediction: str, answers: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised accepted answer (abstention rule applies).

    >>> exact_match("the Eiffel tower.", ["Eiffel Tower", "Paris"])
    1.0
    """
    answers = _answer_list(answers)
    abstained = _abstention_score(prediction, answers)
    if abstained is not None:
        return abstained
    pred = normalize_answer(prediction)
    return max(float(pred == normalize_answer(a)) for a in answers)


def _f1(pred_tokens: list[str], gold_tokens: list[str], *, empty_match: bool) -> float:
    """Token-overlap F1. ``empty_match``: SQuAD scores two empty answers 1.0, LoCoMo scores them 0.0."""
    if not pred_tokens or not gold_tokens:
        return float(empty_match and pred_tokens == gold_tokens)
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: str | Sequence[str]) -> float:
    """SQuAD's token F1 on normalised words, the best over accepted answers (abstention rule applies).

    >>> round(token_f1("in Paris France", "Paris"), 4)  # P = 1/3, R = 1/1, F1 = 2*(1/3)/(4/3)
    0.5
    """
    answers = _answer_list(answers)
    abstained = _abstention_score(prediction, answers)
    if abstained is not None:
        return abstained
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(a).split(), empty_match=True) for a in answers)


# ----------------------------------------------------------------------------- LoCoMo
@cache
def _porter():
    from nltk.stem import PorterStemmer  # the same stemmer, in its default mode, as LoCoMo's evaluation

    return PorterStemmer()


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _porter().stem(word)


def _locomo_tokens(s: str) -> list[str]:
    """LoCoMo's ``normalize_answer`` (drops commas, punctuation, articles and "and") then Porter stems."""
    s = "".join(ch for ch in s.replace(",", "").lower() if ch not in _PUNCTUATION)
    return [_stem(w) for w in _LOCOMO_ARTICLES.sub(" ", s).split()]


def locomo_category(category: int | str) -> int | None:
    """LoCoMo's category number for ``1``, ``"1"`` or a name such as ``"multi-hop"``; ``None`` if other."""
    if isinstance(category, int):
        return category if 1 <= category <= 5 else None
    key = str(category).strip().lower().replace("_", "-").replace(" ", "-")
    if key.isdigit():
        return locomo_category(int(key))
    return LOCOMO_CATEGORIES.get({"multihop": "multi-hop", "singlehop": "single-hop"}.get(key, key))


def locomo_f1(prediction: str, answer: str, category: int | str) -> float:
    """LoCoMo's official QA score (snap-research/locomo, ``task_eval/evaluation.py``).

    - Words are normalised as LoCoMo does (its normaliser also drops commas and the word "and") and
      Porter-stemmed (nltk), then scored by token F1; no common token scores 0.0, even two empty answers.
    - Category 1 (multi-hop): prediction and gold are split on commas; each gold sub-answer takes its
      best F1 against any predicted sub-answer, and the score is the mean over gold sub-answers.
    - Category 3 (open-domain): only the gold text before the first ``;`` counts.
    - Category 5 (adversarial): 1.0 when the prediction contains "no information available" or "not
      mentioned" (case-insensitive), else 0.0; the gold text is ignored.

    Deviation: the official script raises on any other category; here other categories (e.g. the
    synthetic "counting") are scored like 2 and 4, except that a gold of ``ABSTAIN_ANSWER`` follows the
    module's abstention rule.

    >>> locomo_f1("Paris, London", "London, Rome, Paris", 1)  # sub-answers: 1, 0, 1 -> mean 2/3
    0.6666666666666666
    """
    number = locomo_category(category)
    if number == 5:
        lowered = prediction.lower()
        return float("no information available" in lowered or "not mentioned" in lowered)
    if number is None and _is_abstain_gold(answer):
        return 1.0 if is_abstention(prediction) else 0.0
    if number == 3:
        answer = answer.split(";")[0].strip()
    if number == 1:
        preds = [_locomo_tokens(p) for p in prediction.split(",")]
        golds = [_locomo_tokens(g) for g in answer.split(",")]
        return math.fsum(max(_f1(p, g, empty_match=False) for p in preds) for g in golds) / len(golds)
    return _f1(_locomo_tokens(prediction), _locomo_tokens(answer), empty_match=False)


def locomo_em(prediction: str, answer: str) -> float:
    """LoCoMo's exact match (``exact_match_score`` in ``task_eval/evaluation.py``): 1.0 when prediction
    and gold have the same *set* of words after LoCoMo's normalisation (no stemming; order and repeats
    do not matter; no category rule).

    >>> locomo_em("Pepper and salt, salt!", "salt pepper"), locomo_em("Paris", "the paris")
    (1.0, 1.0)
    """
    def words(text: str) -> set[str]:
        text = "".join(ch for ch in text.replace(",", "").lower() if ch not in _PUNCTUATION)
        return set(_LOCOMO_ARTICLES.sub(" ", text).split())

    return float(words(prediction) == words(answer))


# ----------------------------------------------------------------------------- BLEU-1
@cache
def _bleu():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return sentence_bleu, SmoothingFunction().method1


def bleu1(prediction: str, answer: str | Sequence[str]) -> float:
    """BLEU-1 as Mem0 reports it: nltk ``sentence_bleu``, weights (1, 0, 0, 0), smoothing method 1.

    Tokens are the words of :func:`normalize_answer` (Mem0 tokenises with nltk's ``word_tokenize``,
    which needs a data download and keeps punctuation as tokens). With several accepted answers the best
    score counts, as for EM and F1. An empty prediction or answer scores 1.0 only if both are empty.

    >>> round(bleu1("Paris", "Paris France"), 4)  # precision 1/1, brevity penalty exp(1 - 2/1)
    0.3679
    """
    answers = _answer_list(answer)
    abstained = _abstention_score(prediction, answers)
    if abstained is not None:
        return abstained
    sentence_bleu, smoothing = _bleu()
    hyp = normalize_answer(prediction).split()
    best = 0.0
    for a in answers:
        ref = normalize_answer(a).split()
        if not hyp or not ref:
            score = float(hyp == ref)
        else:
            score = float(sentence_bleu([ref], hyp, weights=(1, 0, 0, 0), smoothing_function=smoothing))
        best = max(best, score)
    return best


# ----------------------------------------------------------------------------- batches
def _is_abstention_question(q: Question) -> bool:
    return locomo_category(q.category) == 5 or any(_is_abstain_gold(a) for a in q.answers)


#: A registered metric: a prediction and its question in, a score in [0, 1] (or ``None``: not applicable) out.
QuestionScorer = Callable[[str, Question], "float | None"]


def memgym_scorer(metric: Callable[[str, Sequence[str]], float]) -> QuestionScorer:
    """A question scorer from an answers metric, with memgym's abstention rule (LoCoMo category 5
    included): an abstention question scores 1.0 exactly when the prediction abstains."""

    def score(prediction: str, q: Question) -> float:
        if _is_abstention_question(q):
            return 1.0 if is_abstention(prediction) else 0.0
        return metric(prediction, q.answers)

    score.__doc__ = f"{metric.__name__} with memgym's abstention rule."
    return score


def _score_locomo_f1(prediction: str, q: Question) -> float:
    return max(locomo_f1(prediction, a, q.category) for a in q.answers)


def _score_locomo_em(prediction: str, q: Question) -> float:
    return max(locomo_em(prediction, a) for a in q.answers)


#: Every metric by the name users type; entries are scorers ``(prediction, question) -> float``
#: (benchmark modules are imported on first use). The LLM judge needs a backend: ``rewards.judge``.
METRICS: Registry[QuestionScorer] = Registry("metric")
for _name, _metric in (("em", exact_match), ("squad_em", exact_match), ("f1", token_f1),
                       ("squad_f1", token_f1), ("bleu1", bleu1)):
    METRICS.register(_name, memgym_scorer(_metric))
METRICS.register("locomo_f1", _score_locomo_f1)
METRICS.register("locomo_em", _score_locomo_em)
for _name in ("mem0_em", "mem0_f1", "mem0_bleu1"):
    METRICS.register(_name, f"memgym.rewards.protocols.mem0:score_{_name}")
for _name in ("mab_accuracy", "mab_em", "mab_substring_em", "mab_f1", "mab_eventqa_recall", "mab_ruler_recall",
              "mab_recall_at_5"):
    METRICS.register(_name, f"memgym.rewards.protocols.memoryagentbench:score_{_name}")


def check_metrics(metrics: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming the unknown metric names (and the known ones), or if none given."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(
            f"unknown metric(s) {unknown or '(none given)'}; known: {', '.join(METRICS.names())} "
            "(the LLM judge is rewards.judge.LLMJudge)"
        )


def score_answers(
    predictions: Sequence[str], questions: Sequence[Question], metrics: Sequence[str] = ("em", "f1", "bleu1")
) -> list[dict[str, float | None]]:
    """Score each prediction against its question's accepted answers, one dict of metric values each.

    A value is ``None`` where a metric does not apply to the question (e.g. ``mab_accuracy`` on a
    MemoryAgentBench sub-task that only a judge scores).

    Categories apply: ``locomo_f1`` uses the question's category, memgym's metrics score abstention
    questions (an accepted answer of ``ABSTAIN_ANSWER``, or LoCoMo category 5) 1.0/0.0 by whether the
    prediction abstains, and each benchmark's metrics follow that benchmark's rules.

    Raises:
        ConfigError: a metric name is unknown, or the two lists differ in length.
        DatasetError: a question has no accepted answer.
    """
    check_metrics(metrics)
    if len(predictions) != len(questions):
        raise ConfigError(f"{len(predictions)} predictions for {len(questions)} questions")
    scorers = {m: METRICS.get(m) for m in metrics}
    rows = []
    for prediction, q in zip(predictions, questions, strict=True):
        if not q.answers:
            raise DatasetError("question has no accepted answer", record=q.id, field="answers")
        text = "" if prediction is None else str(prediction)  # a missing answer scores as an empty one
        values = {m: scorer(text, q) for m, scorer in scorers.items()}
        rows.append({m: None if v is None else float(v) for m, v in values.items()})
    return rows
