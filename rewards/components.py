"""The reward components environments pay, as named functions in one registry.

A component is a pure function of what one step did (:class:`StepOutcome`) returning a float, or
``None`` when it has nothing to say at this step (TRL's convention: ``None`` adds nothing and is left
out of the log). At the end of every step an environment computes every registered component, and
its ``reward_weights`` (names of this registry) weigh them into the reward through a
:class:`~memgym.rewards.compose.RewardComposer`; every computed component is logged in
``info["reward_components"]`` as ``reward/<name>``.

Built in (the defaults each environment weighs are on its class, ``default_reward_weights``):

==========================  =====================================================================
``qa``                      mean QA score (the env's ``qa_metric``) of the questions answered after
                            this step (``reward_timing`` "questions" or "both")
``qa_episode``              at the last step, the mean score of all the episode's questions
                            (``reward_timing`` "end" or "both")
``format_penalty``          -1 for an action that could not be used, else 0
``tool_success``            the share of this step's operations the bank accepted (0 on a parse error)
``tool_success_episode``    the same over the whole episode, at the last step (Mem-α)
``compression``             at the last step, ``1 - memory tokens / tokens read``, clipped to [0, 1]
``oracle_ops``              agreement of the applied operation kinds with the synthetic oracle labels
                            of the step's turns (episodes with labels only)
``qa_pending``              mean QA score, from the memory right after this step, of the questions
                            already determined (all their evidence shown) but not yet asked: what
                            the step did to everything the memory should know by now (dense credit
                            for each action; its questions are answered only when it has a weight)
``evidence_recall``         LoCoMo's evidence recall of the questions answered after this step (the
                            share of evidence turns in the retrieved memories' provenance; model-free)
``evidence_all``            the share of those questions whose evidence turns were all retrieved
``answer_support``          the share of the gold answers' tokens found in the retrieved memories
==========================  =====================================================================

Adding one is one function and one registration, e.g. a penalty on memory size::

    from memgym.rewards.components import register_reward

    @register_reward("memory_size")
    def memory_size(step):
        return -step.memory_tokens / 1000 if step.final else None

and then ``reward_weights={"memory_size": 0.1}``. A component must not change anything, and should
return ``None`` where it does not apply (it runs in every environment).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from memgym.envs.episode import OpLabel
from memgym.envs.operations import OpResult
from memgym.registry import Registry

__all__ = ["REWARDS", "RewardFn", "StepOutcome", "compute_components", "register_reward"]


@dataclass(frozen=True)
class StepOutcome:
    """What one environment step did: everything a reward component may read."""

    results: tuple[OpResult, ...]
    """The bank's result for each operation tried (empty when the action was refused)."""
    error: Any
    """Why the action could not be used (a :class:`~memgym.envs.action_parser.ParseError`), or ``None``."""
    answers: tuple[dict, ...] = ()
    """The questions answered after this step, scored: the rows of ``info["answers"]``."""
    labels: tuple[OpLabel, ...] | None = None
    """The oracle labels of the step's turns; ``None`` when the episode has no labels."""
    final: bool = False
    """Whether this is the last step of the episode."""
    episode_scores: tuple[float, ...] = ()
    """The QA scores of every question answered so far in the episode (this step's included)."""
    op_counts: Mapping[str, int] = field(default_factory=dict)
    """Operations over the episode so far: accepted ones by kind, ``failed``, ``invalid_action``."""
    memory_tokens: int = 0
    """The bank's size after the step."""
    tokens_read: int = 0
    """Tokens of the units the episode has shown so far, this one included."""
    reward_timing: str = "questions"
    """When QA is paid: ``"questions"``, ``"end"`` or ``"both"``."""
    pending_scores: tuple[float, ...] = ()
    """QA scores of the determined, not yet asked questions, answered after this step (``qa_pending``)."""
    env: Any = None
    """The environment, read-only, for components that need more (None in unit tests)."""


#: A reward component: a step's outcome in, a number (or ``None``: not this step) out.
RewardFn = Callable[[StepOutcome], "float | None"]

