"""Trainer building blocks: configs, advantages, masking, losses, data order, checkpoints."""

import math
import re

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from memgym.errors import ConfigError
from memgym.trainers.advantages import broadcast_to_steps, gae, group_advantages, whiten
from memgym.trainers.batching import completion_logps, pack_steps, select_rows
from memgym.trainers.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from memgym.trainers.config import describe_config, field_docs, load_config
from memgym.trainers.losses import clipped_policy_loss, clipped_value_loss, k3_kl
from memgym.trainers.rollout import EpisodeSampler


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    return LlamaForCausalLM(config).eval()


# ---------------------------------------------------------------------------------------------- config
def test_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("algorithm: ppo\ntrain:\n  learning_rate: 1e-5\n  max_steps: 3\nenv:\n  kwargs: {a: 1}\n")
    cfg = load_config(path, ["train.max_steps=7", "env.kwargs.b=x", "logging.report_to=none"])
    assert cfg.algorithm == "ppo"
    assert cfg.train.learning_rate == pytest.approx(1e-5)  # YAML reads 1e-5 as a string; it is converted
    assert cfg.train.max_steps == 7
    assert cfg.env.kwargs == {"a": 1, "b": "x"}
    assert cfg.logging.report_to == ["none"]


def test_config_unknown_key_names_close_match(tmp_path):
    with pytest.raises(
        ConfigError,
        match=re.escape("unknown key 'learnig_rate' in section 'train'. Did you mean: learning_rate?"),
    ):
        load_config(None, ["train.learnig_rate=1"])
    with pytest.raises(ConfigError, match="unknown key 'trian' in the top level"):
        load_config(None, ["trian.max_steps=1"])


def test_config_type_and_rule_errors():
    with pytest.raises(ConfigError, match=re.escape("train.max_steps: expected int, got str 'many'")):
        load_config(None, ["train.max_steps=many"])
    with pytest.raises(ConfigError, match="grpo.loss_type: 'foo' is not one of"):
        load_config(None, ["grpo.loss_type=foo"])
    with pytest.raises(ConfigError, match="GRPO needs at least 2 rollouts per group"):
        load_config(None, ["train.num_generations=1"])
    assert load_config(None, ["train.num_generations=1", "algorithm=ppo"]).train.num_generations == 1


def test_every_field_is_documented():
    text = describe_config()
    assert "train.learning_rate = 1e-06" in text
    from memgym.trainers.config import TrainLoopConfig

    docs = field_docs(TrainLoopConfig)
    assert "Peak learning rate" in docs["learning_rate"]
    assert all(docs.get(name) for name in TrainLoopConfig.__dataclass_fields__)


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    train_configs = [p for p in configs if p.read_text().lstrip().startswith("# memgym train")]
    assert train_configs, "configs/ holds the training configs"
    for path in train_configs:
        load_config(path)


# ---------------------------------------------------------------------------------------------- advantages
def test_group_advantages_hand_made_group():
    # group 0: returns 1, 0, 0, 1 -> mean 0.5, unbiased std sqrt(1/3); group 1: equal returns; group 2: alone
    returns = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 5.0])
    groups = [0, 0, 0, 0, 1, 1, 2]
    adv = group_advantages(returns, groups, scale="group", eps=1e-4)
    expected = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    assert adv.tolist() == pytest.approx([expected, -expected, -expected, expected, 0.0, 0.0, 0.0], abs=1e-6)
    unscaled = group_advantages(returns, groups, scale="none")
    assert unscaled.tolist() == pytest.approx([0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0])
    # every step of a trajectory gets its trajectory's advantage
    step_traj = [0, 0, 0, 1, 2, 3, 3]
    assert broadcast_to_steps(adv, step_traj).tolist() == pytest.approx(
        [expected] * 3 + [-expected, -expected] + [expected] * 2, abs=1e-6
    )


def test_group_advantages_ignore_nan_returns():
    adv = group_advantages(torch.tensor([1.0, float("nan"), 3.0]), [0, 0, 0], scale="none")
    assert adv.tolist() == pytest.approx([-1.0, 0.0, 1.0])


def test_gae_matches_hand_computation():
    rewards, values = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 0.2, 0.4])
    adv, ret = gae(rewards, values, gamma=0.9, lam=0.5)
    d2 = 1.0 - 0.4
    d1 = 0.0 + 0.9 * 0.4 - 0.2
    d0 = 0.0 + 0.9 * 0.2 - 0.5
    a2, a1 = d2, d1 + 0.45 * d2
    a0 = d0 + 0.45 * a1
    assert adv.tolist() == pytest.approx([a0, a1, a2])
    assert ret.tolist() == pytest.approx([a0 + 0.5, a1 + 0.2, a2 + 0.4])
    mc, _ = gae(rewards, torch.zeros(3), gamma=1.0, lam=1.0)  # lambda=1, V=0: Monte-Carlo returns
    assert mc.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert whiten(torch.tensor([1.0, 3.0])).tolist() == pytest.approx([-0.7071, 0.7071], abs=1e-3)


