"""Generation backends: the interface, and the backends by name (``make_backend("hf", model=...)``).

The interface (:class:`GenerationBackend`, :class:`TrainableBackend`, :class:`SamplingParams`,
:class:`Generation`, :data:`ChatPrompt`) lives in :mod:`memgym.policies.backends.base`; the chat encoding
and input checks every backend shares in :mod:`memgym.policies.backends.chat`. Backends are registered
as lazy ``"module:Class"`` paths, so importing this package loads neither torch, vLLM nor httpx; the
chosen backend's module is imported on first use:

- ``"hf"``: transformers ``generate`` in this process (CPU tests, small GPU runs);
- ``"vllm"``: vLLM's offline engine (GPU);
- ``"openai"``: an OpenAI-compatible HTTP server;
- ``"trl_vllm"``: TRL's vLLM engine with weight sync, the trainers' GPU rollout backend.
"""

from __future__ import annotations

from typing import Any

from memgym.policies.backends.base import (
    ChatPrompt,
    Generation,
    GenerationBackend,
    SamplingParams,
    TrainableBackend,
)
from memgym.registry import Registry

BACKENDS: Registry[Any] = Registry("backend")
BACKENDS.register("hf", "memgym.policies.backends.hf:TransformersBackend")
BACKENDS.register("vllm", "memgym.policies.backends.vllm:VLLMBackend")
BACKENDS.register("openai", "memgym.policies.backends.openai_http:OpenAIBackend")
BACKENDS.register("trl_vllm", "memgym.policies.backends.trl_vllm:TRLVLLMBackend")


def make_backend(name: str, **kwargs: Any) -> GenerationBackend:
    """Build the backend registered as ``name`` with ``kwargs``; unknown names list the known ones."""
    return BACKENDS.get(name)(**kwargs)


__all__ = [
    "BACKENDS",
    "ChatPrompt",
    "Generation",
    "GenerationBackend",
    "SamplingParams",
    "TrainableBackend",
    "make_backend",
]
