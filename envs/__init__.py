"""Memory bank, operations, retrieval, conversation data and the environments.

Importing this package registers memgym's environments with Gymnasium (lazy string entry points, no
environment module is imported). The environment classes and helpers load on first attribute access.

Example:
    >>> import memgym.envs
    >>> sorted(i for i in memgym.envs.list_envs() if i.startswith("memgym/"))
    ['memgym/AnswerAgent-v0', 'memgym/MemoryConsolidate-v0', 'memgym/MemoryConstruct-v0', 'memgym/MemoryManager-v0', 'memgym/MemoryOverwrite-v0']
"""

from __future__ import annotations

from memgym.envs.registration import (
    ENTRY_POINT_GROUP,
    discover_plugins,
    list_envs,
    make,
    register,
    register_envs,
)
from memgym.registry import lazy_module_attributes

register_envs()

# Public names that load their module on first access (keeps `import memgym.envs` light).
_LAZY: dict[str, str] = {
    "MemoryEnv": "memgym.envs.base",
    "Unit": "memgym.envs.units",
    "EnvState": "memgym.envs.progress",
    "AnswerAgent": "memgym.envs.answering",
    "AnswerCache": "memgym.envs.answering",
    "AnswerRequest": "memgym.envs.answering",
    "answer_pending": "memgym.envs.answering",
    "step_envs": "memgym.envs.stepping",
    "StepRecord": "memgym.envs.stepping",
    "MemoryWrapper": "memgym.envs.wrappers",
    "MemoryManagerEnv": "memgym.envs.manager",
    "MemoryConstructEnv": "memgym.envs.construct",
    "MemoryOverwriteEnv": "memgym.envs.overwrite",
    "MemoryConsolidateEnv": "memgym.envs.consolidate",
    "AnswerAgentEnv": "memgym.envs.answer_agent_env",
    "build_answer_memories": "memgym.envs.answer_memories",
    "EXTRACTORS": "memgym.envs.extractors",
    "check_env": "memgym.envs.checker",
    "UnicodeText": "memgym.envs.spaces",
    "ChatMessages": "memgym.envs.spaces",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "discover_plugins",
    "list_envs",
    "make",
    "register",
    "register_envs",
    *_LAZY,
]


__getattr__ = lazy_module_attributes(__name__, _LAZY, globals())
