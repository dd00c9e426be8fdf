"""Scoring the answers given at a step: one row per question, and the evidence the agent was shown."""

from __future__ import annotations

from collections.abc import Sequence

from memgym.envs.episode import Question
from memgym.envs.memory_bank import MemoryEntry


def score_step_answers(
    questions: Sequence[Question], answers: Sequence[str], memories: Sequence[Sequence[MemoryEntry]], metric: str
) -> tuple[list[dict], float | None]:
    """``info["answers"]`` rows for a step's answers (scored with ``metric``), and its evidence recall.

    Evidence recall is the share of the questions with evidence whose evidence turns are all in the
    provenance of the memories the answer agent read (``None`` when no question has evidence).
    """
    from memgym.rewards.metrics import score_answers

    if not questions:
        return [], None
    scored = score_answers(list(answers), list(questions), metrics=(metric,))
    rows, covered = [], []
    for q, pred, row, mems in zip(questions, answers, scored, memories, strict=True):
        score = float(row[metric])
        rows.append({"question_id": q.id, "question": q.question, "category": q.category, "prediction": pred,
                     "gold": list(q.answers), "score": score, "correct": score >= 1.0})
        if q.evidence:
            provenance = {t for m in mems for t in m.provenance}
            covered.append(float(set(q.evidence) <= provenance))
    return rows, (sum(covered) / len(covered) if covered else None)
