"""The GRPO section of a training config: how group-relative advantages and the clipped loss are formed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from memgym.errors import ConfigError


@dataclass
class GRPOConfig:
    """GRPO (DeepSeekMath, arXiv 2402.03300) over environment trajectories.

    The advantage of a trajectory is its return normalised within its group of G rollouts, copied to every
    step (and every completion token) of the trajectory; the per-token loss is TRL's clipped surrogate.
    """

    epsilon: float = 0.2
    """Lower clip range of the probability ratio: ratios below ``1 - epsilon`` stop pushing down."""
    epsilon_high: float | None = None
    """Upper clip range (DAPO's clip-higher); ``None`` uses ``epsilon``."""
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"] = "dapo"
    """How per-token losses are averaged, as in TRL: ``grpo`` per sequence then over sequences; ``bnpo`` and
    ``dapo`` over all completion tokens of the batch; ``dr_grpo`` divided by rows x ``max_new_tokens``."""
    scale_rewards: Literal["group", "batch", "none"] = "group"
    """Divide ``R - mean(group)`` by the group's std (``group``), the batch's std (``batch``) or not at all."""
    mask_truncated_completions: bool = False
    """Drop from the loss the completions that hit ``max_new_tokens`` without finishing (DAPO)."""
    drop_zero_std_groups: bool = False
    """Leave out of the update the groups whose G returns are all equal (no gradient, full cost); the
    step is skipped when every group is flat (DAPO's dynamic sampling without re-sampling)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.epsilon < 1.0:
            raise ConfigError(f"grpo.epsilon must be in (0, 1), got {self.epsilon}")
        if self.epsilon_high is not None and self.epsilon_high <= 0.0:
            raise ConfigError(f"grpo.epsilon_high must be positive, got {self.epsilon_high}")

    @property
    def clip_high(self) -> float:
        return self.epsilon if self.epsilon_high is None else self.epsilon_high