#: Every reward component by name; ``reward_weights`` may name only these.
REWARDS: Registry[RewardFn] = Registry("reward component")


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """``@register_reward("name")`` adds a component to :data:`REWARDS` where it is defined."""
    return REWARDS.decorator(name)


def compute_components(step: StepOutcome) -> dict[str, float | None]:
    """Every registered component of ``step``, by name."""
    return {name: REWARDS.get(name)(step) for name in REWARDS}


def _mean(values: tuple[float, ...]) -> float:
    return float(sum(values) / len(values))


@register_reward("qa")
def qa(step: StepOutcome) -> float | None:
    """Mean score of the questions answered after this step (timing "questions" or "both")."""
    if not step.answers or step.reward_timing not in ("questions", "both"):
        return None
    return _mean(tuple(float(row["score"]) for row in step.answers))


@register_reward("qa_episode")
def qa_episode(step: StepOutcome) -> float | None:
    """At the last step, the mean score of all the episode's questions (timing "end" or "both")."""
    if not step.final or not step.episode_scores or step.reward_timing not in ("end", "both"):
        return None
    return _mean(step.episode_scores)


@register_reward("format_penalty")
def format_penalty(step: StepOutcome) -> float:
    """-1 for an action that could not be used, else 0."""
    from memgym.rewards.shaping import format_validity

    return format_validity(step.error is None) - 1.0


@register_reward("tool_success")
def tool_success(step: StepOutcome) -> float:
    """The share of this step's operations the bank accepted (0 when the action was refused)."""
    from memgym.rewards.shaping import tool_call_success_rate

    return 0.0 if step.error is not None else tool_call_success_rate(step.results)


@register_reward("tool_success_episode")
def tool_success_episode(step: StepOutcome) -> float | None:
    """At the last step: 1 - (failed + refused actions) / operations tried, over the episode (Mem-α)."""
    if not step.final:
        return None
    tried = sum(step.op_counts.values())
    bad = step.op_counts.get("failed", 0) + step.op_counts.get("invalid_action", 0)
    return 1.0 if tried == 0 else 1.0 - bad / tried


@register_reward("compression")
def compression(step: StepOutcome) -> float | None:
    """At the last step, Mem-α's ``1 - memory tokens / tokens read``, clipped to [0, 1]."""
    from memgym.rewards.shaping import compression as ratio

    return ratio(step.memory_tokens, step.tokens_read) if step.final else None


@register_reward("oracle_ops")
def oracle_ops(step: StepOutcome) -> float | None:
    """Agreement of the applied operation kinds with the step's oracle labels (labelled episodes)."""
    from memgym.rewards.shaping import oracle_op_agreement

    if step.labels is None:
        return None
    return oracle_op_agreement([r for r in step.results if r.ok], step.labels)


@register_reward("qa_pending")
def qa_pending(step: StepOutcome) -> float | None:
    """Mean score of the determined, not yet asked questions, answered from the memory after this step."""
    return _mean(step.pending_scores) if step.pending_scores else None


# ----------------------------------------------------------------------------- memory metrics (issue 13)
# Model-free measures of the memories retrieved for each answered question (rewards/memory_metrics.py),
# read from this step's ``info["answers"]`` rows; ``None`` when no answered question has a value.
def _row_mean(step: StepOutcome, key: str) -> float | None:
    values = [float(row[key]) for row in step.answers if row.get(key) is not None]
    return _mean(tuple(values)) if values else None


@register_reward("evidence_recall")
def evidence_recall(step: StepOutcome) -> float | None:
    """LoCoMo's evidence recall of this step's answered questions: the mean share of evidence turns found."""
    return _row_mean(step, "evidence_recall")


@register_reward("evidence_all")
def evidence_all(step: StepOutcome) -> float | None:
    """The share of this step's answered questions (with evidence) whose evidence turns were all found."""
    return _row_mean(step, "evidence_all")


@register_reward("answer_support")
def answer_support(step: StepOutcome) -> float | None:
    """The mean share of the gold answers' tokens present in the memories retrieved for the questions."""
    return _row_mean(step, "answer_support")


# The components computed from annotations only (evidence kept, memory cost) live in their own module.
from memgym.rewards import evidence as _evidence  # noqa: E402,F401  (registers its components)
