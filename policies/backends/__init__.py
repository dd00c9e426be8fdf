"""Generation backends by name: ``make_backend("hf", model=...)``, ``"vllm"``, ``"openai"``.

Backends are registered as lazy ``"module:Class"`` paths, so importing this package loads neither
torch, vLLM nor httpx; the chosen backend's module is imported on first use.
"""

from __future__ import annotations

from typing import Any

from memgym.policies.backend import GenerationBackend
from memgym.registry import Registry

BACKENDS: Registry[Any] = Registry("backend")
BACKENDS.register("hf", "memgym.policies.backends.hf:TransformersBackend")
BACKENDS.register("vllm", "memgym.policies.backends.vllm:VLLMBackend")
BACKENDS.register("openai", "memgym.policies.backends.openai_http:OpenAIBackend")


def make_backend(name: str, **kwargs: Any) -> GenerationBackend:
    """Build the backend registered as ``name`` with ``kwargs``; unknown names list the known ones."""
    return BACKENDS.get(name)(**kwargs)


__all__ = ["BACKENDS", "make_backend"]
