"""Memory-manager policies, answer agents and generation backends.

The names below load their module on first access, so ``import memgym.policies`` stays light (no
torch, no transformers).
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'memgym.policies' has no attribute {name!r}")
