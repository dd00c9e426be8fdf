"""memgym: a reinforcement-learning gym and trainer for memory-managing LLM agents.

Example:
    >>> import memgym
    >>> env = memgym.make("memgym/MemoryManager-v0")
    >>> obs, info = env.reset(seed=0)
    >>> sorted(obs)[:2]
    ['memory_entries', 'memory_tokens']
"""

from __future__ import annotations

__version__ = "0.1.0"

from memgym.envs import list_envs, make, register
from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.envs.operations import Operation, OpResult

__all__ = ["MemoryBank", "MemoryEntry", "Operation", "OpResult", "__version__", "list_envs", "make", "register"]
