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


def pending_points(episode: Episode, units: Sequence[Unit]) -> dict[int, list[Question]]:
    """Map each unit index to the questions *determined but not yet asked* right after its step.

    A question is determined once every turn of its evidence has been shown (its answer cannot change
    any more before it is asked: a change would be evidence too), and pending until it is asked. Scored
    from the memory right after a step, these questions measure what the step's action did to everything
    the memory should already know: the ``qa_pending`` reward component. Questions without evidence are
    never determined.
    """
    position = {t.id: i for i, t in enumerate(episode.turns())}
    spans = []
    for q in episode.questions:
        known = [position[e] for e in q.evidence if e in position]
        if not known:
            continue
        asked = position.get(q.asked_after, len(position)) if q.asked_after is not None else len(position)
        spans.append((max(known), asked, q))
    reach = -1
    out: dict[int, list[Question]] = {}
    for u in units:
        reach = max([reach, *(position.get(t.id, -1) for t in u.turns)])
        out[u.index] = [q for ready, asked, q in spans if ready <= reach <= asked]
    return out
