"""Rollouts with vLLM through TRL's ``VLLMGeneration``: the trainers' GPU backend, with weight sync.

TRL's class already pushes the trainer's (PEFT-merged) weights into a colocated engine or a
``trl vllm-serve`` server; :class:`TRLVLLMBackend` gives it the
:class:`~memgym.policies.backends.TrainableBackend` interface. Prompts are tokenised with
:func:`~memgym.policies.backends.chat.encode_chats`, as in every other backend; the completion ids and
log-probs are vLLM's. Needs a CUDA GPU and the ``vllm`` extra; torch, TRL and vLLM are imported only when
the backend is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from memgym.errors import ConfigError, DependencyNotInstalled
from memgym.policies.backends.base import ChatPrompt, Generation, SamplingParams
from memgym.policies.backends.chat import (
    check_params,
    check_prompts,
    cut_completion_at_stop,
    encode_chats,
    load_chat_template,
)


class TRLVLLMBackend:
    """vLLM rollouts through TRL's ``VLLMGeneration`` (colocate or server mode, with weight sync).

    Args:
        model: The policy being trained (a ``torch.nn.Module``, PEFT-wrapped or not).
        tokenizer: Its tokenizer.
        mode: ``"colocate"`` (vLLM shares the training GPU in this process) or ``"server"`` (a separate
            ``trl vllm-serve``).
        server_base_url: The server's base URL in server mode (default ``http://localhost:8000``).
        gpu_memory_utilization: Fraction of GPU memory vLLM may take in colocate mode.
        max_new_tokens, temperature, top_p: The engine's initial sampling settings; each
            :meth:`generate` call sets them from its :class:`~memgym.policies.backends.SamplingParams`.
        chat_template: Jinja text or a ``.jinja`` path used instead of the tokenizer's.

    A stop string ends the text before it and the token ids at the token that completes it, as in the
    transformers backend.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        mode: Literal["colocate", "server"] = "colocate",
        server_base_url: str | None = None,
        gpu_memory_utilization: float = 0.3,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        chat_template: str | Path | None = None,
    ) -> None:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                "generation.use_vllm=true needs a CUDA GPU and none is visible. On CPU set "
                "generation.use_vllm=false: rollouts then use the transformers backend."
            )
        try:
            import vllm  # noqa: F401
        except ImportError as err:
            raise DependencyNotInstalled("vllm", "vllm", "for generation.use_vllm=true") from err
        from accelerate import Accelerator
        from trl.generation.vllm_generation import VLLMGeneration

        self.tokenizer = tokenizer
        self.chat_template = load_chat_template(chat_template)
        kwargs: dict[str, Any] = {}
        if mode == "server":
            kwargs["server_base_url"] = server_base_url or "http://localhost:8000"
        self.engine = VLLMGeneration(
            model,
            Accelerator(),
            tokenizer,
            mode=mode,
            gpu_memory_utilization=gpu_memory_utilization,
            max_completion_length=max_new_tokens,
            temperature=max(temperature, 1e-5),
            top_p=top_p,
            **kwargs,
        )

    def sync_weights(self) -> None:
        """Push the trainer's current weights into the vLLM engine (TRL merges LoRA adapters first)."""
        self.engine.sync_weights()

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        """Generate one completion per chat prompt with the engine's current weights."""
        params = check_params(params)
        check_prompts(prompts)
        if not prompts:
            return []
        ids = encode_chats(self.tokenizer, prompts, self.chat_template)
        self.engine.temperature = max(params.temperature, 1e-5)  # vLLM greedy = temperature ~0
        self.engine.top_p, self.engine.max_completion_length = params.top_p, params.max_new_tokens
        extra: dict[str, Any] = {} if params.seed is None else {"seed": params.seed}
        if params.stop:
            extra["stop"] = list(params.stop)  # vLLM ends there; the cut below makes ids and text agree
        self.engine.generation_kwargs = extra
        prompt_ids, completion_ids, logprobs, _ = self.engine.generate(ids, None, 1)
        logprobs = logprobs if logprobs is not None else [None] * len(completion_ids)
        return [
            self._finish(p_ids, c_ids, lps, params.stop)
            for p_ids, c_ids, lps in zip(prompt_ids, completion_ids, logprobs, strict=True)
        ]

    def _finish(
        self, prompt_ids: list[int], tokens: list[int], logprobs: list[list[float | None]] | None, stop: list[str]
    ) -> Generation:
        """Decode one completion and cut it at a stop string (token ids keep a final EOS, the text does not)."""
        tokens = list(tokens)
        eos = bool(tokens) and tokens[-1] == self.tokenizer.eos_token_id
        body = tokens[:-1] if eos else tokens
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        text, cut, hit = cut_completion_at_stop(self.tokenizer, text, body, stop)
        if hit:
            tokens = cut
        return Generation(
            text=text,
            prompt_token_ids=list(prompt_ids),
            token_ids=tokens,
            logprobs=None
            if logprobs is None
            else [float("nan") if lp[0] is None else lp[0] for lp in logprobs[: len(tokens)]],
            finish_reason="stop" if eos or hit else "length",
        )
