"""GRPO and PPO on the tiny model with a synthetic MemoryManager environment: rollouts, updates, resume."""

import json

import pytest
import torch

from memgym.envs.wrappers import MemoryWrapper
from memgym.trainers.config import load_config
from memgym.trainers.grpo import GRPOTrainer
from memgym.trainers.ppo import PPOTrainer
from memgym.trainers.rollout import RolloutCollector

DATA = {
    "n_episodes": 3,
    "seed": 0,
    "config": {"n_entities": 1, "facts_per_entity": 2, "n_sessions": 1, "turns_per_session": 6},
}


class ActionLengthBonus(MemoryWrapper):
    """Adds ``len(action) / 100`` to the reward, so a random tiny model's rollouts differ in return.

    The memory rewards of a random model are all equal (every action is malformed), which gives GRPO a
    zero advantage; this keeps the environment real while giving the update a signal to follow.
    """

    def transform_action(self, action):
        self.bonus = len(action) / 100
        return action

    def transform_result(self, result):
        obs, reward, terminated, truncated, info = result
        info = {
            **info,
            "reward_components": {**info.get("reward_components", {}), "reward/length_bonus": self.bonus},
        }
        return obs, reward + self.bonus, terminated, truncated, info


def make_env():
    from memgym.envs import make

    return ActionLengthBonus(make("memgym/MemoryManager-v0", episode_kwargs=DATA))


def config(tmp_path, algorithm="grpo", *extra):
    return load_config(
        None,
        [
            f"algorithm={algorithm}",
            "model.name_or_path=tiny",
            "logging.report_to=[tensorboard]",
            "train.max_steps=2",
            "train.num_generations=2",
            "train.episodes_per_step=1",
            "train.learning_rate=1e-3",
            "env.max_episode_steps=2",
            "generation.max_new_tokens=6",
            "eval.num_episodes=0",
            "eval.baselines=[]",
            f"output_dir={tmp_path}",
            "run_name=run",
            "seed=0",
            *extra,
        ],
    )


def params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_steps_change_weights_and_log_rewards(tmp_path, algorithm):
    cls = GRPOTrainer if algorithm == "grpo" else PPOTrainer
    trainer = cls(config(tmp_path, algorithm), make_env=make_env)
    before = params(trainer.model)
    trainer.train()
    changed = [n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])]
    assert changed, "no parameter changed"
    assert len(changed) == len(before), f"unchanged: {sorted(set(before) - set(changed))[:5]}"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:  # the composed reward and each of its components are logged
        assert (
            "reward/format_penalty" in r
            and "reward/length_bonus" in r
            and "reward_weighted/format_penalty" in r
        )
        assert r["time/generation"] > 0 and r["time/update"] > 0
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    if algorithm == "ppo":
        assert "train/value_loss" in steps[-1]


