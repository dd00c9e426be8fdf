"""The two-process half of ``tests/test_distributed.py``, started with ``accelerate launch --num_processes 2``.

Every check runs in one launch (starting processes costs more than the tiny model's steps). Each result is
written by rank 0 to ``OUT/results.json``; the test reads and asserts them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from memgym.envs.wrappers import MemoryWrapper
from memgym.trainers.config import load_config
from memgym.trainers.distributed import (
    DataParallelGRPOTrainer,
    DataParallelPPOTrainer,
    init_process_group,
    main,
    shard,
)
from memgym.trainers.grpo import GRPOTrainer
from memgym.trainers.ppo import PPOTrainer

DATA = {
    "n_episodes": 4,
    "seed": 0,
    "config": {"n_entities": 1, "facts_per_entity": 2, "n_sessions": 1, "turns_per_session": 6},
}


class ActionLengthBonus(MemoryWrapper):
    """``len(action) / 100`` added to the reward: a random tiny model's rollouts then differ in return."""

    def transform_action(self, action):
        self.bonus = len(action) / 100
        return action

    def transform_result(self, result):
        obs, reward, terminated, truncated, info = result
        return obs, reward + self.bonus, terminated, truncated, info


def make_env():
    from memgym.envs import make

    return ActionLengthBonus(make("memgym/MemoryManager-v0", episode_kwargs=DATA))


def config(out, *extra):
    return load_config(
        None,
        [
            "model.name_or_path=tiny",
            "model.dtype=float32",  # bfloat16 autocast (where the CPU has it) rounds differently per batch shape
            "generation.dtype=float32",
            "logging.report_to=[]",
            "train.max_steps=1",
            "train.num_generations=2",
            "train.episodes_per_step=3",  # 2 groups on rank 0, 1 on rank 1: unequal rows and tokens
            "train.learning_rate=1e-3",
            "train.micro_batch_size=3",
            "train.beta=0.05",
            "env.max_episode_steps=2",
            "generation.max_new_tokens=6",
            "eval.num_episodes=0",
            "eval.baselines=[]",
            f"output_dir={out}",
            "run_name=run",
            "seed=0",
            *extra,
        ],
    )


def fixed(base, groups, data_parallel):
    """``base`` trained on given rollouts (a data-parallel trainer keeps its share of the groups), recording
    the gradients the optimizer steps with."""

    class Fixed(base):
        def collect_rollouts(self, step):
            if not data_parallel:
                return list(groups)
            mine = set(shard(self.config.train.episodes_per_step, self.dp.rank, self.dp.world))
            return [t for t in groups if t.group in mine]

        def reduce_gradients(self, rb, minibatch, params):
            super().reduce_gradients(rb, minibatch, params)
            names = {id(p): n for n, p in self.named_trainables()}
            self.grads = {names[id(p)]: p.grad.detach().clone() for p in params}

        def named_trainables(self):
            yield from self.model.named_parameters()
            for prefix, module in self.extra_modules().items():
                for n, p in module.named_parameters():
                    yield f"{prefix}.{n}", p

    return Fixed


def compare(a, b):
    """The largest absolute and relative differences between two dicts of tensors."""
    diffs = torch.cat([(a[k] - b[k]).abs().reshape(-1) for k in a])
    scale = max(float(a[k].abs().max()) for k in a)
    return {"abs": float(diffs.max()), "scale": scale, "same_keys": sorted(a) == sorted(b),
            "close": float((diffs <= 1e-6).double().mean())}


def weights(trainer):
    out = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    for prefix, module in trainer.extra_modules().items():
        out.update({f"{prefix}.{n}": p.detach().clone() for n, p in module.named_parameters()})
    return out


def equality(group, out, name, single, parallel, *extra):
    """One step over the same groups in one process and in two: gradients and weights after the step."""
    cfg = config(out / name, *extra)
    collector = single(cfg, make_env=make_env, run_dir=out / name / "collect")
    groups = group.broadcast(collector.collect_rollouts(0) if group.is_main else None)
    one = fixed(single, groups, False)(cfg, make_env=make_env, run_dir=out / name / "one")
    one.train_step()
    two = fixed(parallel, groups, True)(cfg, make_env=make_env, run_dir=out / name / "two", group=group)
    metrics = two.train_step()
    w1, w2 = weights(one), weights(two)
    others = group.gather({k: v for k, v in w2.items()})
    return {
        "grads": compare(one.grads, two.grads),
        "weights": compare(w1, w2),
        "ranks_agree": all(compare(others[0], o)["abs"] == 0.0 for o in others),
        "moved": compare(w1, weights(collector))["abs"],
        "rows_per_rank": group.gather(sum(len(t.steps) for t in two.collect_rollouts(0))),
        "reward_one": float(sum(t.total_reward for t in groups) / len(groups)),
        "reward_two": metrics["reward"],
    }


def resume(group, out):
    """Two steps straight, against one step, a 'kill', and a resumed second step (state groups)."""
    extra = ["train.max_steps=2", "env.group_by=state", "env.kwargs.mode=single_step",
             "env.kwargs.builder=oracle", "train.episodes_per_step=2", "train.beta=0.0"]

    def single_step_env():
        from memgym.envs import make

        return make("memgym/MemoryManager-v0", episode_kwargs=DATA, mode="single_step", builder="oracle")

    straight = DataParallelGRPOTrainer(config(out / "a", *extra), make_env=single_step_env, group=group)
    straight.train()
    first = DataParallelGRPOTrainer(config(out / "b", *extra, "train.max_steps=1"), make_env=single_step_env,
                                    group=group)
    first.train()
    again = DataParallelGRPOTrainer(config(out / "b", *extra), make_env=single_step_env, group=group)
    again.train()
    state = json.loads(next((out / "b" / "run" / "checkpoints").glob("step-000002/trainer_state.json")).read_text())
    samplers = group.gather((straight.local_sampler.state_dict(), again.local_sampler.state_dict()))
    return {
        "weights": compare(weights(straight), weights(again)),
        "global_step": again.global_step,
        "samplers_agree": all(a == b for a, b in samplers),
        "checkpoint_ranks": len(state.get("ranks") or []),
        "log_lines": len((out / "b" / "run" / "metrics.jsonl").read_text().splitlines()),
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    group = init_process_group()
    results = {
        "world": group.world,
        "dapo": equality(group, out, "dapo", GRPOTrainer, DataParallelGRPOTrainer),
        "grpo_batch": equality(group, out, "grpo_batch", GRPOTrainer, DataParallelGRPOTrainer,
                               "grpo.loss_type=grpo", "grpo.scale_rewards=batch"),
        "ppo": equality(group, out, "ppo", PPOTrainer, DataParallelPPOTrainer, "algorithm=ppo"),
        "resume": resume(group, out),
    }
    status = main(["model.name_or_path=tiny", "train.max_steps=1", "train.episodes_per_step=2",
                   "train.num_generations=2", "env.max_episode_steps=1", "generation.max_new_tokens=4",
                   "eval.num_episodes=0", "eval.baselines=[]", "logging.report_to=[]", f"output_dir={out}",
                   "run_name=cli", "env.kwargs.episode_kwargs.n_episodes=2"])
    results["cli"] = {"status": status, "final": (out / "cli" / "final" / "config.json").is_file(),
                      "report": (out / "cli" / "report.md").is_file()}
    if group.is_main:
        (out / "results.json").write_text(json.dumps(results, indent=1))
