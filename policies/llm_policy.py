"""The LLM memory manager: the environment's prompt in, the model's raw text out, on any backend.

Each environment already renders its own prompt (Memory-R1's manager JSON, Mem-α's tool calls,
MemAgent's memory rewrite: :mod:`memgym.envs.prompts`) into ``observation["messages"]``, so the policy
only sends those chats to a :class:`~memgym.policies.backends.GenerationBackend`, all environments of a
call in ONE ``generate`` batch, and hands the completions back unparsed: parsing, validation and the
format penalty are the environment's job, so whatever the model writes (even gibberish) is absorbed there.

Example:
    >>> from memgym.policies.backends import make_backend
    >>> policy = LLMPolicy(make_backend("openai", base_url="http://localhost:8000/v1", model="m"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import GenerationBackend, SamplingParams

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv


class LLMPolicy:
    """A memory manager that asks a language model (the policy being trained, or any served model).

    Args:
        backend: a :class:`~memgym.policies.backends.GenerationBackend` object, or a backend name for
            :func:`memgym.policies.backends.make_backend` (``"hf"``, ``"vllm"``, ``"openai"``).
        params: sampling parameters (default: greedy, 512 new tokens: a chunk's tool calls can be long).
        name: the name reports show (default ``"llm"``).
        constrained: ``None`` (the model writes anything), ``"format"`` or ``"choices"``: sample only
            valid actions, under each environment's :meth:`~memgym.envs.base.MemoryEnv.action_grammar`
            of that style (needs a backend that supports grammars: transformers, vLLM).
        **backend_kwargs: arguments of the backend when ``backend`` is a name (e.g. ``model=``).

    Attributes:
        tokens_generated: completion tokens over all calls (the backend's token ids when it reports
            them, else whitespace words).
        calls: ``generate`` calls made.
    """

    def __init__(
        self,
        backend: GenerationBackend | str = "hf",
        params: SamplingParams | None = None,
        name: str = "llm",
        constrained: str | None = None,
        **backend_kwargs: Any,
    ) -> None:
        if isinstance(backend, str):
            from memgym.policies.backends import make_backend

            backend = make_backend(backend, **backend_kwargs)
        elif backend_kwargs:
            raise ConfigError(
                f"backend arguments {sorted(backend_kwargs)} need a backend name, not a backend object"
            )
        if not isinstance(backend, GenerationBackend):
            raise ConfigError(
                f"backend must have a generate(prompts, params) method; got {type(backend).__name__}"
            )
        self.backend = backend
        self.params = params if params is not None else SamplingParams(max_new_tokens=512, temperature=0.0)
        self.name = name
        if constrained is not None:
            from memgym.envs.grammars import GRAMMAR_STYLES
            from memgym.envs.units import check_choice

            check_choice("constrained", constrained, GRAMMAR_STYLES)
        self.constrained = constrained
        self.tokens_generated = 0
        self.calls = 0

    def check(self, env: Any) -> None:
        """The policy writes text: the environment must be in text mode."""
        if getattr(env.unwrapped, "action_mode", "text") != "text":
            raise ConfigError(
                "the LLM policy writes text actions; make the environment with action_mode='text'"
            )

    def act(self, observations: list[dict], envs: Sequence[MemoryEnv] | None = None) -> list[str]:
        """The raw completion for each observation's ``messages``, generated in one batch."""
        prompts = []
        for i, obs in enumerate(observations):
            messages = obs.get("messages") if isinstance(obs, dict) else None
            if not messages:
                raise ConfigError(
                    f"observation {i} has no 'messages'; the LLM policy needs text observations"
                )
            prompts.append([{"role": str(m["role"]), "content": str(m["content"])} for m in messages])
        if not prompts:
            return []
        params = self.params
        if self.constrained is not None:
            if envs is None or len(envs) != len(prompts):
                raise ConfigError("a constrained LLM policy needs the environments, to ask each for its grammar")
            params = replace(params, grammar=action_grammars(envs, self.constrained, params.max_new_tokens))
        generations = self.backend.generate(prompts, params)
        if len(generations) != len(prompts):
            raise MemgymError(
                f"the backend returned {len(generations)} generations for {len(prompts)} prompts"
            )
        self.calls += 1
        for gen in generations:
            self.tokens_generated += (
                len(gen.token_ids) if gen.token_ids is not None else len(gen.text.split())
            )
        return [gen.text for gen in generations]

    def stats(self) -> dict[str, int]:
        """``tokens_generated`` and ``calls`` so far."""
        return {"tokens_generated": self.tokens_generated, "calls": self.calls}


def action_grammars(envs: Sequence[Any], style: str, max_tokens: int) -> list[str | None]:
    """Each environment's grammar of a valid action now (:meth:`~memgym.envs.base.MemoryEnv.action_grammar`)."""
    return [env.unwrapped.action_grammar(style, max_tokens) for env in envs]
