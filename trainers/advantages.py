"""Advantages over environment trajectories: GRPO's group-relative returns and PPO's GAE.

Both work per environment *step*, not per token: one step is one (prompt, completion) pair, and the step's
advantage applies to every token of its completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch


def group_advantages(
    returns: torch.Tensor,
    group_ids: Sequence[int] | torch.Tensor,
    scale: Literal["group", "batch", "none"] = "group",
    eps: float = 1e-4,
) -> torch.Tensor:
    """GRPO advantage of each trajectory: ``(R - mean(group)) / std(group)``.

    Args:
        returns: one return per trajectory, shape ``(N,)``.
        group_ids: the group of each trajectory (trajectories of one group started from the same episode
            or state). Groups may have different sizes (a failed rollout is dropped, not padded).
        scale: divide by the group's std (``group``, GRPO), the whole batch's std (``batch``, as Dr. GRPO
            suggests), or not at all (``none``).
        eps: added to the std before dividing.

    When every trajectory of a group has the same return (std = 0), ``R - mean`` is exactly 0, so the
    advantage is 0 whatever the scale: the group carries no learning signal and moves nothing. ``eps``
    only keeps the division finite for near-equal returns. A group of one trajectory also gets 0.
    NaN returns (unscorable trajectories) are left out of the statistics and get advantage 0.
    """
    returns = returns.to(torch.float64)
    gid = torch.as_tensor(group_ids, dtype=torch.long)
    if gid.shape != returns.shape:
        raise ValueError(f"group_ids has shape {tuple(gid.shape)}, returns {tuple(returns.shape)}")
    valid = ~torch.isnan(returns)
    advantages = torch.zeros_like(returns)
    for g in torch.unique(gid):
        members = (gid == g) & valid
        r = returns[members]
        if r.numel() < 2:
            continue
        centred = r - r.mean()
        if scale == "group":
            centred = centred / (r.std(unbiased=True) + eps)
        advantages[members] = centred
    if scale == "batch":
        std = returns[valid].std(unbiased=True) if int(valid.sum()) > 1 else torch.tensor(0.0)
        advantages = advantages / (std + eps)
    return advantages.to(torch.float32)


def broadcast_to_steps(traj_values: torch.Tensor, step_traj: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Copy each trajectory's value to each of its steps (``step_traj[i]`` = trajectory of step ``i``)."""
    return traj_values[torch.as_tensor(step_traj, dtype=torch.long)]


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 0.95,
    last_value: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the steps of one trajectory (arXiv 1506.02438).

    Args:
        rewards: reward after each step, shape ``(T,)``.
        values: value of the state each step started from, shape ``(T,)``.
        gamma: discount between steps.
        lam: GAE lambda.
        last_value: value after the last step (0 when the episode terminated, the critic's estimate when
            it was truncated).

    Returns:
        ``(advantages, returns)`` with ``returns = advantages + values`` (the value targets).
    """
    T = rewards.shape[0]
    advantages = torch.zeros(T, dtype=torch.float32)
    next_value, running = float(last_value), 0.0
    for t in reversed(range(T)):
        delta = float(rewards[t]) + gamma * next_value - float(values[t])
        running = delta + gamma * lam * running
        advantages[t] = running
        next_value = float(values[t])
    return advantages, advantages + values.to(torch.float32)


def whiten(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit std (unchanged when there is a single value)."""
    if x.numel() < 2:
        return x - x.mean() if x.numel() else x
    return (x - x.mean()) / (x.std() + eps)
