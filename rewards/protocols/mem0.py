"""Mem0's evaluation of LoCoMo, exactly: token F1, BLEU-1, exact match and the LLM judge (J).

Written from mem0ai/mem0 ``evaluation/metrics/utils.py`` (``calculate_metrics``,
``calculate_bleu_scores``, ``simple_tokenize``), ``evaluation/metrics/llm_judge.py`` (the accuracy
prompt and its parsing) and ``evaluation/evals.py`` (category 5 skipped, one gold answer per question,
overall = the mean over questions), as of the last commit before that folder moved to
mem0ai/memory-benchmarks. Memory-R1 (arXiv 2508.19828) reports the same three metrics.

How these differ from memgym's SQuAD-style metrics:

- ``mem0_f1``: lower-case, replace only ``. , ! ?`` by spaces, split; *sets* of tokens (a repeated word
  counts once); articles and other punctuation are kept ("the", "paris's", "(2023)"); an empty
  prediction or gold scores 0.0.
- ``mem0_bleu1``: nltk ``sentence_bleu`` with weights (1, 0, 0, 0) and smoothing method 1 on
  ``nltk.word_tokenize`` of the lower-cased texts (punctuation becomes tokens); without Punkt's data the
  tokenisation is :func:`memgym.rewards.tokenization.word_tokenize`. An empty prediction scores 0.0.
- ``mem0_em``: the stripped, lower-cased strings are equal (no normalisation); empty scores 0.0.
- No abstention rule: Mem0 skips category 5 and scores every other answer as text.

With several accepted answers the best score counts (Mem0's data has one per question).

The judge (``JUDGE_STYLES["mem0"]``): Mem0's ``ACCURACY_PROMPT`` as one user message, greedy; the reply's
JSON object (``extract_json``: a fenced block, else the first ``{`` to the last ``}``) must have
``"label"`` equal to ``"CORRECT"`` exactly: ``{"label": "correct"}`` and ``{"label": "WRONG"}`` are
wrong, a reply without such JSON has no verdict (Mem0's script raises; memgym counts it unparsable and
scores 0.0). Mem0 asks GPT-4o-mini with ``response_format={"type": "json_object"}``; a local backend
cannot force JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from memgym.envs.episode import Question
from memgym.policies.backends import ChatPrompt, SamplingParams
from memgym.rewards.judge import JudgeItem, JudgeStyle

__all__ = [
    "MEM0_ACCURACY_PROMPT",
    "MEM0_JUDGE",
    "mem0_bleu1",
    "mem0_exact_match",
    "mem0_f1",
    "mem0_tokens",
    "parse_mem0_verdict",
]

#: Mem0's judge prompt, verbatim (``ACCURACY_PROMPT``; ``str.format`` fields question, gold_answer,
#: generated_answer).
MEM0_ACCURACY_PROMPT = (
    '\n'
    'Your task is to label an answer to a question as ’CORRECT’ or ’WRONG’. You will be given the following data:\n'
    '    (1) a question (posed by one user to another user), \n'
    '    (2) a ’gold’ (ground truth) answer, \n'
    '    (3) a generated answer\n'
    'which you will score as CORRECT/WRONG.\n'
    '\n'
    'The point of the question is to ask about something one user should know about the other user based on their prior conversations.\n'
    'The gold answer will usually be a concise and short answer that includes the referenced topic, for example:\n'
    'Question: Do you remember what I got the last time I went to Hawaii?\n'
    'Gold answer: A shell necklace\n'
    'The generated answer might be much longer, but you should be generous with your grading - as long as it touches on the same topic as the gold answer, it should be counted as CORRECT. \n'
    '\n'
    'For time related questions, the gold answer will be a specific date, month, year, etc. The generated answer might be much longer or use relative time references (like "last Tuesday" or "next month"), but you should be generous with your grading - as long as it refers to the same date or time period as the gold answer, it should be counted as CORRECT. Even if the format differs (e.g., "May 7th" vs "7 May"), consider it CORRECT if it\'s the same date.\n'
    '\n'
    "Now it's time for the real question:\n"
    'Question: {question}\n'
    'Gold answer: {gold_answer}\n'
    'Generated answer: {generated_answer}\n'
    '\n'
    'First, provide a short (one sentence) explanation of your reasoning, then finish with CORRECT or WRONG. \n'
    'Do NOT include both CORRECT and WRONG in your response, or it will break the evaluation script.\n'
    '\n'
    'Just return the label CORRECT or WRONG in a json format with the key as "label".\n'
)

_SIMPLE_PUNCT = str.maketrans({".": " ", ",": " ", "!": " ", "?": " "})
_FENCED = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)


def mem0_tokens(text: str) -> list[str]:
    """Mem0's ``simple_tokenize``: lower-case, ``. , ! ?`` to spaces, split on whitespace.

    >>> mem0_tokens("The cat's toy, (red)!")
    ['the', "cat's", 'toy', '(red)']
    """
    return str(text).lower().translate(_SIMPLE_PUNCT).split()


def _one(value: Any) -> str:
    return str(value).strip()


def mem0_exact_match(prediction: str, answer: str) -> float:
    """1.0 when the stripped, lower-cased strings are equal; 0.0 if either is empty.

    >>> mem0_exact_match(" Paris ", "paris"), mem0_exact_match("Paris.", "Paris")
    (1.0, 0.0)
    """
    if not prediction or not answer:
        return 0.0
    return float(_one(prediction).lower() == _one(answer).lower())


def mem0_f1(prediction: str, answer: str) -> float:
    """F1 of the *sets* of :func:`mem0_tokens`; 0.0 if either is empty or nothing is shared.

    >>> mem0_f1("the the cat", "a cat")  # sets {the, cat} and {a, cat}: P = R = 1/2
    0.5
    """
    if not prediction or not answer:
        return 0.0
    pred, gold = set(mem0_tokens(_one(prediction))), set(mem0_tokens(_one(answer)))
    if not pred or not gold:
        return 0.0
    same = len(pred & gold)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


@cache
def _bleu() -> Any:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return sentence_bleu, SmoothingFunction().method1


def mem0_bleu1(prediction: str, answer: str) -> float:
    """nltk BLEU-1 (weights (1, 0, 0, 0), smoothing method 1) on word-tokenised lower-cased text.

    Mem0's ``calculate_bleu_scores`` is called on the unstripped texts and catches errors as 0.0; an
    empty prediction gives no matching unigram, hence 0.0.

    >>> round(mem0_bleu1("Paris.", "Paris"), 4)  # tokens [paris, .] vs [paris]: P = 1/2, no brevity penalty
    0.5
    """
    from memgym.rewards.tokenization import word_tokenize

    sentence_bleu, smoothing = _bleu()
    hyp = word_tokenize(str(prediction).lower())
    ref = word_tokenize(str(answer).lower())
    try:
        return float(sentence_bleu([ref], hyp, weights=(1, 0, 0, 0), smoothing_function=smoothing))
    except Exception:  # noqa: BLE001  (Mem0 scores any failure 0.0, e.g. an empty reference)
        return 0.0


def _best(metric: Any, prediction: str, answers: Sequence[str]) -> float:
    return max(metric(prediction, a) for a in answers)


def score_mem0_em(prediction: str, q: Question) -> float:
    """``mem0_em`` of a question (best over accepted answers)."""
    return _best(mem0_exact_match, prediction, q.answers)


def score_mem0_f1(prediction: str, q: Question) -> float:
    """``mem0_f1`` of a question (best over accepted answers)."""
    return _best(mem0_f1, prediction, q.answers)


def score_mem0_bleu1(prediction: str, q: Question) -> float:
    """``mem0_bleu1`` of a question (best over accepted answers)."""
    return _best(mem0_bleu1, prediction, q.answers)


# ----------------------------------------------------------------------------- the judge
def _extract_json(text: str) -> str:
    """Mem0's ``extract_json``: a fenced block's content, else the first ``{`` to the last ``}``, else all."""
    text = text.strip()
    fenced = _FENCED.search(text)
    if fenced:
        return fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if start != -1 and end > start else text


def parse_mem0_verdict(text: str) -> float | None:
    """1.0 when the reply's JSON ``label`` is exactly ``"CORRECT"``, 0.0 for any other label, ``None``
    when there is no JSON object with a ``label`` (Mem0's script would raise).

    >>> parse_mem0_verdict('{"label": "CORRECT"}'), parse_mem0_verdict('{"label": "correct"}')
    (1.0, 0.0)
    >>> parse_mem0_verdict("CORRECT") is None
    True
    """
    try:
        obj = json.loads(_extract_json(text))
        label = obj["label"]
    except (json.JSONDecodeError, KeyError, TypeError, IndexError):
        return None
    return 1.0 if label == "CORRECT" else 0.0


def build_mem0_judge_prompt(item: JudgeItem) -> ChatPrompt:
    """Mem0's prompt for one item, as the only (user) message."""
    content = MEM0_ACCURACY_PROMPT.format(
        question=item.question, gold_answer=item.gold, generated_answer=item.prediction
    )
    return [{"role": "user", "content": content}]


#: Mem0's judge: its prompt, its parser, greedy sampling with room for the one-sentence reasoning.
MEM0_JUDGE = JudgeStyle(
    "mem0",
    build_mem0_judge_prompt,
    parse_mem0_verdict,
    SamplingParams(max_new_tokens=128, temperature=0.0),
    "mem0ai/mem0 evaluation/metrics/llm_judge.py",
)
