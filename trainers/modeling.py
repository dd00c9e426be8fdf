"""The policy model for training: loading, LoRA adapters, PPO's value head, and its generation backend."""

from __future__ import annotations

from typing import Any

import torch

from memgym.errors import ConfigError
from memgym.policies.backends import TrainableBackend
from memgym.trainers.config import GenerationConfig, ModelConfig


def load_policy(cfg: ModelConfig) -> tuple[torch.nn.Module, Any]:
    """Load the model and tokenizer named by ``cfg.name_or_path`` as a plain, trainable float32 model."""
    from memgym.policies import models

    name = cfg.name_or_path
    if name == "tiny":
        model, tokenizer = models.tiny_model()
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = models.default_model_path() if name in ("smollm2-135m", "default") else name
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model, tokenizer


def training_device() -> torch.device:
    """Where this process trains: its GPU (``cuda:LOCAL_RANK`` under a multi-process launcher), else the CPU."""
    import os

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def decoder_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The model's stack of decoder blocks (the ``ModuleList`` with one entry per hidden layer)."""
    n = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise ConfigError(f"cannot find the {n} decoder blocks of {type(model).__name__}")


def top_blocks(model: torch.nn.Module, k: int) -> list[torch.nn.Module]:
    """The top ``k`` decoder blocks; a clear error when ``k`` is out of range."""
    blocks = decoder_blocks(model)
    n = len(blocks)
    if not 1 <= k <= n:
        raise ConfigError(f"model.trainable_layers={k}, but the model has {n} decoder blocks (use 1..{n})")
    return list(blocks[n - k :])


def freeze_lower_layers(model: torch.nn.Module, k: int) -> torch.nn.Module:
    """Leave only the top ``k`` decoder blocks and the final norm trainable.

    Why: on a CPU the backward pass costs about twice the forward one. With the embeddings and lower
    blocks frozen, autograd records nothing below the first trainable block, so a warm-start step over
    the top third of SmolLM2's 30 blocks took 0.80 s per example instead of 1.71 s (2 threads).
    """
    keep = top_blocks(model, k)
    for p in model.parameters():
        p.requires_grad_(False)
    for block in keep:
        for p in block.parameters():
            p.requires_grad_(True)
    final_norm = getattr(getattr(model, "model", None), "norm", None)
    if final_norm is not None:
        for p in final_norm.parameters():
            p.requires_grad_(True)
    return model


def apply_peft(model: torch.nn.Module, cfg: ModelConfig) -> torch.nn.Module:
    """Wrap the model with fresh LoRA adapters (peft); only the adapters train."""
    from peft import LoraConfig, get_peft_model

    targets: Any = cfg.lora_target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    if cfg.trainable_layers:  # name each linear layer of the top blocks (peft matches names by suffix)
        top = {id(block) for block in top_blocks(model, cfg.trainable_layers)}
        prefixes = tuple(f"{name}." for name, m in model.named_modules() if id(m) in top)
        targets = [
            name
            for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear)
            and name.startswith(prefixes)
            and (targets == "all-linear" or name.rsplit(".", 1)[-1] in targets)
        ]
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


class ValueHead(torch.nn.Module):
    """A scalar value read from the language model's last hidden state (PPO's critic)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.summary = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.summary.weight)  # start at V = 0: no bias before any return is seen
        torch.nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden.to(self.summary.weight.dtype)).squeeze(-1)


def hidden_size(model: torch.nn.Module) -> int:
    config = model.config
    return int(getattr(config, "hidden_size", None) or config.get_text_config().hidden_size)


def build_backend(gen: GenerationConfig, model: torch.nn.Module, tokenizer: Any) -> TrainableBackend:
    """The generation backend of rollouts: vLLM on a GPU when asked, else transformers on this model.

    Both sample from the weights being trained: the transformers backend holds the live model object; the
    vLLM one gets the weights pushed after every update (:meth:`TrainableBackend.sync_weights`).
    """
    from memgym.policies.backends import make_backend

    if gen.use_vllm:
        return make_backend(
            "trl_vllm",
            model=model,
            tokenizer=tokenizer,
            mode=gen.vllm_mode,
            server_base_url=gen.vllm_server_base_url,
            gpu_memory_utilization=gen.vllm_gpu_memory_utilization,
            max_new_tokens=gen.max_new_tokens,
            temperature=gen.temperature,
            top_p=gen.top_p,
        )
    dtype = resolve_dtype(gen.dtype)
    if dtype is not None and dtype != next(model.parameters()).dtype:
        import copy

        copy_ = copy.deepcopy(model).to(dtype).eval()
        for p in copy_.parameters():
            p.requires_grad_(False)
        return make_backend("hf", model=copy_, tokenizer=tokenizer, device=None, batch_size=gen.batch_size, source=model)
    return make_backend("hf", model=model, tokenizer=tokenizer, device=None, batch_size=gen.batch_size)


def native_bfloat16() -> bool:
    """Whether this machine computes bfloat16 natively (a CUDA GPU that supports it, or a CPU with
    AVX512-BF16 or AMX); on other CPUs bfloat16 is emulated and slower than float32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def resolve_dtype(name: str) -> torch.dtype | None:
    """``"auto"`` (bfloat16 where :func:`native_bfloat16`, else ``None``: float32), ``"float32"`` or
    ``"bfloat16"``."""
    if name == "auto":
        return torch.bfloat16 if native_bfloat16() else None
    return {"float32": None, "bfloat16": torch.bfloat16}[name]
