"""Memory-SFT: supervised warm start on oracle (or teacher) trajectories with TRL's ``SFTTrainer``.

Examples are collected by running the environment with a teacher that writes the action text for each
observation; each step becomes one (prompt, completion) example. The prompt is tokenized by the same
function the transformers backend uses for generation (``encode_chats``: the tokenizer's chat template
with the generation prompt), and the completion is the action's tokens plus the end-of-turn token, so the
model is trained on exactly the context it acts in. ``SFTTrainer`` then trains on the pre-tokenized rows
with the loss on completion tokens only. This is the baseline Memory-R1 compares its RL against.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memgym.errors import MemgymError
from memgym.trainers.config import SFTConfig

#: A teacher: given the environment (in its current state) and the observation, the action text to take.
Teacher = Callable[[Any, dict], str]


def oracle_teacher(env: Any, obs: dict) -> str:
    """The synthetic-label oracle in the environment's own action format (``MemoryEnv.oracle_action``)."""
    return env.unwrapped.oracle_action()


class PolicyTeacher:
    """A registered memory-manager policy as the teacher (e.g. ``mem0_heuristic``): an imperfect teacher,
    so the warm start imitates decisions that RL can then improve on."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        from memgym.policies.managers import make_policy

        self.policy = make_policy(name, **kwargs)

    def __call__(self, env: Any, obs: dict) -> str:
        return self.policy.act([obs], [env.unwrapped])[0]


def make_teacher(spec: str) -> Teacher | None:
    """``"oracle"`` (None: the default), a registered policy's name, or a JSONL file of examples (read
    by :func:`load_examples` instead: it returns ``None`` here)."""
    if spec == "oracle":
        return None
    if spec.endswith(".jsonl"):
        return None
    from memgym.policies.managers import POLICIES

    POLICIES.get(spec)  # an unknown name lists the known ones
    return PolicyTeacher(spec)


def load_examples(path: str | Path) -> list[dict[str, Any]]:
    """Warm-start examples from a JSONL file, one per line: ``{"prompt": [messages], "completion": text}``
    (trajectories of any teacher, e.g. a larger model). The operation kinds are read from the completion.

    Raises:
        DatasetError: the file is missing or a line lacks a field (names the file, line and field).
    """
    import json

    from memgym.envs.action_parser import parse_action
    from memgym.errors import DatasetError

    path = Path(path)
    if not path.is_file():
        raise DatasetError("no such file", file=str(path))
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"not JSON ({exc.msg})", file=str(path), record=number) from exc
        for key, kind in (("prompt", list), ("completion", str)):
            if not isinstance(row.get(key) if isinstance(row, dict) else None, kind):
                raise DatasetError(f"expected a {kind.__name__}", file=str(path), record=number, field=key)
        kinds = sorted({op.kind for op in parse_action(row["completion"]).ops} - {"NOOP"})
        examples.append({"prompt": row["prompt"], "completion": row["completion"], "op": "+".join(kinds) or "NOOP"})
    return examples


def collect_examples(
    make_env: Callable[[], Any],
    episode_indices: Sequence[int],
    teacher: Teacher | None = None,
    *,
    seed: int = 0,
    prompt_format: Callable[[list[dict[str, str]]], list[dict[str, str]]] | None = None,
    compact_actions: bool = False,
) -> list[dict[str, Any]]:
    """Run ``teacher`` through each episode; one ``{"prompt", "completion", "op"}`` example per step.

    ``op`` names what the step did (``ADD``, ``UPDATE``, ``DELETE``, ``NOOP`` or a mix like ``ADD+DELETE``),
    for :func:`balance_operations`. ``prompt_format`` maps the observation's messages to the policy's
    prompt (as in rollouts); ``compact_actions`` shortens Mem0 JSON targets.
    """
    from memgym.envs.stepping import step_envs
    from memgym.trainers.prompting import compact_mem0_action

    env = make_env()
    teacher = teacher if teacher is not None else oracle_teacher
    examples: list[dict[str, Any]] = []
    for index in episode_indices:
        obs, _ = env.reset(seed=seed, options={"episode_index": int(index)})
        done = False
        while not done:
            text = teacher(env, obs)
            prompt = prompt_format(obs["messages"]) if prompt_format is not None else obs["messages"]
            [step] = step_envs([env], [text])
            info = step.info
            if info.get("error"):
                raise MemgymError(f"the teacher's action was refused at episode {index}: {info['error']}")
            kinds = sorted({op["op"]["kind"] for op in info.get("ops") or [] if op.get("ok")} - {"NOOP"})
            examples.append(
                {
                    "prompt": prompt,
                    "completion": compact_mem0_action(text) if compact_actions else text,
                    "op": "+".join(kinds) or "NOOP",
                    "episode_index": int(index),
                }
            )
            obs, done = step.observation, step.done
    close = getattr(env, "close", None)
    if close is not None:
        close()
    return examples


def balance_operations(examples: Sequence[dict[str, Any]], alpha: float, seed: int = 0) -> list[dict]:
    """Resample the examples so that rare operations are seen more often, at the same cost per epoch.

    Oracle trajectories are mostly ADDs (on the quickstart's data: 291 ADD, 85 UPDATE, 68 NOOP, 46
    DELETE), and a short warm start then writes ADDs where a restatement needs nothing or a loss needs a
    DELETE. Each operation kind gets a share proportional to ``count ** (1 - alpha)``: ``alpha=0`` keeps the
    set as it is, ``1`` gives every kind the same share. A kind's examples are drawn in a shuffled order,
    cycling when it needs more than it has; the total stays the same up to rounding.
    """
    if alpha <= 0 or not examples:
        return list(examples)
    rng = random.Random(seed)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for example in examples:
        by_kind.setdefault(example["op"], []).append(example)
    weights = {kind: len(group) ** (1.0 - alpha) for kind, group in sorted(by_kind.items())}
    total = sum(weights.values())
    quotas = {kind: round(len(examples) * w / total) for kind, w in weights.items()}
    out: list[dict[str, Any]] = []
    for kind, quota in quotas.items():
        group = by_kind[kind]
        order: list[dict[str, Any]] = []
        while len(order) < quota:
            order.extend(rng.sample(group, len(group)))
        out.extend(order[:quota])
    rng.shuffle(out)
    return out


def tokenize_examples(examples: Sequence[dict[str, Any]], tokenizer: Any, max_length: int) -> list[dict]:
    """Prompt ids as the generation backend builds them, completion ids + end of turn; loss on the latter."""
    from memgym.policies.backends.chat import encode_chats

    prompts = encode_chats(tokenizer, [e["prompt"] for e in examples])
    rows = []
    for prompt_ids, example in zip(prompts, examples, strict=True):
        completion = tokenizer(example["completion"], add_special_tokens=False)["input_ids"]
        completion = completion + [tokenizer.eos_token_id]
        ids = (prompt_ids + completion)[-max_length:]  # keep the completion; cut the prompt's start
        mask = ([0] * len(prompt_ids) + [1] * len(completion))[-max_length:]
        rows.append({"input_ids": ids, "completion_mask": mask})
    return rows


def run_sft(
    model: Any,
    tokenizer: Any,
    examples: Sequence[dict[str, Any]],
    cfg: SFTConfig,
    output_dir: str | Path,
    *,
    seed: int = 0,
    report_to: Sequence[str] = (),
    dtype: str = "float32",
) -> dict[str, Any]:
    """Train ``model`` in place on the examples with TRL's ``SFTTrainer`` (``dtype="bfloat16"``: under
    bfloat16 autocast, float32 weights).

    Returns the mean loss, seconds, examples and optimizer steps, and ``sft/history``: the logged
    ``(step, loss)`` pairs (the warm start's learning curve).
    """
    from datasets import Dataset
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    if not examples:
        raise MemgymError("no SFT examples: the teacher produced no steps")
    rows = tokenize_examples(examples, tokenizer, cfg.max_length)
    from memgym.trainers.modeling import resolve_dtype

    bf16 = resolve_dtype(dtype) is not None
    args = TRLSFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        completion_only_loss=True,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        logging_steps=5,
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        save_steps=max(cfg.save_steps, 1),
        save_total_limit=1,
        report_to=[r for r in report_to if r != "none"] or "none",
        seed=seed,
        data_seed=seed,
        use_cpu=not _has_cuda(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        bf16=bf16,
        padding_free=False,
        activation_checkpointing=False,
    )
    trainer = _cpu_friendly(SFTTrainer)(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    start = time.perf_counter()
    last = sft_checkpoint(output_dir)  # a run killed mid-SFT continues from its last checkpoint
    result = trainer.train(resume_from_checkpoint=str(last) if last is not None else None)
    model.eval()
    history = [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h]
    return {
        "sft/loss": float(result.training_loss),
        "sft/seconds": time.perf_counter() - start,
        "sft/examples": float(len(rows)),
        "sft/steps": float(result.global_step),
        "sft/history": history,
    }


def sft_checkpoint(output_dir: str | Path) -> Path | None:
    """The warm start's last complete checkpoint (``checkpoint-N`` with its trainer state), if any."""
    found = [p for p in Path(output_dir).glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]) if p.name.rsplit("-", 1)[-1].isdigit() else -1,
               default=None)


