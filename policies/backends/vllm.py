"""Generation with vLLM's offline engine, for GPU machines (rollouts at training scale).

vLLM is an optional extra (``pip install 'memgym[vllm]'``; its wheels are CUDA builds that pin their
own torch), imported only when a :class:`VLLMBackend` is built. Prompts are rendered with the same
chat template and tokenizer as the transformers backend and passed to ``LLM.generate`` as token ids,
so both backends see identical prompt tokens (as TRL's colocate mode does). Written against vLLM's
documented offline API (``LLM``, ``SamplingParams(logprobs=0)``, ``RequestOutput``), versions 0.22-0.31.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memgym.errors import DependencyNotInstalled
from memgym.policies.backends.base import ChatPrompt, Generation, SamplingParams
from memgym.policies.backends.chat import check_params, check_prompts, encode_chats, load_chat_template


class VLLMBackend:
    """A :class:`~memgym.policies.backends.GenerationBackend` over ``vllm.LLM``.

    Args:
        model: A model directory or hub id; ``None`` uses the prepared default model.
        chat_template: Jinja text or a ``.jinja`` path used instead of the tokenizer's.
        **engine_kwargs: Passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len``,
            ``tensor_parallel_size``, ``enable_lora``, ...).

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
        try:
            import vllm
        except ImportError as exc:
            raise DependencyNotInstalled("vllm", "vllm", "for the vLLM backend (GPU machines)") from exc
        if model is None:
            from memgym.policies.models import default_model_path

            model = default_model_path()
        self._vllm = vllm
        self.llm = vllm.LLM(model=str(model), **engine_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.chat_template = load_chat_template(chat_template)

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        """Generate one completion per chat prompt; vLLM schedules the whole batch itself."""
        params = check_params(params)
        check_prompts(prompts)
        if not prompts:
            return []
        encoded = encode_chats(self.tokenizer, prompts, self.chat_template)
        sampling = [self._sampling_params(params, i) for i in range(len(encoded))]
        requests = [{"prompt_token_ids": ids} for ids in encoded]
        outputs = self.llm.generate(requests, sampling_params=sampling, use_tqdm=False)
        return [_to_generation(ids, out) for ids, out in zip(encoded, outputs, strict=True)]

    def _sampling_params(self, params: SamplingParams, index: int) -> Any:
        return self._vllm.SamplingParams(
            n=1,
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=None if params.seed is None else params.seed + index,
            stop=list(params.stop) or None,
            logprobs=0,  # only the sampled token's log-prob
        )


def _to_generation(prompt_ids: list[int], request_output: Any) -> Generation:
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
