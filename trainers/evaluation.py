"""Held-out evaluation through the bench harness: the policy being trained and the baselines, measured alike.

The trained policy runs as a :class:`~memgym.trainers.prompting.PromptedLLMPolicy` over the trainer's
own backend (greedy by default), so it sees the run's prompt format; the heuristic baselines run on the
same held-out episodes with the same environment arguments. The headline figure is the bench's QA score
(exact match by default) over all questions of the held-out episodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from memgym.trainers.base import RLTrainer

#: Environment arguments that name the data: the bench harness passes the held-out episodes itself.
_DATA_KEYS = ("episodes", "episode_kwargs")


def held_out(eval_env_kwargs: dict[str, Any], num_episodes: int) -> tuple[list[Any], dict[str, Any]]:
    """The first ``num_episodes`` episodes of the evaluation environment, and its other arguments.

    The episodes are resolved from ``episodes`` / ``episode_kwargs`` as :class:`~memgym.envs.base.MemoryEnv`
    resolves them (``"synthetic"`` without kwargs: :data:`~memgym.envs.base.DEFAULT_SYNTHETIC_EPISODES`
    episodes), without building an environment.
    """
    from memgym.envs.base import DEFAULT_SYNTHETIC_EPISODES
    from memgym.envs.data import resolve_episodes

    source = eval_env_kwargs.get("episodes", "synthetic")
    episode_kwargs = eval_env_kwargs.get("episode_kwargs")
    if episode_kwargs is None and (source is None or (isinstance(source, str) and source == "synthetic")):
        episode_kwargs = {"n_episodes": DEFAULT_SYNTHETIC_EPISODES}
    episodes = resolve_episodes(source, **(episode_kwargs or {}))
    return list(episodes[:num_episodes]), {k: v for k, v in eval_env_kwargs.items() if k not in _DATA_KEYS}


def run_held_out_bench(
    cfg: Any, eval_env_kwargs: dict[str, Any], policies: list[Any], num_episodes: int
) -> Any:
    """``run_bench`` of ``policies`` on the held-out episodes with the run's environment arguments."""
    from memgym.policies.bench import run_bench

    episodes, kwargs = held_out(eval_env_kwargs, num_episodes)
    return run_bench(
        policies,
        cfg.env.id,
        episodes,
        env_kwargs=kwargs,
        seed=cfg.seed,
        batch_size=cfg.generation.batch_size,
        metrics=(cfg.eval.metric,),
        progress=False,
    )


def flat_metrics(summary: dict[str, Any], metric: str, prefix: str = "eval/") -> dict[str, float]:
    """A bench summary of one policy as flat numbers: QA overall and by category, ops, memory size."""
    out: dict[str, float] = {}
    overall = summary["overall"].get(metric)
    if overall is not None:
        out[f"{prefix}qa"] = float(overall)
        out[f"{prefix}questions"] = float(summary["overall"].get("n", 0))
    for category, row in summary["by_category"].items():
        if row.get(metric) is not None:
            out[f"{prefix}qa/{category}"] = float(row[metric])
    steps = max(int(summary["steps"]), 1)
    out[f"{prefix}invalid_rate"] = summary["ops"].get("invalid_action", 0) / steps
    for key in ("op_accuracy", "op_accuracy_facts", "memory_entries"):
        if summary.get(key) is not None:
            out[f"{prefix}{key}"] = float(summary[key])
    out[f"{prefix}tokens_generated"] = float(summary["tokens_generated"])
    out[f"{prefix}seconds"] = float(summary["wall_time_s"])
    return out


def evaluate_policy(trainer: RLTrainer, num_episodes: int | None = None) -> dict[str, Any]:
    """The current policy (greedy) on the held-out episodes, through the bench harness."""
    from memgym.trainers.prompting import PromptedLLMPolicy

    cfg = trainer.config
    n = cfg.eval.num_episodes if num_episodes is None else num_episodes
    policy = PromptedLLMPolicy(
        trainer.backend,
        trainer.sampling_params(evaluation=True),
        cfg.env.system_prompt_text,
        name="trained",
        constrained=cfg.generation.constrained,
    )
    trainer.model.eval()
    with torch.no_grad():
        result = run_held_out_bench(cfg, trainer.eval_env_kwargs, [policy], n)
    return flat_metrics(result.summary()["trained"], cfg.eval.metric)


def evaluate_baselines(
    cfg: Any, eval_env_kwargs: dict[str, Any], names: list[str], num_episodes: int | None = None
) -> dict[str, dict[str, float]]:
    """Each baseline (``heuristic`` = all heuristic baselines) on the same held-out episodes."""
    from memgym.policies.managers import expand_policy_names

    n = cfg.eval.num_episodes if num_episodes is None else num_episodes
    eval_env_kwargs = {k: v for k, v in eval_env_kwargs.items() if k != "action_mode"}  # baselines write text
    result = run_held_out_bench(cfg, eval_env_kwargs, expand_policy_names(names), n)
    return {
        name: flat_metrics(s, cfg.eval.metric) for name, s in result.summary().items() if not s["skipped"]
    }
