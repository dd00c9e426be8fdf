"""The training loop GRPO and PPO share: rollouts, the minibatch update, evaluation, checkpoints, logs.

Subclasses fill three seams (CleanRL-style, so the algorithm reads top to bottom):

- :meth:`RLTrainer.prepare` turns the step batch into per-step targets (GRPO: group advantages; PPO: GAE
  advantages, returns and old values);
- :meth:`RLTrainer.micro_loss` computes the loss of a micro-batch;
- :meth:`RLTrainer.extra_modules` names modules besides the policy that train and are checkpointed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import SamplingParams, TrainableBackend
from memgym.trainers.batching import StepBatch, completion_logps, pack_steps, select_rows
from memgym.trainers.checkpoint import list_checkpoints, load_checkpoint, prune_checkpoints, save_checkpoint
from memgym.trainers.config import EnvConfig, TrainConfig
from memgym.trainers.logging_utils import MetricLogger
from memgym.trainers.prompting import SkipSpeakers, SystemPrompt
from memgym.trainers.rollout import EpisodeSampler, RolloutCollector, Step, Trajectory


@dataclass
class RolloutBatch:
    """A training step's rollouts flattened to steps, with the tensors every algorithm needs."""

    trajectories: list[Trajectory]
    steps: list[Step]
    step_traj: torch.Tensor  # trajectory index of each step
    batch: StepBatch
    loss_mask: torch.Tensor  # (B, C) completion tokens that enter the loss
    targets: dict[str, torch.Tensor] = field(default_factory=dict)  # filled by prepare()


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base``, merging nested mappings (eval_kwargs may change one data option)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def env_kwargs(env: EnvConfig) -> dict[str, Any]:
    """The keyword arguments of the training environments (``skip_speakers`` becomes an extractor; a
    single-step ``builder`` naming a registered policy, e.g. ``salience``, becomes that policy)."""
    kwargs = dict(env.kwargs)
    if env.skip_speakers:
        if kwargs.get("extractor") is not None:
            from memgym.errors import ConfigError

            raise ConfigError("env.skip_speakers and env.kwargs.extractor both choose what a step shows; set one")
        kwargs["extractor"] = SkipSpeakers(env.skip_speakers)
    builder = kwargs.get("builder")
    if isinstance(builder, str) and builder not in ("oracle", "add_all", "empty"):
        from memgym.policies.managers import make_policy

        kwargs["builder"] = make_policy(builder)
    return kwargs


def make_env_factory(env_id: str, kwargs: dict[str, Any]) -> Callable[[], Any]:
    """A thunk building one environment from the registry (imported lazily)."""

    def make() -> Any:
        from memgym.envs import make

        return make(env_id, **kwargs)

    return make


