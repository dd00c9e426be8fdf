"""The data-parallel trainers and the process group they use (see :mod:`memgym.trainers.distributed`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch

from memgym.errors import ConfigError, MemgymError
from memgym.trainers.base import RLTrainer, RolloutBatch, rollout_metrics
from memgym.trainers.grpo import GRPOTrainer
from memgym.trainers.ppo import PPOTrainer
from memgym.trainers.rollout import EpisodeSampler, Trajectory

BUCKET_ELEMENTS = 1 << 25  # gradients are summed in flat buckets of at most this many numbers


# ---------------------------------------------------------------------------------------------- processes
@dataclass
class ProcessGroup:
    """This process's place among the training processes, and the few collectives the trainer needs."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, values: Sequence[float]) -> list[float]:
        import torch.distributed as dist

        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def sum_(self, tensor: torch.Tensor) -> None:
        """Sum ``tensor`` over the processes in place (through this process's device: NCCL needs a GPU tensor)."""
        import torch.distributed as dist

        work = tensor.to(self.device)
        dist.all_reduce(work)
        if work is not tensor:
            tensor.copy_(work)

    def gather(self, obj: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_tensor_(self, tensor: torch.Tensor) -> None:
        import torch.distributed as dist

        work = tensor.to(self.device)
        dist.broadcast(work, src=0)
        if work is not tensor:
            tensor.copy_(work)

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()


def init_process_group(timeout_minutes: float = 240.0) -> ProcessGroup | None:
    """Join the processes ``accelerate launch`` / ``torchrun`` started (``None`` in a single process).

    ``timeout_minutes`` bounds how long the others wait for rank 0 while it evaluates or saves.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return None
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(minutes=timeout_minutes))
    device = torch.device(state.device) if torch.cuda.is_available() else torch.device("cpu")
    return ProcessGroup(state.process_index, state.num_processes, state.local_process_index, device)


def shard(n: int, rank: int, world: int) -> list[int]:
    """The positions ``0..n-1`` that belong to process ``rank``: every ``world``-th one."""
    return list(range(rank, n, world))


class ShardedSampler:
    """An :class:`~memgym.trainers.rollout.EpisodeSampler` over the episodes ``i`` with ``i % world == rank``."""

    def __init__(self, num_episodes: int, seed: int, rank: int, world: int) -> None:
        self.episodes = shard(num_episodes, rank, world)
        if not self.episodes:
            raise ConfigError(f"{num_episodes} training episodes cannot be shared by {world} processes")
        self.inner = EpisodeSampler(len(self.episodes), seed + rank)

    def take(self, n: int) -> list[int]:
        return [self.episodes[i] for i in self.inner.take(n)]

    def state_dict(self) -> dict[str, int]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.inner.load_state_dict(state)


class _NullLogger:
    """What the processes other than rank 0 log to."""

    def log(self, metrics: Any, step: int) -> None: ...

    def truncate_after(self, step: int) -> None: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------- trainers
class DataParallel:
    """The data-parallel behaviour, mixed in before :class:`GRPOTrainer` or :class:`PPOTrainer`.

    Args:
        config, **kwargs: as for :class:`~memgym.trainers.base.RLTrainer`.
        group: the process group (default: :func:`init_process_group` from the launcher's environment).
    """

    def __init__(self, config: Any, *, group: ProcessGroup | None = None, **kwargs: Any) -> None:
        self.dp = group or init_process_group()
        if self.dp is None:
            raise ConfigError(
                "data-parallel training needs several processes: start it with `accelerate launch "
                "--multi_gpu --num_processes N -m memgym.trainers.distributed ...` or `torchrun --nproc_per_node N`"
            )
        t, g = config.train, config.generation
        if t.episodes_per_step < self.dp.world:
            raise ConfigError(
                f"train.episodes_per_step={t.episodes_per_step} is less than the {self.dp.world} processes: every "
                "process rolls out whole groups, so give each at least one"
            )
        if g.use_vllm and g.vllm_mode == "server":
            raise ConfigError("data-parallel training supports generation.vllm_mode=colocate, not server")
        self._ghost = False
        self._rollouts: list[Trajectory] = []
        self._rank_states: list[dict[str, Any]] = []
        super().__init__(config, **kwargs)
        self.local_sampler = (
            ShardedSampler(self.sampler.num_episodes, config.seed, self.dp.rank, self.dp.world)
            if config.env.group_by == "state"
            else None
        )
        self._broadcast_weights()

    # -------------------------------------------------------------- identity, logs, evaluation
    @property
    def is_main_process(self) -> bool:
        return self.dp.is_main

    def open_logger(self) -> Any:
        if not self.dp.is_main:
            self.logger = self.logger or _NullLogger()
            return self.logger
        return super().open_logger()

    def evaluate(self) -> dict[str, Any]:
        """Rank 0 evaluates (the bench harness on its own copy of the policy); the others wait."""
        out = super().evaluate() if self.dp.is_main else {}
        self.dp.barrier()
        return out

    def _broadcast_weights(self) -> None:
        modules = [self.model, *self.extra_modules().values()]
        if self.ref_model is not None:
            modules.append(self.ref_model)
        with torch.no_grad():
            for module in modules:
                for tensor in [*module.parameters(), *module.buffers()]:
                    self.dp.broadcast_tensor_(tensor.data)
        self.backend.sync_weights()

    # -------------------------------------------------------------- rollouts
    def collect_rollouts(self, step: int) -> list[Trajectory]:
        """This process's share of the step's groups, with their global group numbers."""
        t, dp = self.config.train, self.dp
        seed = (self.config.seed * 1_000_003 + step) * dp.world + dp.rank
        mine = shard(t.episodes_per_step, dp.rank, dp.world)
        params = self.sampling_params()
        self.model.eval()
        with torch.no_grad():
            if self.local_sampler is not None:
                sampler = self.local_sampler
                trajectories = self.collector.state_groups(
                    lambda: sampler.take(1)[0], len(mine), t.num_generations, params, seed
                )
            else:
                indices = self.sampler.take(t.episodes_per_step)  # the same list on every process
                trajectories = self.collector.episode_groups(
                    [indices[g] for g in mine], t.num_generations, params, seed
                )
        for traj in trajectories:
            traj.group = mine[traj.group]
        return trajectories

    def select_trajectories(self, trajectories: list[Trajectory]) -> tuple[list[Trajectory], dict[str, float]]:
        """As in one process; a process left with nothing while others update joins with zero weight."""
        kept, metrics = super().select_trajectories(trajectories)
        self._rollouts = trajectories
        anywhere = self.dp.sum([float(bool(kept))])[0] > 0
        self._ghost = anywhere and not kept and bool(trajectories)
        return (trajectories[:1] if self._ghost else kept), metrics

    # -------------------------------------------------------------- the update
    def reduce_gradients(self, rb: RolloutBatch, minibatch: torch.Tensor, params: list[torch.nn.Parameter]) -> None:
        """Sum the processes' gradients, each weighted by its share of the minibatch's loss normaliser."""
        tokens = 0.0 if self._ghost else max(float(rb.loss_mask[minibatch].sum()), 1.0)
        rows = 0.0 if self._ghost else float(len(minibatch))
        all_tokens, all_rows = self.dp.sum([tokens, rows])
        token_share, row_share = tokens / max(all_tokens, 1.0), rows / max(all_rows, 1.0)
        by_rows = {id(p) for module in self.extra_modules().values() for p in module.parameters()}
        token_level = self.algorithm == "ppo" or self.config.grpo.loss_type in ("dapo", "bnpo")
        grads = []
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.mul_(row_share if id(p) in by_rows or not token_level else token_share)
            grads.append(p.grad)
        for bucket in _buckets(grads):
            flat = torch.cat([g.reshape(-1) for g in bucket])
            self.dp.sum_(flat)
            offset = 0
            for g in bucket:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()

    def train_step(self) -> dict[str, float]:
        """One step on every process; the metrics describe all processes' rollouts."""
        return self._combine(super().train_step())

    def _combine(self, metrics: dict[str, float]) -> dict[str, float]:
        parts = self.dp.gather(
            {"metrics": metrics, "rollouts": [_light(t) for t in self._rollouts], "ghost": self._ghost}
        )
        out: dict[str, float] = {}
        for key in dict.fromkeys(k for p in parts for k in p["metrics"]):
            values = [
                p["metrics"][key]
                for p in parts
                if key in p["metrics"] and not (p["ghost"] and key.startswith("train/") and key != "train/updated")
            ]
            if not values:
                continue
            if key.startswith("time/") or key == "train/updated":
                out[key] = max(values)
            elif key == "rollout/tokens_per_second":
                out[key] = sum(values)
            else:
                out[key] = sum(values) / len(values)
        everything = [t for p in parts for t in p["rollouts"]]
        out.update(rollout_metrics(everything))
        out.update(super().select_trajectories(everything)[1])  # group statistics over all processes
        out["dp/processes"] = float(self.dp.world)
        return out

    # -------------------------------------------------------------- checkpoints
    def trainer_state(self) -> dict[str, Any]:
        return {**super().trainer_state(), "world_size": self.dp.world, "ranks": self._rank_states}

    def save_checkpoint(self) -> Path:
        """Rank 0 writes the checkpoint, with every process's episode order and RNG state; all wait for it."""
        from memgym.trainers.checkpoint import _rng_state

        local = {"sampler": None if self.local_sampler is None else self.local_sampler.state_dict()}
        self._rank_states = self.dp.gather({**local, "rng": _rng_state()})
        folder = self.run_dir / "checkpoints" / f"step-{self.global_step:06d}"
        if self.dp.is_main:
            folder = super().save_checkpoint()
        self.dp.barrier()
        return folder

    def load_checkpoint(self, folder: str | Path) -> None:
        from memgym.trainers.checkpoint import STATE_FILE, _set_rng_state

        super().load_checkpoint(folder)
        state = json.loads((Path(folder) / STATE_FILE).read_text(encoding="utf-8"))
        ranks = state.get("ranks") or []
        if self.local_sampler is not None and ranks and len(ranks) != self.dp.world:
            raise MemgymError(
                f"checkpoint {folder} was written by {len(ranks)} processes; with env.group_by=state each "
                f"process has its own episode order, so resume it with {len(ranks)} processes, not {self.dp.world}"
            )
        if len(ranks) == self.dp.world:
            mine = ranks[self.dp.rank]
            if self.local_sampler is not None and mine.get("sampler"):
                self.local_sampler.load_state_dict(mine["sampler"])
            _set_rng_state(mine.get("rng"))

    def maybe_resume(self) -> bool:
        """As in one process, with rank 0 choosing the checkpoint so that every process loads the same one."""
        from memgym.trainers.checkpoint import list_checkpoints

        how = self.config.train.resume
        if how == "never":
            return False
        if how == "auto":
            found = list_checkpoints(self.run_dir) if self.dp.is_main else []
            chosen = self.dp.broadcast(str(found[-1]) if found else None)
            if chosen is None:
                return False
            how = chosen
        self.load_checkpoint(how)
        return True


class DataParallelGRPOTrainer(DataParallel, GRPOTrainer):
    """:class:`~memgym.trainers.grpo.GRPOTrainer` over several processes."""

    def prepare(self, rb: RolloutBatch) -> dict[str, float]:
        """Group advantages from every process's returns (needed for ``scale_rewards=batch``)."""
        from memgym.trainers.advantages import group_advantages

        mine = [] if self._ghost else [(t.total_reward, t.group) for t in rb.trajectories]
        parts = self.dp.gather(mine)
        flat = [x for part in parts for x in part]
        returns = torch.tensor([r for r, _ in flat], dtype=torch.float32)
        groups = torch.tensor([g for _, g in flat], dtype=torch.long)
        advantages = group_advantages(returns, groups, self.config.grpo.scale_rewards)
        start = sum(len(part) for part in parts[: self.dp.rank])
        local = torch.zeros(len(rb.trajectories)) if self._ghost else advantages[start : start + len(mine)]
        rb.targets["advantages"] = local[rb.step_traj]
        return {"advantage_abs_mean": float(advantages.abs().mean()) if len(flat) else 0.0}


class DataParallelPPOTrainer(DataParallel, PPOTrainer):
    """:class:`~memgym.trainers.ppo.PPOTrainer` over several processes."""

    def prepare(self, rb: RolloutBatch) -> dict[str, float]:
        """GAE per trajectory as in one process; the advantages are whitened over all processes' steps."""
        ppo = self.config.ppo
        whiten = ppo.whiten_advantages
        ppo.whiten_advantages = False
        try:
            metrics = super().prepare(rb)
        finally:
            ppo.whiten_advantages = whiten
        if whiten:
            adv = rb.targets["advantages"].to(torch.float64)
            n, s, sq = (0.0, 0.0, 0.0) if self._ghost else (float(adv.numel()), float(adv.sum()), float((adv**2).sum()))
            n, s, sq = self.dp.sum([n, s, sq])
            mean = s / max(n, 1.0)
            std = max((sq - n * mean * mean) / max(n - 1.0, 1.0), 0.0) ** 0.5 if n > 1 else 0.0
            if n > 1:
                rb.targets["advantages"] = ((adv - mean) / (std + 1e-8)).to(torch.float32)
            else:
                rb.targets["advantages"] = (adv - mean).to(torch.float32)
        return metrics


def _light(traj: Trajectory) -> Trajectory:
    """What the metrics need of a trajectory (no token ids): cheap to send to rank 0."""
    steps = [
        replace(s, prompt_ids=[], completion_ids=range(len(s.completion_ids)), logprobs=None, text="", grammar=None)
        for s in traj.steps
    ]
    return replace(traj, steps=steps)


def _buckets(grads: list[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
    bucket: list[torch.Tensor] = []
    size = 0
    for g in grads:
        if bucket and (size + g.numel() > BUCKET_ELEMENTS or g.dtype != bucket[0].dtype):
            yield bucket
            bucket, size = [], 0
        bucket.append(g)
        size += g.numel()
    if bucket:
        yield bucket


def trainer_class(algorithm: str) -> type[RLTrainer]:
    if algorithm == "grpo":
        return DataParallelGRPOTrainer
    if algorithm == "ppo":
        return DataParallelPPOTrainer
    raise ConfigError(
        f"algorithm={algorithm} does not run data-parallel: use grpo or ppo (run SFT once in one process, "
        "then start RL from its final/ folder with model.name_or_path)"
    )
