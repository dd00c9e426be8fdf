"""memgym: a reinforcement-learning gym and trainer for memory-managing LLM agents."""

from __future__ import annotations

__version__ = "0.1.0"

from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.envs.operations import Operation, OpResult

__all__ = ["MemoryBank", "MemoryEntry", "Operation", "OpResult", "__version__"]