class RLTrainer:
    """Shared machinery of :class:`~memgym.trainers.grpo.GRPOTrainer` and :class:`~memgym.trainers.ppo.PPOTrainer`.

    Args:
        config: the whole run's config.
        model, tokenizer: the policy (default: loaded from ``config.model``).
        backend: the rollout backend (default: transformers on ``model``, or vLLM when configured); a
            :class:`~memgym.policies.backends.TrainableBackend`, so updated weights reach the sampler.
        make_env: builds one training environment (default: ``memgym.envs.make(env.id, **kwargs)``). The
            held-out evaluation always builds its environments from ``env.id`` and ``env.eval_kwargs``
            through the bench harness, like the baselines it is compared with.
        num_train_episodes: how many training episodes exist (default: asked from an environment).
        run_dir: where checkpoints and logs go (default: ``output_dir/run_name``).
    """

    algorithm = "base"

    def __init__(
        self,
        config: TrainConfig,
        *,
        model: torch.nn.Module | None = None,
        tokenizer: Any = None,
        backend: TrainableBackend | None = None,
        make_env: Callable[[], Any] | None = None,
        num_train_episodes: int | None = None,
        run_dir: str | Path | None = None,
    ) -> None:
        from memgym.trainers import modeling

        self.config = cfg = config
        torch.manual_seed(cfg.seed)
        if model is None:
            model, tokenizer = modeling.load_policy(cfg.model)
            model = model.to(modeling.training_device())  # this process's GPU if it has one; a no-op on CPU
        if tokenizer is None:
            raise MemgymError("pass the tokenizer together with the model")
        from trl.trainer.utils import disable_dropout_in_model

        disable_dropout_in_model(model)  # rollout and update must score tokens with the same function
        if cfg.model.use_peft:
            model = modeling.apply_peft(model, cfg.model)
        elif cfg.model.trainable_layers:
            modeling.freeze_lower_layers(model, cfg.model.trainable_layers)
        self.model, self.tokenizer = model, tokenizer
        self.ref_model = self._make_reference()
        self.run_dir = Path(run_dir) if run_dir else Path(cfg.output_dir) / cfg.resolved_run_name()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if backend is not None and not isinstance(backend, TrainableBackend):
            missing = [m for m in ("generate", "sync_weights") if not callable(getattr(backend, m, None))]
            raise ConfigError(
                f"the rollout backend {type(backend).__name__} has no {' or '.join(missing)}(): RLTrainer needs "
                "a TrainableBackend (generate(prompts, params) and sync_weights(), which pushes the updated "
                "weights into the engine; a no-op for a backend that holds the live model)"
            )
        self.backend: TrainableBackend = (
            backend if backend is not None else modeling.build_backend(cfg.generation, model, tokenizer)
        )
        self.env_kwargs = env_kwargs(cfg.env)
        self.eval_env_kwargs = deep_merge(self.env_kwargs, cfg.env.eval_kwargs)
        self.make_env = make_env or make_env_factory(cfg.env.id, self.env_kwargs)
        self.prompt_format = SystemPrompt(cfg.env.system_prompt_text)
        self.collector = RolloutCollector(
            self.make_env,
            self.backend,
            batch_size=cfg.generation.batch_size,
            max_episode_steps=cfg.env.max_episode_steps,
            prompt_format=self.prompt_format,
            constrained=cfg.generation.constrained,
        )
        n = num_train_episodes or cfg.env.num_train_episodes or _count_episodes(self.collector)
        self.sampler = EpisodeSampler(n, cfg.seed)
        self.global_step = 0
        self.setup()  # subclass modules (value head) before the optimizer sees the parameters
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.logger: MetricLogger | None = None
        self.final_eval: dict[str, Any] = {}

    # ------------------------------------------------------------------ seams
    def setup(self) -> None:
        """Create algorithm-specific modules (called before the optimizer is built)."""

    def extra_modules(self) -> dict[str, torch.nn.Module]:
        """Trainable modules besides the policy, saved in checkpoints under these names."""
        return {}

    def param_groups(self) -> list[dict[str, Any]]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return [{"params": params, "lr": self.config.train.learning_rate}]

    def autocast(self) -> Any:
        """The precision context of training's forward passes (``model.dtype``; float32 weights stay)."""
        from memgym.trainers.modeling import resolve_dtype

        dtype = resolve_dtype(self.config.model.dtype)
        device = "cuda" if next(self.model.parameters()).is_cuda else "cpu"
        return torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None)

    def select_trajectories(self, trajectories: list[Trajectory]) -> tuple[list[Trajectory], dict[str, float]]:
        """The trajectories the update trains on (default: all), and metrics about the choice."""
        return trajectories, {}

    def prepare(self, rb: RolloutBatch) -> dict[str, float]:
        """Fill ``rb.targets`` before the update; returns metrics to log."""
        raise NotImplementedError

    def micro_loss(
        self, rb: RolloutBatch, rows: torch.Tensor, sub: StepBatch, minibatch: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of the micro-batch ``rows`` (a subset of ``minibatch``), scaled to sum over the minibatch."""
        raise NotImplementedError

    # ------------------------------------------------------------------ data-parallel hooks (trainers/distributed.py)
    is_main_process = True  # the process that writes logs, checkpoints and evaluations

    def reduce_gradients(self, rb: RolloutBatch, minibatch: torch.Tensor, params: list[torch.nn.Parameter]) -> None:
        """Combine the minibatch's gradients across processes before clipping (one process: nothing to do)."""

    def evaluate(self) -> dict[str, Any]:
        """Held-out evaluation of the policy through the bench harness (:mod:`memgym.trainers.evaluation`)."""
        from memgym.trainers.evaluation import evaluate_policy

        return evaluate_policy(self)

    # ------------------------------------------------------------------ setup helpers
    def _make_reference(self) -> torch.nn.Module | None:
        """The frozen initial policy for the KL term: the base model under LoRA, else a copy."""
        if self.config.train.beta == 0.0 or self.config.model.use_peft:
            return None
        ref = copy.deepcopy(self.model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.param_groups(), weight_decay=self.config.train.weight_decay)

    def _make_scheduler(self) -> Any:
        from transformers import get_scheduler

        t = self.config.train
        total = max(t.max_steps * t.num_iterations * t.num_minibatches, 1)
        return get_scheduler(
            t.lr_scheduler, self.optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=total
        )

    # ------------------------------------------------------------------ rollouts
    def sampling_params(self, evaluation: bool = False) -> SamplingParams:
        g = self.config.generation
        return SamplingParams(
            max_new_tokens=g.max_new_tokens,
            temperature=g.eval_temperature if evaluation else g.temperature,
            top_p=g.top_p,
        )

    def collect_rollouts(self, step: int) -> list[Trajectory]:
        """G rollouts for each of ``episodes_per_step`` episodes (or states), seeded by the step."""
        t, seed = self.config.train, self.config.seed * 1_000_003 + step
        params = self.sampling_params()
        self.model.eval()
        with torch.no_grad():
            if self.config.env.group_by == "state":
                return self.collector.state_groups(
                    lambda: self.sampler.take(1)[0], t.episodes_per_step, t.num_generations, params, seed
                )
            indices = self.sampler.take(t.episodes_per_step)
            return self.collector.episode_groups(indices, t.num_generations, params, seed)

    def build_batch(self, trajectories: list[Trajectory]) -> RolloutBatch:
        steps, owner = [], []
        for i, traj in enumerate(trajectories):
            for s in traj.steps:
                steps.append(s)
                owner.append(i)
        if not steps:
            raise MemgymError("the rollouts produced no steps (did every episode end at reset?)")
        allowed = None
        if any(s.grammar is not None for s in steps):  # constrained decoding: score the constrained policy
            from memgym.policies.backends.grammar import allowed_masks

            allowed = [
                None if s.grammar is None else allowed_masks(self.tokenizer, s.grammar, s.completion_ids)
                for s in steps
            ]
        batch = pack_steps(
            [s.prompt_ids for s in steps], [s.completion_ids for s in steps], self.tokenizer.pad_token_id, allowed
        )
        loss_mask = batch.completion_mask.clone()
        if self.config.grpo.mask_truncated_completions:
            truncated = torch.tensor([s.finish_reason == "length" for s in steps])
            loss_mask[truncated] = 0
        return RolloutBatch(trajectories, steps, torch.tensor(owner), batch, loss_mask)

    # ------------------------------------------------------------------ scoring
    def score(
        self,
        model: torch.nn.Module,
        rb: RolloutBatch,
        rows: torch.Tensor | None = None,
        return_hidden: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Completion log-probs (and last-prompt hidden states) for all rows, in micro-batches, no grad."""
        rows = torch.arange(len(rb.steps)) if rows is None else rows
        C = rb.batch.completion_ids.shape[1]
        logps = torch.zeros(len(rows), C)
        hidden = None
        with torch.no_grad():
            for k in range(0, len(rows), self.config.train.micro_batch_size):
                chunk = rows[k : k + self.config.train.micro_batch_size]
                sub = select_rows(rb.batch, chunk)
                with self.autocast():
                    lp, h = completion_logps(model, sub, self.config.generation.temperature, return_hidden)
                logps[k : k + len(chunk), : lp.shape[1]] = lp
                if h is not None:
                    hidden = torch.zeros(len(rows), h.shape[-1]) if hidden is None else hidden
                    hidden[k : k + len(chunk)] = h
        return logps, hidden

    def reference_logps(self, rb: RolloutBatch) -> torch.Tensor:
        if self.ref_model is not None:
            return self.score(self.ref_model, rb)[0]
        with self.model.disable_adapter():  # LoRA: the base model is the reference
            return self.score(self.model, rb)[0]

    def importance_weights(self, rb: RolloutBatch, old_logps: torch.Tensor) -> torch.Tensor | None:
        """TRL's truncated importance sampling for a sampler (vLLM) whose log-probs differ from ours."""
        g = self.config.generation
        if not (g.use_vllm and g.vllm_importance_sampling_correction):
            return None
        engine = torch.zeros_like(old_logps)
        for i, s in enumerate(rb.steps):
            if s.logprobs:
                engine[i, : len(s.logprobs)] = torch.nan_to_num(torch.tensor(s.logprobs), nan=0.0)
        diff = (old_logps - engine) * rb.loss_mask
        return torch.clamp(torch.exp(diff), max=g.vllm_importance_sampling_cap)

    # ------------------------------------------------------------------ update
    def update(self, rb: RolloutBatch, step: int) -> dict[str, float]:
        """``num_iterations`` passes of ``num_minibatches`` optimizer steps over the rollout batch."""
        t = self.config.train
        B = len(rb.steps)
        # On-policy (one pass, one optimizer step, the sampler is this model): the old log-probs equal the
        # current ones, so the ratio is exp(logp - logp.detach()) = 1 and no extra forward pass is needed.
        on_policy = t.num_iterations == 1 and t.num_minibatches == 1 and not self.config.generation.use_vllm
        if not on_policy and "old_logps" not in rb.targets:
            rb.targets["old_logps"] = self.score(self.model, rb)[0]
        if t.beta > 0:
            rb.targets["ref_logps"] = self.reference_logps(rb)
        if "old_logps" in rb.targets:
            iw = self.importance_weights(rb, rb.targets["old_logps"])
            if iw is not None:
                rb.targets["importance_weights"] = iw
        self.model.train()
        gen = torch.Generator().manual_seed(self.config.seed * 7_919 + step)
        totals: dict[str, list[float]] = {}
        for _ in range(t.num_iterations):
            order = torch.randperm(B, generator=gen)
            for minibatch in torch.tensor_split(order, min(t.num_minibatches, B)):
                self.optimizer.zero_grad(set_to_none=True)
                for k in range(0, len(minibatch), t.micro_batch_size):
                    rows = minibatch[k : k + t.micro_batch_size]
                    with self.autocast():
                        loss, stats = self.micro_loss(rb, rows, select_rows(rb.batch, rows), minibatch)
                    loss.backward()
                    for key, value in stats.items():
                        totals.setdefault(key, []).append(value)
                params = [p for group in self.optimizer.param_groups for p in group["params"]]
                self.reduce_gradients(rb, minibatch, params)
                norm = torch.nn.utils.clip_grad_norm_(params, t.max_grad_norm)
                totals.setdefault("grad_norm", []).append(float(norm))
                self.optimizer.step()
                self.scheduler.step()
        self.model.eval()
        self.backend.sync_weights()
        metrics = {f"train/{k}": sum(v) / len(v) for k, v in totals.items()}
        metrics["train/learning_rate"] = self.scheduler.get_last_lr()[0]
        return metrics

    # ------------------------------------------------------------------ one step, the loop
    def train_step(self) -> dict[str, float]:
        """Collect rollouts, prepare targets, update; returns this step's metrics."""
        step = self.global_step
        self.collector.times.reset()
        start = time.perf_counter()
        trajectories = self.collect_rollouts(step)
        kept, metrics = self.select_trajectories(trajectories)
        t_update = time.perf_counter()
        if kept:
            rb = self.build_batch(kept)
            metrics.update(self.prepare(rb))
            metrics.update(self.update(rb, step))
        metrics["train/updated"] = float(bool(kept))  # 0: no trajectory carried a learning signal
        now = time.perf_counter()
        metrics.update(rollout_metrics(trajectories))
        times = self.collector.times
        metrics.update(
            {
                "time/generation": times.generation,
                "time/environment": times.environment,
                "time/update": now - t_update,
                "time/step": now - start,
                "rollout/tokens_per_second": times.generated_tokens / max(times.generation, 1e-9),
            }
        )
        self.global_step += 1
        return metrics

    def open_logger(self) -> MetricLogger:
        """The run's metric logger, created on first use (a warm start before ``train`` logs to it too)."""
        if self.logger is None:
            cfg = self.config
            self.logger = MetricLogger(
                self.run_dir,
                cfg.logging.report_to,
                run_name=self.run_dir.name,
                config=cfg.to_dict(),
                wandb_project=cfg.logging.wandb_project,
            )
        return self.logger

    def train(self, evaluate_start: bool | None = None) -> dict[str, Any]:
        """Run (or resume) the loop to ``max_steps``; returns the last step's metrics.

        Args:
            evaluate_start: evaluate the policy before the first step (only when starting at step 0);
                ``None`` follows ``eval.before``. The pipeline passes ``False`` when it has already
                evaluated the start itself.
        """
        cfg = self.config
        evaluate_start = cfg.eval.before if evaluate_start is None else evaluate_start
        resumed = self.maybe_resume()
        self.open_logger()
        if resumed:
            self.logger.truncate_after(self.global_step)
        if self.is_main_process:
            (self.run_dir / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
        if self.global_step == 0 and evaluate_start and cfg.eval.num_episodes > 0:
            self.logger.log({**self.evaluate(), "eval/phase": "start"}, step=0)
        last: dict[str, Any] = {}
        while self.global_step < cfg.train.max_steps:
            last = self.train_step()
            if self.global_step % cfg.logging.logging_steps == 0 or self.global_step == cfg.train.max_steps:
                self.logger.log(last, step=self.global_step)
            if (
                cfg.eval.eval_steps
                and self.global_step % cfg.eval.eval_steps == 0
                and self.global_step < cfg.train.max_steps
            ):
                self.logger.log({**self.evaluate(), "eval/phase": "periodic"}, step=self.global_step)
            if cfg.train.save_steps and self.global_step % cfg.train.save_steps == 0:
                self.save_checkpoint()
        if cfg.eval.num_episodes > 0:
            self.final_eval = self.evaluate()
            self.logger.log({**self.final_eval, "eval/phase": "final"}, step=self.global_step)
        self.save_checkpoint()
        self.logger.close()
        return last

    # ------------------------------------------------------------------ checkpoints
    def trainer_state(self) -> dict[str, Any]:
        return {
            "global_step": self.global_step,
            "sampler": self.sampler.state_dict(),
            "algorithm": self.algorithm,
        }

    def save_checkpoint(self) -> Path:
        folder = self.run_dir / "checkpoints" / f"step-{self.global_step:06d}"
        save_checkpoint(
            folder,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            state=self.trainer_state(),
            extra_modules=self.extra_modules(),
        )
        prune_checkpoints(self.run_dir, self.config.train.save_total_limit)
        return folder

    def load_checkpoint(self, folder: str | Path) -> None:
        state = load_checkpoint(
            folder,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            extra_modules=self.extra_modules(),
        )
        if state.get("algorithm") not in (None, self.algorithm):
            raise MemgymError(
                f"checkpoint {folder} was written by {state['algorithm']}, not {self.algorithm}"
            )
        self.global_step = int(state["global_step"])
        self.sampler.load_state_dict(state["sampler"])
        self.backend.sync_weights()

    def maybe_resume(self) -> bool:
        """Resume per ``train.resume``: ``auto`` (last checkpoint of this run, if any), ``never``, or a path."""
        how = self.config.train.resume
        if how == "never":
            return False
        if how == "auto":
            found = list_checkpoints(self.run_dir)
            if not found:
                return False
            self.load_checkpoint(found[-1])
            return True
        self.load_checkpoint(how)
        return True


def rollout_metrics(trajectories: list[Trajectory]) -> dict[str, float]:
    """Mean return, each reward component's mean (and ``.../std``), steps, completion length and error rate."""
    n = max(len(trajectories), 1)
    steps = [s for t in trajectories for s in t.steps]
    returns = torch.tensor([t.total_reward for t in trajectories] or [0.0])
    metrics = {
        "reward": float(returns.mean()),
        "reward_std": float(returns.std(unbiased=False)),
        "rollout/steps_per_episode": len(steps) / n,
        "rollout/completion_length": sum(len(s.completion_ids) for s in steps) / max(len(steps), 1),
        "rollout/error_rate": sum(s.error is not None for s in steps) / max(len(steps), 1),
        "rollout/truncated_rate": sum(s.finish_reason == "length" for s in steps) / max(len(steps), 1),
    }
    per_component: dict[str, list[float]] = {}
    for t in trajectories:
        for name, value in t.reward_components().items():
            per_component.setdefault(name, []).append(value)
    for name, values in per_component.items():
        column = torch.tensor(values)
        metrics[name] = float(column.sum()) / n
        metrics[f"{name}/std"] = float(column.std(unbiased=False))
    qa = [t.final_info["episode_qa"] for t in trajectories if "episode_qa" in t.final_info]
    if qa:
        metrics["episode_qa"] = sum(qa) / len(qa)
    return metrics


def _count_episodes(collector: RolloutCollector) -> int:
    env = collector._envs(1)[0]
    episodes = getattr(getattr(env, "unwrapped", env), "episodes", None)
    if episodes is not None:
        return len(episodes)
    raise MemgymError(f"cannot tell how many episodes {type(env).__name__} has; set env.num_train_episodes")
