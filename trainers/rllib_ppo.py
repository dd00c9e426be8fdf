"""RLlib PPO for compact, non-LLM memory managers on the environment's structured action mode.

The environment runs with ``action_mode="structured"``: the observation is the featurised ``Box`` of
:func:`memgym.envs.spaces.featurize` and the action a ``Dict`` of ``Discrete`` choices (op, target,
content, tier), which RLlib's default MLP module and action distribution handle. Ray runs locally
(``rllib.num_cpus``); ``rllib.num_env_runners > 0`` steps environments in Ray workers (scale-out).
Greedy evaluation on held-out episodes reports the same QA score as the bench harness, so the result sits
in the same before/after table as the LLM policies and the heuristic baselines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from memgym.errors import DependencyNotInstalled
from memgym.trainers.config import TrainConfig

ENV_NAME = "memgym-structured"


def structured_env_kwargs(cfg: TrainConfig, evaluation: bool = False) -> dict[str, Any]:
    from memgym.trainers.base import deep_merge, env_kwargs

    kwargs = env_kwargs(cfg.env)
    if evaluation:
        kwargs = deep_merge(kwargs, cfg.env.eval_kwargs)
    return {**kwargs, "action_mode": "structured"}


def build_algorithm(cfg: TrainConfig) -> Any:
    """An RLlib PPO ``Algorithm`` on the structured environment (starts a local Ray instance if needed)."""
    try:
        import ray
        from ray.rllib.algorithms.ppo import PPOConfig as RLlibPPOConfig
        from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
        from ray.tune.registry import register_env
    except ImportError as err:
        raise DependencyNotInstalled("ray[rllib]", "ray", "for algorithm=rllib_ppo") from err
    r = cfg.rllib
    env_id, kwargs = cfg.env.id, structured_env_kwargs(cfg)

    def make(_context: Any) -> Any:
        from memgym.envs import make as make_env

        return make_env(env_id, **kwargs)

    register_env(ENV_NAME, make)
    if not ray.is_initialized():
        ray.init(num_cpus=r.num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    algo_cfg = (
        RLlibPPOConfig()
        .environment(ENV_NAME)
        .env_runners(num_env_runners=r.num_env_runners)
        .training(
            train_batch_size=r.train_batch_size,
            minibatch_size=r.minibatch_size,
            num_epochs=r.num_epochs,
            lr=r.learning_rate,
            gamma=cfg.ppo.gamma,
            lambda_=cfg.ppo.lam,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(r.hidden_sizes)))
        .debugging(seed=cfg.seed)
    )
    return algo_cfg.build_algo()


def greedy_policy(algo: Any) -> Callable[[np.ndarray], dict[str, int]]:
    """The trained module's most likely action for one observation."""
    import torch

    module = algo.get_module()
    dist_cls = module.get_inference_action_dist_cls()

    def act(obs: np.ndarray) -> dict[str, int]:
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.as_tensor(obs[None], dtype=torch.float32)})
            action = dist_cls.from_logits(out["action_dist_inputs"]).to_deterministic().sample()
        return {k: int(v[0]) for k, v in action.items()}

    return act


def evaluate_structured(
    policy: Callable[[np.ndarray], dict[str, int]],
    make_env: Callable[[], Any],
    num_episodes: int,
    seed: int = 0,
) -> dict[str, float]:
    """Run a structured policy on the first ``num_episodes`` episodes: return, QA over all questions,
    invalid-action rate. QA averages every answered question's score, as the bench harness does."""
    env = make_env()
    returns, scores, steps, invalid = [], [], 0, 0
    for index in range(num_episodes):
        obs, _ = env.reset(seed=seed + index, options={"episode_index": index})
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            total += float(reward)
            steps += 1
            invalid += info.get("error") is not None
            scores += [float(a["score"]) for a in info.get("answers") or []]
            done = terminated or truncated
        returns.append(total)
    env.close()
    return {
        "eval/reward": float(np.mean(returns)),
        "eval/qa": float(np.mean(scores)) if scores else 0.0,
        "eval/invalid_rate": invalid / max(steps, 1),
        "eval/episodes": float(num_episodes),
    }


def train_rllib_ppo(cfg: TrainConfig, run_dir: str | Path | None = None) -> Any:
    """Train, evaluate before and after on held-out episodes, save a checkpoint and the report."""
    from memgym.envs import make
    from memgym.trainers.logging_utils import MetricLogger
    from memgym.trainers.report import write_report
    from memgym.trainers.results import TABLE_COLUMNS, RunResult, baseline_rows, save_rows, table_row

    started = time.perf_counter()
    out = Path(run_dir) if run_dir else Path(cfg.output_dir) / cfg.resolved_run_name()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    logger = MetricLogger(
        out,
        cfg.logging.report_to,
        run_name=out.name,
        config=cfg.to_dict(),
        wandb_project=cfg.logging.wandb_project,
    )
    eval_kwargs = structured_env_kwargs(cfg, evaluation=True)

    def make_eval() -> Any:
        return make(cfg.env.id, **eval_kwargs)

    algo = build_algorithm(cfg)
    n_eval = cfg.eval.num_episodes
    rows = {}
    if n_eval > 0:
        before = evaluate_structured(greedy_policy(algo), make_eval, n_eval, cfg.seed)
        logger.log(before, step=0)
        rows["start"] = table_row("start (untrained MLP)", before)
    for iteration in range(1, cfg.rllib.iterations + 1):
        result = algo.train()
        runners = result.get("env_runners", {})
        learner = result.get("learners", {}).get("default_policy", {})
        logger.log(
            {
                "reward": runners.get("episode_return_mean"),
                "rollout/steps_per_episode": runners.get("episode_len_mean"),
                "train/policy_loss": learner.get("policy_loss"),
                "train/value_loss": learner.get("vf_loss"),
                "train/entropy": learner.get("entropy"),
            },
            step=iteration,
        )
        if cfg.eval.eval_steps and iteration % cfg.eval.eval_steps == 0 and n_eval > 0:
            logger.log(evaluate_structured(greedy_policy(algo), make_eval, n_eval, cfg.seed), step=iteration)
    after = evaluate_structured(greedy_policy(algo), make_eval, n_eval, cfg.seed) if n_eval > 0 else {}
    if after:
        logger.log(after, step=cfg.rllib.iterations)
        rows["final"] = table_row("after RLlib PPO", after)
    rows.update(baseline_rows(cfg, eval_kwargs))
    checkpoint = algo.save_to_path(str((out / "rllib_checkpoint").resolve()))
    algo.stop()
    logger.close()
    save_rows(out, rows)
    seconds = time.perf_counter() - started
    report = write_report(
        out,
        list(rows.values()),
        title="memgym RLlib PPO run",
        columns=list(TABLE_COLUMNS),
        notes=[
            f"structured action mode on {cfg.env.id}; checkpoint: {checkpoint}",
            f"wall-clock time: {seconds:.0f} s",
        ],
    )
    return RunResult(out, list(rows.values()), report, seconds, {"before": rows.get("start"), "after": after})
