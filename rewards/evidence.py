"""Reward components from a conversation's own annotations, needing no model: evidence kept, memory cost.

Real conversations carry no operation labels, but LoCoMo (and memgym's synthetic data) annotate each
question with its *evidence*: the turns that state what it needs. The bank keeps the turns each memory
was written from (its provenance), so without any answer agent an environment can tell which evidence
a memory holds:

``evidence_kept``
    How many of the evidence turns shown so far (turns some question cites as evidence) the bank's
    memories hold after the step. A count, so between G actions from one state (``env.group_by: state``)
    the difference is exactly the evidence each action kept (+1) or lost (-1); summed over a whole
    episode it would favour keeping early, so pay it on state groups.
``memory_cost``
    Minus the memories held: with a weight ``w``, each memory costs ``w``, so storing everything is not
    free and a policy must choose within the budget (``w = 0.5``: an evidence turn is worth keeping, a
    non-evidence turn is not).

What they cannot see: a memory can hold an evidence turn and still mislead an answer agent (a stale
value, a wrong attribution), and a paraphrase that drops the detail still counts as kept. Pair them with
an answerer's QA where one is available. ``evidence_kept`` is ``None`` before any evidence turn has been
shown; ``memory_cost`` applies to any bank, with or without a capacity limit.
"""

from __future__ import annotations

from memgym.rewards.components import StepOutcome, register_reward


def _shown_evidence(env) -> set[str]:
    p = env._progress
    if p is None:
        return set()
    episode = env.episodes[p.episode_index]
    position = {t.id: i for i, t in enumerate(episode.turns())}
    done = p.units[: p.cursor] if p.cursor < len(p.units) else p.units
    reach = max((position.get(t.id, -1) for u in done for t in u.turns), default=-1)
    return {e for q in episode.questions for e in q.evidence if position.get(e, reach + 1) <= reach}


@register_reward("evidence_kept")
def evidence_kept(step: StepOutcome) -> float | None:
    """How many of the evidence turns shown so far the bank's memories hold (``None`` before any)."""
    env = step.env
    if env is None or not hasattr(env, "bank") or not hasattr(env, "episodes"):
        return None
    shown = _shown_evidence(env)
    if not shown:
        return None
    held = {t for entry in env.bank.entries() for t in entry.provenance}
    return float(len(shown & held))


@register_reward("memory_cost")
def memory_cost(step: StepOutcome) -> float | None:
    """Minus the number of memories held after the step."""
    bank = getattr(step.env, "bank", None)
    return None if bank is None else -float(len(bank))
