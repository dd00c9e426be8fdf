"""Reward components of the consolidation environment (``memgym/MemoryConsolidate-v0``).

Registered in :data:`memgym.rewards.components.REWARDS` when this module is imported (the environment's
module imports it). Every environment computes every registered component at each step; these read the
measurements the consolidation environment leaves on itself for the step being finished
(``env.round_report``, a :class:`memgym.envs.consolidate.RoundReport`) and return ``None`` everywhere
else, so other environments neither pay nor log them.

==================================  ==================================================================
``consolidation_faithfulness``      does each consolidated entry still support the answers its sources
                                    supported? Over the consolidations of the step and the questions
                                    answerable so far whose evidence is in the sources' provenance:
                                    ``sum min(support(new), support(sources)) / sum support(sources)``,
                                    with ``support`` the model-free answer support
                                    (:func:`memgym.rewards.memory_metrics.answer_support`: the share of
                                    the gold answer's tokens in the texts). ``None`` without a
                                    consolidation whose sources support any answer.
``consolidation_qa_faithfulness``   the same with the answer agent's QA score (the env's ``qa_metric``)
                                    from the new entry alone vs the sources alone (catches a stale value
                                    made to look current, which answer support cannot); measured only
                                    with ``faithfulness_probes=True`` or a weight on it.
``memory_utility``                  QA from the memory after the round, over every question answerable so
                                    far (the round's point of the utility curve).
``memory_utility_gain``             the same minus the no-memory score on those questions.
==================================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memgym.rewards.components import StepOutcome, register_reward

__all__ = [
    "consolidation_faithfulness",
    "consolidation_qa_faithfulness",
    "kept_share",
    "memory_utility",
    "memory_utility_gain",
]


def kept_share(items: Sequence[tuple[Sequence[str], Sequence[Any], Any]]) -> float | None:
    """``sum min(support(new), support(sources)) / sum support(sources)`` over ``(answers, source entries,
    new entry)`` triples (entries with a ``text``); ``None`` when the sources support nothing.

    Example:
        >>> from types import SimpleNamespace as E
        >>> kept_share([(["Oslo"], [E(text="Ana moved to Oslo.")], E(text="Ana lives somewhere."))])
        0.0
    """
    from memgym.rewards.memory_metrics import answer_support

    kept = total = 0.0
    for answers, sources, new in items:
        before = answer_support(answers, [e.text for e in sources])
        if not before:
            continue
        after = answer_support(answers, [new.text]) or 0.0
        kept += min(after, before)
        total += before
    return None if total == 0 else kept / total


def _report(step: StepOutcome) -> Any:
    return getattr(step.env, "round_report", None)


@register_reward("consolidation_faithfulness")
def consolidation_faithfulness(step: StepOutcome) -> float | None:
    """The answer support the step's consolidations kept (consolidation environment only)."""
    report = _report(step)
    return None if report is None else report.faithfulness


@register_reward("consolidation_qa_faithfulness")
def consolidation_qa_faithfulness(step: StepOutcome) -> float | None:
    """The QA score the step's consolidations kept, by the answer agent (with ``faithfulness_probes``)."""
    report = _report(step)
    return None if report is None else report.faithfulness_qa


@register_reward("memory_utility")
def memory_utility(step: StepOutcome) -> float | None:
    """QA over every question answerable so far, from the memory after this round."""
    report = _report(step)
    return None if report is None else report.utility


@register_reward("memory_utility_gain")
def memory_utility_gain(step: StepOutcome) -> float | None:
    """:func:`memory_utility` minus the no-memory score on the same questions."""
    report = _report(step)
    if report is None or report.utility is None or report.utility_no_memory is None:
        return None
    return report.utility - report.utility_no_memory