def test_resume_reproduces_the_next_step(tmp_path):
    straight = GRPOTrainer(config(tmp_path / "a"), make_env=make_env)
    straight.train()  # steps 1 and 2 in one go
    first = GRPOTrainer(config(tmp_path / "b", "grpo", "train.max_steps=1"), make_env=make_env)
    first.train()  # step 1, then a checkpoint; the process "dies" here
    resumed = GRPOTrainer(config(tmp_path / "b"), make_env=make_env)
    resumed.train()  # resume=auto finds step 1 and runs step 2 with the same data and seeds
    assert resumed.global_step == 2 and resumed.sampler.state_dict() == straight.sampler.state_dict()
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name
    log = [json.loads(line) for line in (tmp_path / "b" / "run" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (tmp_path / "a" / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["reward"] for r in log if "reward" in r] == pytest.approx(
        [r["reward"] for r in ref if "reward" in r]
    )


def test_rollouts_keep_the_engines_tokens(tmp_path):
    trainer = GRPOTrainer(config(tmp_path), make_env=make_env)
    seen = []

    class Recording:
        def generate(self, prompts, params=None):
            out = trainer.backend.generate(prompts, params)
            seen.extend(out)
            return out

    collector = RolloutCollector(make_env, Recording(), max_episode_steps=2)
    trajs = collector.episode_groups([0, 1], 2, trainer.sampling_params(), seed=0)
    steps = [s for t in trajs for s in t.steps]
    assert len(steps) == 8 and [t.group for t in trajs] == [0, 0, 1, 1]
    by_text = {(tuple(g.prompt_token_ids), tuple(g.token_ids)) for g in seen}
    for s in steps:  # the training tokens are exactly what the engine returned, not a re-tokenization
        assert (tuple(s.prompt_ids), tuple(s.completion_ids)) in by_text
        assert s.logprobs is not None and len(s.logprobs) == len(s.completion_ids)


def test_state_groups_branch_one_state_and_the_driver_moves_on(tmp_path):
    from memgym.envs import make

    def single_step():
        return make("memgym/MemoryManager-v0", episode_kwargs=DATA, mode="single_step", builder="oracle")

    trainer = GRPOTrainer(config(tmp_path, "grpo", "env.group_by=state"), make_env=single_step)
    collector = RolloutCollector(single_step, trainer.backend)
    order = iter([0, 1, 2, 0, 1, 2])
    trajs = collector.state_groups(lambda: next(order), 2, 3, trainer.sampling_params(), seed=0)
    assert [t.group for t in trajs] == [0, 0, 0, 1, 1, 1] and [t.episode_index for t in trajs] == [0] * 3 + [
        1
    ] * 3
    for g in (0, 1):  # one state per group: the same prompt, G sampled one-step trajectories
        group = trajs[3 * g : 3 * g + 3]
        assert len({tuple(t.steps[0].prompt_ids) for t in group}) == 1
        assert all(len(t.steps) == 1 and t.terminated for t in group)
    again = collector.state_groups(lambda: next(order), 2, 3, trainer.sampling_params(), seed=1)
    assert [t.episode_index for t in again] == [2] * 3 + [0] * 3  # single-step episodes end: new states


def test_lora_with_kl_trains_only_the_adapters(tmp_path):
    cfg = config(
        tmp_path, "grpo", "model.use_peft=true", "model.lora_r=4", "train.beta=0.1", "train.max_steps=1"
    )
    trainer = GRPOTrainer(cfg, make_env=make_env)
    assert trainer.ref_model is None  # the reference is the base model, adapters disabled
    before = params(trainer.model)
    trainer.train()
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    last = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["train/kl"] >= 0.0  # KL to the reference is computed and logged


def test_trainable_layers_trains_only_the_top_blocks(tmp_path):
    cfg = config(tmp_path, "grpo", "model.trainable_layers=1", "train.max_steps=1")
    trainer = GRPOTrainer(cfg, make_env=make_env)
    top = len(trainer.model.model.layers) - 1
    before = params(trainer.model)
    trainer.train()
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed, "the top block should have been updated"
    assert all(n.startswith(f"model.layers.{top}.") or n.startswith("model.norm.") for n in changed)


def test_trainable_layers_out_of_range_is_a_clear_error(tmp_path):
    from memgym.errors import ConfigError

    with pytest.raises(ConfigError, match="trainable_layers=99"):
        GRPOTrainer(config(tmp_path, "grpo", "model.trainable_layers=99"), make_env=make_env)


def test_lora_on_the_top_blocks_only(tmp_path):
    cfg = config(tmp_path, "grpo", "model.use_peft=true", "model.lora_r=4", "model.trainable_layers=1")
    trainer = GRPOTrainer(cfg, make_env=make_env)
    top = len(trainer.model.base_model.model.model.layers) - 1
    adapters = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert adapters and all("lora_" in n and f".layers.{top}." in n for n in adapters)


def test_a_backend_that_cannot_sync_weights_is_a_clear_error(tmp_path):
    import re

    from memgym.errors import ConfigError

    class GenerateOnly:
        def generate(self, prompts, params=None):
            return []

    with pytest.raises(ConfigError, match=re.escape("GenerateOnly has no sync_weights()")):
        GRPOTrainer(config(tmp_path), make_env=make_env, backend=GenerateOnly())


def test_weights_are_synced_after_each_update_and_on_resume(tmp_path):
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.trainers.modeling import load_policy

    class CountingSync(TransformersBackend):
        syncs = 0

        def sync_weights(self):
            CountingSync.syncs += 1

    def trainer(max_steps):
        cfg = config(tmp_path, "grpo", f"train.max_steps={max_steps}")
        model, tokenizer = load_policy(cfg.model)
        backend = CountingSync(model, tokenizer, device=None, batch_size=cfg.generation.batch_size)
        return GRPOTrainer(cfg, model=model, tokenizer=tokenizer, backend=backend, make_env=make_env)

    trainer(1).train()
    assert CountingSync.syncs == 1  # after the one update
    trainer(2).train()
    assert CountingSync.syncs == 3  # the resumed checkpoint, then the second update


def test_flat_groups_can_be_left_out_of_the_update(tmp_path):
    from memgym.trainers.rollout import Step, Trajectory

    def traj(group, reward):
        return Trajectory(group=group, episode_index=0, steps=[Step([1], [2], None, "x", reward)])

    trajs = [traj(0, 1.0), traj(0, 1.0), traj(1, 0.0), traj(1, 1.0)]
    keep_all = GRPOTrainer(config(tmp_path), make_env=make_env)
    assert keep_all.select_trajectories(trajs) == (trajs, {"frac_reward_zero_std": 0.5})
    drop = GRPOTrainer(config(tmp_path / "d", "grpo", "grpo.drop_zero_std_groups=true"), make_env=make_env)
    kept, metrics = drop.select_trajectories(trajs)
    assert kept == trajs[2:] and metrics == {"frac_reward_zero_std": 0.5, "train/kept_fraction": 0.5}
    assert drop.select_trajectories(trajs[:2])[0] == []  # every group flat: nothing to train on


def test_a_bfloat16_rollout_copy_follows_the_trained_weights():
    from memgym.policies.models import tiny_model
    from memgym.trainers.config import GenerationConfig
    from memgym.trainers.modeling import build_backend

    model, tokenizer = tiny_model()
    backend = build_backend(GenerationConfig(dtype="bfloat16"), model, tokenizer)
    assert backend.model is not model and next(backend.model.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # what an update does
    first = next(backend.model.parameters())
    assert not torch.allclose(first.float(), next(model.parameters()), atol=1e-2)
    backend.sync_weights()
    assert torch.allclose(next(backend.model.parameters()).float(), next(model.parameters()), atol=2e-2)
    same = build_backend(GenerationConfig(dtype="float32"), model, tokenizer)
    assert same.model is model  # float32: the live model itself
