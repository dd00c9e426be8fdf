"""When a question is answered: the step after which each question of an episode is asked."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from memgym.envs.episode import Episode, Question

if TYPE_CHECKING:
    from memgym.envs.units import Unit


def question_points(episode: Episode, units: Sequence[Unit]) -> dict[int, list[Question]]:
    """Map each unit index to the questions answered right after its step.

    A question asked after turn ``t`` is answered after the first unit that reaches ``t`` (for chunks:
    the chunk containing ``t``); a question asked at the end, or after a turn no unit reaches, after
    the last unit.
    """
    position = {t.id: i for i, t in enumerate(episode.turns())}
    reach = [max((position.get(t.id, -1) for t in u.turns), default=-1) for u in units]
    running = np.maximum.accumulate(reach).tolist() if reach else []
    points: dict[int, list[Question]] = {}
    for q in episode.questions:
        at = len(units) - 1
        if q.asked_after is not None and q.asked_after in position:
            i = bisect.bisect_left(running, position[q.asked_after])
            at = min(i, len(units) - 1)
        points.setdefault(units[at].index, []).append(q)
    return points


def tied_questions(episode: Episode) -> dict[str, list[Question]]:
    """Map a turn id to the questions whose evidence it completes (their latest evidence turn).

    After that turn every fact such a question needs has been stated, so the memory right after the
    step can answer it: these are the questions that score a Memory-R1 single-step tuple.
    """
    position = {t.id: i for i, t in enumerate(episode.turns())}
    tied: dict[str, list[Question]] = {}
    for q in episode.questions:
        known = [e for e in q.evidence if e in position]
        if known:
            tied.setdefault(max(known, key=position.__getitem__), []).append(q)
    return tied
