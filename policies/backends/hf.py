"""Generation with a transformers model in this process: CPU tests, the quickstart, and small GPU runs.

Prompts are rendered with the tokenizer's chat template, left-padded into batches of ``batch_size``
and decoded with ``model.generate``. Each :class:`Generation` carries the prompt token ids, the sampled
token ids and their log-probs under the model's own distribution (before temperature and top-p, the same
as vLLM's default ``raw_logprobs``; under a grammar, after its mask), which is what the trainers compare
against.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from memgym.errors import ConfigError
from memgym.policies.backends.base import ChatPrompt, Generation, SamplingParams
from memgym.policies.backends.chat import (
    check_params,
    check_prompts,
    cut_completion_at_stop,
    encode_chats,
    load_chat_template,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


class TransformersBackend:
    """A :class:`~memgym.policies.backends.TrainableBackend` over ``transformers`` ``generate``.

    Args:
        model: A model directory (or hub id, when online), or a loaded ``PreTrainedModel``. ``None`` uses
            the prepared default model (:func:`memgym.policies.models.default_model_path`).
        tokenizer: Needed when ``model`` is an object; loaded from the directory otherwise.
        device: Where to run; ``None`` leaves a passed model where it is.
        dtype: ``"float32"``, ``"bfloat16"``, a ``torch.dtype`` or ``"auto"``; ``None`` keeps the default.
        adapter: Directory of a LoRA adapter (peft) to apply on top of ``model``.
        batch_size: Prompts per ``generate`` call; 1 decodes one prompt at a time.
        chat_template: Jinja text, or the path of a ``.jinja`` file, used instead of the tokenizer's.
        return_logprobs: Keep the per-step logits to report log-probs (costs memory: steps x batch x vocab).
        source: The model being trained, when ``model`` is a copy of it in another precision (a bfloat16
            copy generates 1.3-2.6x faster on a CPU with native bfloat16); :meth:`sync_weights` copies the
            source's current weights into ``model``.
        fast_forward: A batch of one prompt under a grammar feeds each run of forced tokens in one forward
            pass (:func:`~memgym.policies.backends.grammar.generate_fast_forward`; the same tokens);
            ``False`` always uses ``generate`` (``experiments/bench_fast_forward.py`` compares them).

    Seeds: with ``SamplingParams.seed`` set, the same prompts, params and ``batch_size`` give the same
    completions; the seed drives a forked torch RNG, so the global RNG state is left as it was.
    """

    def __init__(
        self,
        model: str | Path | PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | str | None = None,
        *,
        device: str | torch.device | None = "cpu",
        dtype: str | torch.dtype | None = None,
        adapter: str | Path | None = None,
        batch_size: int = 16,
        chat_template: str | Path | None = None,
        return_logprobs: bool = True,
        source: torch.nn.Module | None = None,
        fast_forward: bool = True,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if model is None:
            from memgym.policies.models import default_model_path

            model = default_model_path()
        if isinstance(model, (str, Path)):
            kwargs = {"dtype": dtype} if dtype is not None else {}
            tokenizer = tokenizer if tokenizer is not None else str(model)
            model = AutoModelForCausalLM.from_pretrained(str(model), **kwargs)
        elif tokenizer is None:
            raise ConfigError("TransformersBackend: pass tokenizer= when model is a loaded model object")
        elif dtype is not None and dtype != "auto":
            model = model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
        if isinstance(tokenizer, (str, Path)):
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
        if adapter is not None:
            model = _apply_adapter(model, adapter)
        if device is not None:
            model = model.to(device)
        self.model = model
        self.source = source
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.chat_template = load_chat_template(chat_template)
        self.return_logprobs = return_logprobs
        self.fast_forward = fast_forward
        self.pad_token_id = _pad_token_id(tokenizer)
        self.eos_token_ids = _eos_token_ids(model, tokenizer)

    @property
    def model_name(self) -> str:
        """What the model is, for cache keys: its directory or hub id (``config._name_or_path``)."""
        return str(getattr(getattr(self.model, "config", None), "_name_or_path", "") or type(self.model).__name__)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def sync_weights(self) -> None:
        """Copy the trained model's weights into this backend's copy (``source``); without a source the
        backend generates with the live model object the trainer updates, so there is nothing to push."""
        if self.source is not None:
            with torch.no_grad():
                self.model.load_state_dict(self.source.state_dict(), strict=False)

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        """Generate one completion per chat prompt, in the order given."""
        params = check_params(params)
        check_prompts(prompts)
        if not prompts:
            return []
        encoded = encode_chats(self.tokenizer, prompts, self.chat_template)
        # Longest first: similar lengths share a batch (less padding) and memory errors show up at once.
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        results: list[Generation | None] = [None] * len(encoded)
        was_training = self.model.training
        self.model.eval()
        try:
            grammars = params.grammars(len(encoded))
            for batch_no, start in enumerate(range(0, len(order), self.batch_size)):
                rows = order[start : start + self.batch_size]
                seed = None if params.seed is None else params.seed + batch_no
                outputs = self._generate_batch(
                    [encoded[i] for i in rows], params, seed, [grammars[i] for i in rows]
                )
                for i, generation in zip(rows, outputs, strict=True):
                    results[i] = generation
        finally:
            self.model.train(was_training)
        return results  # type: ignore[return-value]

    def _generate_batch(
        self, batch: list[list[int]], params: SamplingParams, seed: int | None, grammars: list[str | None]
    ) -> list[Generation]:
        from transformers import GenerationConfig, LogitsProcessorList

        if self.fast_forward and len(batch) == 1 and grammars[0] is not None and not params.stop:
            return [self._generate_fast_forward(batch[0], params, seed, grammars[0])]
        device = self.device
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):  # left padding: every prompt ends where generation starts
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
        sample = params.temperature > 0
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=sample,
            temperature=params.temperature if sample else None,
            top_p=params.top_p if sample else None,
            top_k=0 if sample else None,  # SamplingParams has no top-k; transformers would default to 50
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            return_dict_in_generate=True,
            output_logits=self.return_logprobs,
            stop_strings=list(params.stop) or None,
        )
        stop_kwargs: dict[str, Any] = {"tokenizer": self.tokenizer} if params.stop else {}  # stop strings need it
        if any(g is not None for g in grammars):
            from memgym.policies.backends.grammar import GrammarLogitsProcessor

            unconstrained = 'start: /(?s:.*)/\n'  # a row without a grammar may write anything
            stop_kwargs["logits_processor"] = LogitsProcessorList(
                [GrammarLogitsProcessor(self.tokenizer, [g or unconstrained for g in grammars], self.pad_token_id)]
            )
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda, enabled=seed is not None), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                generation_config=config,
                **stop_kwargs,
            )
        completions = out.sequences[:, width:].cpu()
        logprobs = _sampled_logprobs(out.logits, completions) if self.return_logprobs else None
        return [
            self._finish(
                batch[row], completions[row].tolist(), None if logprobs is None else logprobs[row], params
            )
            for row in range(len(batch))
        ]

    def _generate_fast_forward(
        self, prompt_ids: list[int], params: SamplingParams, seed: int | None, grammar: str
    ) -> Generation:
        """One prompt under a grammar: its forced runs of tokens in one forward pass each
        (:func:`~memgym.policies.backends.grammar.generate_fast_forward`), the same tokens as ``generate``."""
        from memgym.policies.backends.grammar import generate_fast_forward

        generator = None
        if seed is not None and params.temperature > 0:
            generator = torch.Generator(device="cpu").manual_seed(seed)
        tokens, logprobs = generate_fast_forward(
            self.model, self.tokenizer, prompt_ids, grammar, max_new_tokens=params.max_new_tokens,
            temperature=params.temperature, top_p=params.top_p, eos_token_ids=self.eos_token_ids,
            generator=generator,
        )
        return self._finish(prompt_ids, tokens, logprobs if self.return_logprobs else None, params)

    def _finish(
        self, prompt_ids: list[int], tokens: list[int], logprobs: list[float] | None, params: SamplingParams
    ) -> Generation:
        """Trim one row at its end (EOS or stop string) and decode it.

        Token ids keep the EOS and the tokens that spelled a stop string (the model sampled them; trainers
        need them), while the text leaves both out, as vLLM and OpenAI do.
        """
        finish = "length"
        end = next((i for i, t in enumerate(tokens) if t in self.eos_token_ids), None)
        body = tokens if end is None else tokens[:end]
        if end is not None:
            tokens, finish = tokens[: end + 1], "stop"
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        text, cut, hit = cut_completion_at_stop(self.tokenizer, text, body, params.stop)
        if hit:
            tokens, finish = cut, "stop"
        return Generation(
            text=text,
            prompt_token_ids=list(prompt_ids),
            token_ids=tokens,
            logprobs=None if logprobs is None else logprobs[: len(tokens)],
            finish_reason=finish,
        )


def _sampled_logprobs(step_logits: tuple[torch.Tensor, ...], tokens: torch.Tensor) -> list[list[float]]:
    """Log-softmax of the raw logits at each step, read at the token that was sampled there."""
    columns = [
        torch.log_softmax(logits.float().cpu(), dim=-1).gather(1, tokens[:, t : t + 1])
        for t, logits in enumerate(step_logits)
    ]
    return torch.cat(columns, dim=1).tolist()


def _pad_token_id(tokenizer: Any) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    return 0


def _eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id that ends a turn: the model's generation config and the tokenizer may each name one."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        for token_id in value if isinstance(value, (list, tuple)) else [value]:
            if token_id is not None and int(token_id) not in ids:
                ids.append(int(token_id))
    return ids


def _apply_adapter(model: Any, adapter: str | Path) -> Any:
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise ConfigError(
            f"adapter directory {adapter} has no adapter_config.json (save it with save_pretrained)"
        )
    return PeftModel.from_pretrained(model, str(adapter))
