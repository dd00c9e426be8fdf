"""The PPO section of a training config: value head, GAE over environment steps, clipped losses."""

from __future__ import annotations

from dataclasses import dataclass

from memgym.errors import ConfigError


@dataclass
class PPOConfig:
    """PPO (arXiv 1707.06347) for LLM memory managers with a scalar value head on the language model.

    One environment step is one (prompt, completion) pair; its value is read at the last prompt token, and
    GAE runs over the steps of a trajectory. The step's advantage applies to every token of its completion.
    """

    gamma: float = 1.0
    """Discount between environment steps (1.0: memory episodes are short and the reward comes late)."""
    lam: float = 0.95
    """GAE lambda: 1.0 gives Monte-Carlo returns minus the value, 0.0 one-step TD errors."""
    cliprange: float = 0.2
    """Clip range of the policy probability ratio."""
    cliprange_value: float = 0.2
    """Clip range of the value prediction around its value at rollout time."""
    vf_coef: float = 0.5
    """Weight of the value loss in the total loss."""
    value_learning_rate: float = 1e-4
    """Learning rate of the value head (a fresh linear layer learns faster than the language model)."""
    whiten_advantages: bool = True
    """Normalise advantages to zero mean and unit std over the batch."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"ppo.gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 <= self.lam <= 1.0:
            raise ConfigError(f"ppo.lam must be in [0, 1], got {self.lam}")
        for name in ("cliprange", "cliprange_value"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"ppo.{name} must be positive, got {getattr(self, name)}")
