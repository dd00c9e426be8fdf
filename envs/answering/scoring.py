"""Scoring the answers given at a step: one row per question, with the memory metrics of what it was shown."""

from __future__ import annotations

from collections.abc import Sequence

from memgym.envs.episode import Question
from memgym.envs.memory_bank import MemoryEntry


def score_step_answers(
    questions: Sequence[Question], answers: Sequence[str], memories: Sequence[Sequence[MemoryEntry]], metric: str
) -> tuple[list[dict], float | None]:
    """``info["answers"]`` rows for a step's answers (scored with ``metric``), and its evidence coverage.

    Each row also holds the model-free memory metrics of the memories the answer agent read
    (:mod:`memgym.rewards.memory_metrics`): ``evidence_recall`` (LoCoMo's fractional recall; 1.0 without
    evidence), ``evidence_all`` (all evidence found; ``None`` without evidence) and ``answer_support``.

    The second value is the share of the questions with evidence whose evidence turns are all in the
    provenance of those memories (the mean ``evidence_all``; ``None`` when no question has evidence).
    """
    from memgym.rewards.memory_metrics import answer_support, evidence_all, evidence_recall
    from memgym.rewards.metrics import score_answers

    if not questions:
        return [], None
    scored = score_answers(list(answers), list(questions), metrics=(metric,))
    rows, covered = [], []
    for q, pred, row, mems in zip(questions, answers, scored, memories, strict=True):
        score = float(row[metric] or 0.0)  # a metric that does not apply to the question pays nothing
        provenance = {t for m in mems for t in m.provenance}
        everything = evidence_all(q.evidence, provenance)
        rows.append({"question_id": q.id, "question": q.question, "category": q.category, "prediction": pred,
                     "gold": list(q.answers), "score": score, "correct": score >= 1.0,
                     "evidence_recall": evidence_recall(q.evidence, provenance), "evidence_all": everything,
                     "answer_support": answer_support(q.answers, [m.text for m in mems])})
        if everything is not None:
            covered.append(everything)
    return rows, (sum(covered) / len(covered) if covered else None)
