"""MemoryAgentBench's metrics, exactly: each sub-task's own metric and post-processing, and its chunking.

Written from HUST-AI-HYZ/MemoryAgentBench ``utils/eval_other_utils.py`` (``normalize_answer``,
``f1_score``, ``drqa_exact_match_score``, ``substring_exact_match_score``, ``parse_output``,
``post_process`` and its per-dataset branches, ``chunk_text_into_sentences``) and its README's metric
table ("accuracy" is ``substring_exact_match`` for EventQA, RULER-QA and FactConsolidation,
``exact_match`` for DetectiveQA and the ICL sets, Recall@5 for Recsys, the LLM judge for LongMemEval).

Definitions (answers are the row's accepted answers; a list of lists is flattened):

- normalisation: SQuAD's (lower-case, drop punctuation, drop a / an / the, collapse spaces);
- ``mab_em``: normalised equality, best over answers; ``mab_substring_em``: the normalised answer is a
  substring of the normalised prediction; ``mab_f1``: SQuAD token F1, except that when either side
  normalises to "yes", "no" or "noanswer" and the two differ, F1 is 0;
- post-processing by sub-task (the ``metadata.source`` memgym uses as category): by default each metric
  is the better of the raw output and :func:`parse_output` (the text after "Answer:", else the first
  line); EventQA and ICL score the parsed output only; EventQA adds ``mab_eventqa_recall`` (1 when
  *every* answer element occurs, lower-cased, in the raw output); RULER-NIAH has only
  ``mab_ruler_recall`` (the share of elements found); InfBench ``choice_eng`` tests whether the second
  answer (the option text) occurs in the output;
- ``mab_accuracy``: the sub-task's published metric from the table above (``None`` where the published
  figure needs a judge or the Recsys entity list).

Not reproduced: Recsys matches each recommended title to the nearest entity of ``entity2id.json`` by
edit distance and maps the gold ids to titles; memgym has no entity list, so ``mab_recall_at_5``
compares titles directly and is ``None`` when the gold answers are ids.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from memgym.envs.episode import Question
from memgym.rewards.metrics import normalize_answer

__all__ = [
    "MAB_CHUNK_TOKENS",
    "mab_accuracy_metric",
    "mab_exact_match",
    "mab_f1",
    "mab_scores",
    "mab_substring_match",
    "parse_output",
]

#: MemoryAgentBench's chunk size (``chunk_size`` of every data config), in gpt-4o-mini tokens.
MAB_CHUNK_TOKENS = 4096
_SPECIAL = frozenset({"yes", "no", "noanswer"})
_CLEAN_PARENS = re.compile(r"\([^()]*\)")
_CLEAN_NUMBER = re.compile(r"^(?:\d+[\.\)、]?\s*[\-\—\–]?\s*)?")


def parse_output(text: str, prefix: str = "Answer:") -> str:
    """The answer part of an output: the rest of the line after ``prefix`` (any case), else the first line.

    >>> parse_output("Reasoning...\\nanswer: Paris\\nmore"), parse_output("Paris\\nbecause")
    ('Paris', 'Paris')
    """
    for pattern in (re.compile(f"(?:{prefix})(.*)(?:\n|$)", re.IGNORECASE), re.compile(r"(?:^)(.*)(?:\n|$)")):
        found = pattern.search(text)
        if found:
            return re.sub(f"^{re.escape(prefix)}", "", found[1].strip(), flags=re.IGNORECASE).strip()
    return text  # unreachable: the second pattern always matches


def _flat(answers: Sequence) -> list[str]:
    if isinstance(answers, str):
        return [answers]
    return [str(a) for item in answers for a in (item if isinstance(item, list) else [item])]


def mab_exact_match(prediction: str, answers: Sequence[str]) -> float:
    """Normalised equality, best over answers."""
    pred = normalize_answer(prediction)
    return max(float(pred == normalize_answer(a)) for a in _flat(answers))


def mab_substring_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when a normalised answer is a substring of the normalised prediction.

    >>> mab_substring_match("It was the Eiffel Tower, in Paris.", ["eiffel tower"])
    1.0
    """
    pred = normalize_answer(prediction)
    return max(float(normalize_answer(a) in pred) for a in _flat(answers))


