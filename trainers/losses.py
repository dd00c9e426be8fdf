"""Per-token policy losses (the clipped surrogate as TRL's GRPOTrainer writes it), KL and value losses.

TRL computes these inside ``GRPOTrainer._compute_loss``, a method bound to its trainer state, so the
formulas are restated here as small functions over tensors; the names and reductions follow TRL's
``loss_type`` so results compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PolicyLossOutput:
    loss: torch.Tensor
    """The scalar to back-propagate (already reduced)."""
    clip_fraction: float
    """Fraction of completion tokens whose ratio was clipped."""
    approx_kl: float
    """Mean of ``old - new`` log-probs over completion tokens (how far the policy moved)."""
    kl_ref: float | None
    """Mean KL to the reference over completion tokens, when ``beta > 0``."""


def k3_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || ref) with Schulman's unbiased, non-negative k3 estimator (TRL's choice)."""
    diff = ref_logps - logps
    return torch.exp(diff) - diff - 1.0


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def reduce_token_loss(
    per_token: torch.Tensor, mask: torch.Tensor, loss_type: str, max_new_tokens: int, num_tokens: float | None
) -> torch.Tensor:
    """Reduce ``(B, C)`` token losses to a scalar the way TRL's ``loss_type`` does.

    ``num_tokens`` is the number of loss tokens in the whole minibatch when the rows are split into
    micro-batches, so token-level reductions (``dapo``) stay exact under gradient accumulation; ``grpo`` and
    ``dr_grpo`` are averaged by the caller over micro-batches in proportion to their rows.
    """
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "dr_grpo":
        return (per_token * mask).sum() / (per_token.shape[0] * max_new_tokens)
    if loss_type in ("bnpo", "dapo"):
        denominator = mask.sum().clamp(min=1.0) if num_tokens is None else max(num_tokens, 1.0)
        return (per_token * mask).sum() / denominator
    raise ValueError(f"unknown loss_type {loss_type!r}; use grpo, bnpo, dr_grpo or dapo")


def clipped_policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_low: float,
    clip_high: float,
    loss_type: str = "dapo",
    max_new_tokens: int = 1,
    num_tokens: float | None = None,
    ref_logps: torch.Tensor | None = None,
    beta: float = 0.0,
    importance_weights: torch.Tensor | None = None,
) -> PolicyLossOutput:
    """PPO/GRPO clipped surrogate: ``-min(r A, clip(r, 1 - low, 1 + high) A)`` per token, plus ``beta`` KL.

    Args:
        logps: current log-probs of the sampled completion tokens, ``(B, C)``.
        old_logps: log-probs at rollout time (same policy before this update), ``(B, C)``.
        advantages: one per row ``(B,)`` (the step's advantage) or per token ``(B, C)``.
        mask: 1 on completion tokens, 0 on padding (and on truncated completions if masked).
        importance_weights: optional ``(B, C)`` correction for a sampler that differs from the trainer
            (vLLM), multiplied into the token losses as TRL does.
    """
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    mask = mask.to(logps.dtype)
    log_ratio = logps - old_logps
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    if importance_weights is not None:
        per_token = per_token * importance_weights
    kl_ref = None
    if beta != 0.0 and ref_logps is not None:
        kl = k3_kl(logps, ref_logps)
        per_token = per_token + beta * kl
        kl_ref = float(masked_mean(kl.detach(), mask))
    loss = reduce_token_loss(per_token, mask, loss_type, max_new_tokens, num_tokens)
    with torch.no_grad():
        is_clipped = ((ratio < 1.0 - clip_low) & (advantages < 0)) | (
            (ratio > 1.0 + clip_high) & (advantages > 0)
        )
        clip_fraction = float(masked_mean(is_clipped.to(mask.dtype), mask))
        approx_kl = float(masked_mean(-log_ratio, mask))
    return PolicyLossOutput(loss=loss, clip_fraction=clip_fraction, approx_kl=approx_kl, kl_ref=kl_ref)


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, cliprange_value: float
) -> tuple[torch.Tensor, float]:
    """PPO's clipped value loss ``0.5 * max((V - R)^2, (clip(V, V_old +- c) - R)^2)``, mean over rows.

    Returns the loss and the fraction of rows where the clipped term was the larger one.
    """
    clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (clipped - returns) ** 2
    loss = 0.5 * torch.max(loss_unclipped, loss_clipped).mean()
    fraction = float((loss_clipped > loss_unclipped).float().mean())
    return loss, fraction