def drop_sft_checkpoints(output_dir: str | Path) -> None:
    """Delete the warm start's checkpoints once the run's own checkpoint holds its result."""
    import shutil

    for path in Path(output_dir).glob("checkpoint-*"):
        shutil.rmtree(path, ignore_errors=True)


def _cpu_friendly(sft_trainer: type) -> type:
    """``SFTTrainer`` with the completion loss computed from the hidden states of the completion tokens.

    TRL 1.16 always scores tokens through its fused, tiled LM-head kernel; on a CPU its pure-PyTorch tiles
    took 75% of a warm-start step (measured: 19 of 25 s on a tiny model). Projecting only the positions
    that carry a label through the output layer gives the same loss (token-level cross-entropy, summed and
    divided by the label tokens) at a fraction of the cost. Everything else is TRL's.
    """
    import torch
    import torch.nn.functional as F

    class CompletionLossSFTTrainer(sft_trainer):  # type: ignore[misc, valid-type]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            decoder = model.get_decoder()
            hidden = decoder(
                input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False
            ).last_hidden_state[:, :-1]
            target = labels[:, 1:]
            keep = target != -100
            logits = model.get_output_embeddings()(hidden[keep]).float()
            denominator = keep.sum() if num_items_in_batch is None else num_items_in_batch
            loss = F.cross_entropy(logits, target[keep], reduction="sum") / torch.as_tensor(
                denominator
            ).clamp(min=1)
            return (loss, None) if return_outputs else loss

    return CompletionLossSFTTrainer


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