def _f1_one(prediction: str, answer: str) -> float:
    pred, gold = normalize_answer(prediction), normalize_answer(answer)
    if (pred in _SPECIAL or gold in _SPECIAL) and pred != gold:
        return 0.0
    pred_tokens, gold_tokens = pred.split(), gold.split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def mab_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1 with the yes / no / noanswer rule, best over answers.

    >>> mab_f1("yes it is", ["yes"]), mab_f1("yes", ["yes"])  # "yes it is" is not "yes": 0
    (0.0, 1.0)
    """
    return max(_f1_one(prediction, a) for a in _flat(answers))


def _contains_all(prediction: str, answers: Sequence[str]) -> float:
    elements = _flat(answers)
    return sum(e.lower() in prediction.lower() for e in elements) / len(elements)


def _recommendations(text: str) -> list[str]:
    """Recsys' ``extract_recommendation_list`` without the entity matching: the items after "1.", one a line."""
    head, sep, rest = text.partition("1.")
    items = rest.split("\n") if sep else text.replace(",", "\n").split("\n")
    out = []
    for item in items:
        item = _CLEAN_NUMBER.sub("", _CLEAN_PARENS.sub("", item.strip()))
        out.append(re.sub(r"\s+", " ", item).strip())
    return out


def _recall_at(prediction: str, answers: Sequence[str], k: int) -> float | None:
    gold = _flat(answers)
    if all(a.strip().isdigit() for a in gold):
        return None  # entity ids: the official maps them through entity2id.json, which memgym lacks
    top = {r.lower() for r in _recommendations(prediction)[:k]}
    return sum(g.strip().lower() in top for g in gold) / len(gold)


def _standard(prediction: str, answers: Sequence[str]) -> dict[str, float]:
    return {"mab_em": mab_exact_match(prediction, answers), "mab_f1": mab_f1(prediction, answers),
            "mab_substring_em": mab_substring_match(prediction, answers)}


def _better(raw: dict[str, float], parsed: dict[str, float]) -> dict[str, float]:
    return {k: max(v, parsed[k]) for k, v in raw.items()}


def mab_scores(prediction: str, answers: Sequence[str], subtask: str) -> dict[str, float | None]:
    """Every MemoryAgentBench metric of one output, post-processed as the sub-task's branch does.

    Metrics a sub-task does not compute are ``None``.
    """
    name = subtask.lower()
    out: dict[str, float | None] = dict.fromkeys(
        ("mab_em", "mab_f1", "mab_substring_em", "mab_eventqa_recall", "mab_ruler_recall", "mab_recall_at_5")
    )
    parsed = parse_output(prediction)
    if "icl" in name:
        out.update(_standard(parsed, answers))
    elif "eventqa" in name:
        out.update(_standard(parsed, answers))
        out["mab_eventqa_recall"] = float(_contains_all(prediction, answers) == 1)
    elif "choice_eng" in name and ("infbench" in name or "longmemeval" in name):
        scores = _better(_standard(prediction, answers), _standard(parsed, answers))
        flat = _flat(answers)
        hit = float(len(flat) > 1 and flat[1].lower() in prediction.lower())
        out.update(scores, mab_substring_em=hit, mab_em=1.0 if hit else scores["mab_em"])
    elif "ruler_niah" in name:
        out["mab_ruler_recall"] = _contains_all(prediction, answers)
    elif "recsys" in name:
        out["mab_recall_at_5"] = _recall_at(prediction, answers, 5)
    else:
        out.update(_better(_standard(prediction, answers), _standard(parsed, answers)))
    return out


def mab_accuracy_metric(subtask: str) -> str | None:
    """The metric MemoryAgentBench's tables report for a sub-task (``None``: a judge is needed)."""
    name = subtask.lower()
    if any(k in name for k in ("eventqa", "ruler_qa", "factconsolidation", "fact_mh", "fact_sh")):
        return "mab_substring_em"
    if "detective" in name or "icl" in name:
        return "mab_em"
    if "recsys" in name:
        return "mab_recall_at_5"
    if "ruler_niah" in name:
        return "mab_ruler_recall"
    return None  # longmemeval and infbench summaries are judged by an LLM


def _scorer(metric: str):
    def score(prediction: str, q: Question) -> float | None:
        return mab_scores(prediction, q.answers, q.category)[metric]

    score.__name__ = f"score_{metric}"
    return score


score_mab_em = _scorer("mab_em")
score_mab_f1 = _scorer("mab_f1")
score_mab_substring_em = _scorer("mab_substring_em")
score_mab_eventqa_recall = _scorer("mab_eventqa_recall")
score_mab_ruler_recall = _scorer("mab_ruler_recall")
score_mab_recall_at_5 = _scorer("mab_recall_at_5")


def score_mab_accuracy(prediction: str, q: Question) -> float | None:
    """The sub-task's published metric of one output (``None`` where it needs a judge)."""
    metric = mab_accuracy_metric(q.category)
    return None if metric is None else mab_scores(prediction, q.answers, q.category)[metric]
