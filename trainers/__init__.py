"""Rollout collection, GRPO, PPO, supervised warm start and RLlib."""
