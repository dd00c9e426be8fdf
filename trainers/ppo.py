"""PPO for LLM memory managers: a value head on the policy, GAE over environment steps, clipped losses.

TRL removed its ``PPOTrainer`` in 1.13 (``trl.experimental`` has none either), and the maintained PPO
stacks for LLMs with custom environment rewards (verl, OpenRLHF) need GPUs, Ray clusters and their own
rollout engines. So PPO is written here on the same rollout layer as GRPO
(:class:`~memgym.trainers.base.RLTrainer`): one environment step is one (prompt, completion) pair; the
critic reads the last prompt token's hidden state, so ``V(s_t)`` values the observation the policy acted
on; GAE runs over the steps of each trajectory with the environment's per-step rewards; the step's
advantage applies to every token of its completion. The same config runs GRPO or PPO (``algorithm``).
"""

from __future__ import annotations

import torch

from memgym.trainers.advantages import gae, whiten
from memgym.trainers.base import RLTrainer, RolloutBatch
from memgym.trainers.batching import StepBatch, completion_logps
from memgym.trainers.losses import clipped_policy_loss, clipped_value_loss
from memgym.trainers.modeling import ValueHead, hidden_size


class PPOTrainer(RLTrainer):
    """Proximal policy optimisation of a memory-manager LLM with a scalar value head (section ``ppo``)."""

    algorithm = "ppo"

    def setup(self) -> None:
        self.value_head = ValueHead(hidden_size(self.model))

    def extra_modules(self) -> dict[str, torch.nn.Module]:
        return {"value_head": self.value_head}

    def param_groups(self) -> list[dict]:
        groups = super().param_groups()
        groups.append(
            {"params": list(self.value_head.parameters()), "lr": self.config.ppo.value_learning_rate}
        )
        return groups

    def prepare(self, rb: RolloutBatch) -> dict[str, float]:
        """Old log-probs and values in one pass, then GAE per trajectory (0 after the last step)."""
        ppo = self.config.ppo
        old_logps, hidden = self.score(self.model, rb, return_hidden=True)
        with torch.no_grad():
            values = self.value_head(hidden)
        advantages = torch.zeros(len(rb.steps))
        returns = torch.zeros(len(rb.steps))
        for i, traj in enumerate(rb.trajectories):
            idx = (rb.step_traj == i).nonzero().squeeze(-1)
            if idx.numel() == 0:
                continue
            rewards = torch.tensor([s.reward for s in traj.steps], dtype=torch.float32)
            # A trajectory cut by max_episode_steps bootstraps from 0 too: its next state was never scored.
            adv, ret = gae(rewards, values[idx], ppo.gamma, ppo.lam, last_value=0.0)
            advantages[idx], returns[idx] = adv, ret
        rb.targets.update(
            {
                "old_logps": old_logps,
                "old_values": values,
                "returns": returns,
                "advantages": whiten(advantages) if ppo.whiten_advantages else advantages,
            }
        )
        explained = 1.0 - float((returns - values).var() / returns.var().clamp(min=1e-8))
        return {
            "value_mean": float(values.mean()),
            "returns_mean": float(returns.mean()),
            "explained_variance": explained,
        }

    def micro_loss(
        self, rb: RolloutBatch, rows: torch.Tensor, sub: StepBatch, minibatch: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, targets = self.config, rb.targets
        logps, hidden = completion_logps(self.model, sub, cfg.generation.temperature, return_hidden=True)
        C = logps.shape[1]
        mask = rb.loss_mask[rows][:, :C].to(logps.dtype)
        num_tokens = float(rb.loss_mask[minibatch].sum())
        ref = targets["ref_logps"][rows][:, :C] if "ref_logps" in targets else None
        iw = targets["importance_weights"][rows][:, :C] if "importance_weights" in targets else None
        pg = clipped_policy_loss(
            logps,
            targets["old_logps"][rows][:, :C],
            targets["advantages"][rows],
            mask,
            clip_low=cfg.ppo.cliprange,
            clip_high=cfg.ppo.cliprange,
            loss_type="dapo",
            num_tokens=num_tokens,
            ref_logps=ref,
            beta=cfg.train.beta,
            importance_weights=iw,
        )
        values = self.value_head(hidden)
        vloss, vclip = clipped_value_loss(
            values, targets["old_values"][rows], targets["returns"][rows], cfg.ppo.cliprange_value
        )
        share = len(rows) / len(minibatch)
        loss = pg.loss + cfg.ppo.vf_coef * vloss * share
        stats = {
            "policy_loss": pg.loss.item() * num_tokens / max(float(mask.sum()), 1.0),
            "value_loss": vloss.item(),
            "value_clip_ratio": vclip,
            "clip_ratio": pg.clip_fraction,
            "approx_kl": pg.approx_kl,
        }
        if pg.kl_ref is not None:
            stats["kl"] = pg.kl_ref
        return loss, stats
