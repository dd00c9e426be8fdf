"""Memory-manager policies, answer agents and generation backends.

The names below load their module on first access, so ``import memgym.policies`` stays light (no
torch, no transformers).
"""

from __future__ import annotations

from memgym.registry import lazy_module_attributes

_LAZY: dict[str, str] = {
    "MemoryPolicy": "memgym.policies.managers",
    "POLICIES": "memgym.policies.managers",
    "BASELINES": "memgym.policies.managers",
    "HEURISTICS": "memgym.policies.managers",
    "make_policy": "memgym.policies.managers",
    "LLMPolicy": "memgym.policies.llm_policy",
    "run_bench": "memgym.policies.bench",
    "BenchResult": "memgym.policies.bench",
}

__all__ = list(_LAZY)


__getattr__ = lazy_module_attributes(__name__, _LAZY, globals())
