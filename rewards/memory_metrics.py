"""Model-free memory metrics: what the memories retrieved for a question hold, whoever answers it.

They score the *memory*, not the reader, so they mean the same with any answer agent (or none), and
every environment reports them per answered question in ``info["answers"]`` (keys below); the bench
tables show them and :mod:`memgym.rewards.components` pays them as reward components.

``evidence_recall`` (LoCoMo's retrieval recall)
    The fraction of the question's evidence turn ids found in the provenance of the memories
    retrieved for it; a question without evidence counts 1.0. This is ``recall_acc`` of
    ``eval_question_answering`` in snap-research/locomo ``task_eval/evaluation.py`` (turn-level
    contexts; memgym's memories carry the turn ids they were written from). LoCoMo's
    ``evaluation_stats.py`` divides the sum over questions *with* evidence by all questions, i.e. it
    counts no-evidence questions as 0; memgym follows ``evaluation.py``.
``evidence_all`` (memgym's former ``evidence_recall``)
    1.0 when *every* evidence id is found, else 0.0; ``None`` for a question without evidence.
``answer_support``
    The share of the gold answer's SQuAD-normalised tokens (repeats counted) that occur among the
    normalised tokens of the retrieved memories, the best over accepted answers; ``None`` for an
    abstention question (nothing should support it) or a gold answer without tokens.

>>> evidence_recall(["D1:2", "D3:4"], {"D1:2", "D9:9"}), evidence_all(["D1:2", "D3:4"], {"D1:2"})
(0.5, 0.0)
>>> round(answer_support(["The red car"], ["Ana bought a red bike", "a car"]), 3)
1.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

__all__ = ["MEMORY_METRICS", "answer_support", "evidence_all", "evidence_recall"]

#: The per-question keys these metrics have in ``info["answers"]`` rows and bench records.
MEMORY_METRICS: tuple[str, ...] = ("evidence_recall", "evidence_all", "answer_support")


def evidence_recall(evidence: Sequence[str], found: Collection[str]) -> float:
    """LoCoMo's recall: the share of ``evidence`` ids in ``found``; 1.0 when there is no evidence."""
    if not evidence:
        return 1.0
    return sum(1.0 for e in evidence if e in found) / len(evidence)


def evidence_all(evidence: Sequence[str], found: Collection[str]) -> float | None:
    """1.0 when every evidence id is in ``found``, else 0.0; ``None`` without evidence."""
    if not evidence:
        return None
    return float(all(e in found for e in evidence))


def answer_support(answers: Sequence[str], memory_texts: Sequence[str]) -> float | None:
    """The share of a gold answer's normalised tokens present in the memories, best over ``answers``.

    ``None`` when an accepted answer is ``ABSTAIN_ANSWER`` or no answer has a token.
    """
    from memgym.envs.episode import ABSTAIN_ANSWER
    from memgym.rewards.metrics import normalize_answer

    if any(normalize_answer(a) == normalize_answer(ABSTAIN_ANSWER) for a in answers):
        return None
    present = {w for text in memory_texts for w in normalize_answer(text).split()}
    best: float | None = None
    for answer in answers:
        tokens = Counter(normalize_answer(answer).split())
        if not tokens:
            continue
        share = sum(n for w, n in tokens.items() if w in present) / sum(tokens.values())
        best = share if best is None else max(best, share)
    return best
