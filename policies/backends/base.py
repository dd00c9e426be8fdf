"""The generation-backend interface: a batch of chat prompts in, texts (and token ids, log-probs) out.

Backends (transformers, vLLM, an OpenAI-compatible HTTP endpoint, TRL's vLLM engine) implement
:class:`GenerationBackend`; policies, answer agents, the LLM judge and the trainers call only this. The
trainers also need :class:`TrainableBackend`: a backend they can push updated weights into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

#: A chat prompt: a list of ``{"role": ..., "content": ...}`` messages.
ChatPrompt = list[dict[str, str]]


@dataclass
class SamplingParams:
    """How to sample. ``grammar``: a Lark grammar (llguidance's dialect) every completion must follow,
    one for all prompts or a list with one per prompt (``None`` entries: unconstrained); see
    :mod:`memgym.policies.backends.grammar` and :mod:`memgym.envs.grammars`."""

    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    grammar: str | list[str | None] | None = None

    def grammars(self, n: int) -> list[str | None]:
        """One grammar (or ``None``) per prompt of a batch of ``n``."""
        if self.grammar is None or isinstance(self.grammar, str):
            return [self.grammar] * n
        if len(self.grammar) != n:
            from memgym.errors import ConfigError

            raise ConfigError(f"SamplingParams.grammar has {len(self.grammar)} grammars for {n} prompts")
        return list(self.grammar)


@dataclass
class Generation:
    """One completion. Token ids and log-probs are filled by backends that can (trainers need them)."""

    text: str
    prompt_token_ids: list[int] | None = None
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    finish_reason: str | None = None


@runtime_checkable
class GenerationBackend(Protocol):
    """Anything that turns a batch of chat prompts into one :class:`Generation` per prompt."""

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        ...


@runtime_checkable
class TrainableBackend(GenerationBackend, Protocol):
    """A backend that samples from the weights being trained (the trainers' rollout backend)."""

    def sync_weights(self) -> None:
        """Push the trainer's current weights into the engine; a no-op for backends that hold the live model."""
        ...