# ---------------------------------------------------------------------------------------------- masking
def test_packing_keeps_engine_tokens_and_masks_the_prompt():
    # The engine's ids are kept as they are, even a non-canonical split, and prompt tokens carry no loss.
    batch = pack_steps([[5, 6, 7, 8], [9, 10]], [[11, 12], [13, 14, 15]], pad_token_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7, 8, 11, 12, 0], [0, 0, 9, 10, 13, 14, 15]]
    assert batch.loss_mask.tolist() == [[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1, 1]]
    assert batch.position_ids.tolist()[1][2:] == [0, 1, 2, 3, 4]  # left padding does not shift positions
    sub = select_rows(batch, [1])
    assert sub.input_ids.tolist() == [[9, 10, 13, 14, 15]] and sub.prompt_length == 2


def test_loss_gradient_comes_from_completion_tokens_only():
    prompts, completions = [[5, 6, 7, 8], [9, 10]], [[11, 12], [13, 14, 15]]
    advantages = torch.tensor([1.5, -0.5])
    model = tiny_llama()
    batch = pack_steps(prompts, completions, pad_token_id=0)
    logps, _ = completion_logps(model, batch)
    out = clipped_policy_loss(
        logps,
        logps.detach(),
        advantages,
        batch.completion_mask,
        clip_low=0.2,
        clip_high=0.2,
        loss_type="dapo",
    )
    out.loss.backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    # Reference: each sequence alone, unpadded, summing log-probs of its completion tokens only.
    model.zero_grad()
    total = torch.zeros(())
    for p, c, a in zip(prompts, completions, advantages, strict=True):
        logits = model(torch.tensor([p + c])).logits[0, len(p) - 1 : -1].log_softmax(-1)
        total = total - a * logits.gather(-1, torch.tensor(c)[:, None]).sum()
    (total / 5).backward()
    for name, param in model.named_parameters():
        assert torch.allclose(got[name], param.grad, atol=1e-6), name


# ---------------------------------------------------------------------------------------------- losses
def test_clipped_policy_loss_clips_and_adds_kl():
    logps = torch.log(torch.tensor([[0.5, 0.5]]))
    old = torch.log(torch.tensor([[0.25, 0.5]]))  # ratio 2 on the first token, 1 on the second
    mask = torch.ones(1, 2)
    out = clipped_policy_loss(logps, old, torch.tensor([1.0]), mask, clip_low=0.2, clip_high=0.2)
    assert float(out.loss) == pytest.approx(-(1.2 + 1.0) / 2)
    assert out.clip_fraction == pytest.approx(0.5)
    ref = torch.log(torch.tensor([[0.25, 0.5]]))
    with_kl = clipped_policy_loss(
        logps, old, torch.tensor([1.0]), mask, clip_low=0.2, clip_high=0.2, ref_logps=ref, beta=0.1
    )
    kl = k3_kl(logps, ref)
    assert float(with_kl.loss) == pytest.approx(-(1.2 + 1.0) / 2 + 0.1 * float(kl.mean()))
    assert float(kl[0, 1]) == pytest.approx(0.0) and float(kl[0, 0]) > 0


def test_clipped_value_loss():
    loss, frac = clipped_value_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([1.0]), 0.2)
    assert float(loss) == pytest.approx(0.5 * 0.8**2) and frac == 1.0


# ---------------------------------------------------------------------------------------------- data order
def test_episode_sampler_resumes_the_same_order():
    a = EpisodeSampler(5, seed=3)
    first = a.take(7)
    assert sorted(first[:5]) == [0, 1, 2, 3, 4]  # each epoch is a permutation
    state = a.state_dict()
    expected = a.take(6)
    b = EpisodeSampler(5, seed=3)
    b.load_state_dict(state)
    assert b.take(6) == expected


def test_checkpoint_round_trip(tmp_path):
    model = tiny_llama(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model(torch.tensor([[1, 2, 3]])).logits.sum().backward()
    opt.step()
    save_checkpoint(
        tmp_path / "checkpoints" / "step-000001",
        model=model,
        optimizer=opt,
        scheduler=sched,
        state={"global_step": 1},
    )
    other = tiny_llama(1)
    opt2 = torch.optim.AdamW(other.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 1.0)
    state = load_checkpoint(list_checkpoints(tmp_path)[-1], model=other, optimizer=opt2, scheduler=sched2)
    assert state["global_step"] == 1
    for (n, p), q in zip(model.named_parameters(), other.parameters(), strict=True):
        assert torch.equal(p, q), n
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_vllm_on_a_machine_without_gpu_is_a_clear_error():
    from memgym.trainers.config import GenerationConfig
    from memgym.trainers.modeling import build_backend

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=re.escape("generation.use_vllm=true needs a CUDA GPU")):
        build_backend(GenerationConfig(use_vllm=True), tiny_llama(), tokenizer=None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_k": 2},  # "synthetic" without episode_kwargs: the environment's default count
        {"episode_kwargs": {"n_episodes": 3, "seed": 5}, "top_k": 2},
    ],
)
def test_held_out_episodes_are_the_environments_without_building_one(kwargs):
    from memgym.envs import make
    from memgym.trainers.evaluation import held_out

    episodes, rest = held_out(kwargs, num_episodes=2)
    env = make("memgym/MemoryManager-v0", **kwargs)
    assert [e.id for e in episodes] == [e.id for e in env.unwrapped.episodes[:2]]
    assert episodes == list(env.unwrapped.episodes[:2])
    assert rest == {"top_k": 2}
