"""GRPO over environment trajectories.

Each training step rolls out G trajectories per episode (or per branched state), scores each trajectory
with the environment's composed reward (its steps' rewards summed), normalises the returns within the group
and copies that advantage to every step and every completion token. The loss is TRL's clipped surrogate
with its ``loss_type`` reductions and the optional k3 KL to the reference (``train.beta``).
See :mod:`memgym.trainers.rollout` for why this is a layer beside TRL's ``GRPOTrainer`` rather than one of
its hooks.

>>> from memgym.trainers.config import load_config
>>> cfg = load_config("configs/quickstart.yaml", ["train.max_steps=1"])  # doctest: +SKIP
>>> GRPOTrainer(cfg).train()  # doctest: +SKIP
"""

from __future__ import annotations

import torch

from memgym.trainers.advantages import group_advantages
from memgym.trainers.base import RLTrainer, RolloutBatch
from memgym.trainers.batching import StepBatch, completion_logps
from memgym.trainers.losses import clipped_policy_loss
from memgym.trainers.rollout import Trajectory


class GRPOTrainer(RLTrainer):
    """Group-relative policy optimisation of a memory-manager LLM (config section ``grpo``)."""

    algorithm = "grpo"

    def select_trajectories(self, trajectories: list[Trajectory]) -> tuple[list[Trajectory], dict[str, float]]:
        """With ``grpo.drop_zero_std_groups``, leave out of the update the groups whose returns are all
        equal: their advantage is 0, so they carry no gradient but cost a forward and backward pass
        (DAPO's dynamic sampling, without re-sampling)."""
        returns: dict[int, list[float]] = {}
        for t in trajectories:
            returns.setdefault(t.group, []).append(t.total_reward)
        flat = {g for g, r in returns.items() if len(r) < 2 or max(r) - min(r) < 1e-8}
        metrics = {"frac_reward_zero_std": len(flat) / max(len(returns), 1)}
        if not self.config.grpo.drop_zero_std_groups:
            return trajectories, metrics
        kept = [t for t in trajectories if t.group not in flat]
        return kept, {**metrics, "train/kept_fraction": len(kept) / max(len(trajectories), 1)}

    def prepare(self, rb: RolloutBatch) -> dict[str, float]:
        returns = torch.tensor([t.total_reward for t in rb.trajectories], dtype=torch.float32)
        groups = torch.tensor([t.group for t in rb.trajectories])
        advantages = group_advantages(returns, groups, self.config.grpo.scale_rewards)
        rb.targets["advantages"] = advantages[rb.step_traj]
        return {"advantage_abs_mean": float(advantages.abs().mean())}

    def micro_loss(
        self, rb: RolloutBatch, rows: torch.Tensor, sub: StepBatch, minibatch: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, targets = self.config, rb.targets
        logps, _ = completion_logps(self.model, sub, cfg.generation.temperature)
        C = logps.shape[1]
        mask = rb.loss_mask[rows][:, :C].to(logps.dtype)
        old = targets["old_logps"][rows][:, :C] if "old_logps" in targets else logps.detach()
        ref = targets["ref_logps"][rows][:, :C] if "ref_logps" in targets else None
        iw = targets["importance_weights"][rows][:, :C] if "importance_weights" in targets else None
        token_level = cfg.grpo.loss_type in ("dapo", "bnpo")
        num_tokens = float(rb.loss_mask[minibatch].sum()) if token_level else None
        out = clipped_policy_loss(
            logps,
            old,
            targets["advantages"][rows],
            mask,
            clip_low=cfg.grpo.epsilon,
            clip_high=cfg.grpo.clip_high,
            loss_type=cfg.grpo.loss_type,
            max_new_tokens=cfg.generation.max_new_tokens,
            num_tokens=num_tokens,
            ref_logps=ref,
            beta=cfg.train.beta,
            importance_weights=iw,
        )
        share = float(mask.sum()) / max(num_tokens or 0.0, 1.0) if token_level else len(rows) / len(minibatch)
        loss = out.loss if token_level else out.loss * share
        value = out.loss.item()
        stats = {
            "loss": value / max(share, 1e-9) if token_level else value,
            "clip_ratio": out.clip_fraction,
            "approx_kl": out.approx_kl,
        }
        if out.kl_ref is not None:
            stats["kl"] = out.kl_ref
        return loss, stats
