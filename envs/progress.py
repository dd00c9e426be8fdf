"""What an environment remembers about the episode it is in: progress, snapshots, a step half done."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from memgym.envs.action_parser import ParseError
from memgym.envs.episode import Question
from memgym.envs.memory_bank import BankState, MemoryEntry
from memgym.envs.operations import OpResult
from memgym.envs.oracle import OracleIndex
from memgym.envs.units import Unit


@dataclass
class Progress:
    """Everything that changes during an episode, apart from the bank and the RNG."""

    episode_index: int
    units: list[Unit]
    points: dict[int, list[Question]]
    """Unit index -> the questions answered after that step."""
    oracle: OracleIndex | None
    """The episode's oracle labels by turn (``None``: the episode has no labels)."""
    cursor: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    op_counts: Counter = field(default_factory=Counter)
    shown: list[str] = field(default_factory=list)
    """Ids of the memories the current observation showed (what a structured ``target`` indexes)."""
    search_results: str = ""
    search_round: int = 0
    unit_tokens: int = 0
    extra: dict = field(default_factory=dict)
    """Room for subclasses and the oracle (``slot_ids``); deep-copied with the progress."""

    def copy(self) -> Progress:
        # units, points and the oracle index are never mutated, so clones share them (cheap for long episodes)
        return replace(
            self,
            scores=dict(self.scores),
            op_counts=Counter(self.op_counts),
            shown=list(self.shown),
            extra=copy.deepcopy(self.extra),
        )


@dataclass(frozen=True)
class EnvState:
    """A snapshot of an environment (see :meth:`memgym.envs.base.MemoryEnv.get_state`)."""

    progress: Progress | None
    bank: BankState
    rng_state: dict


@dataclass
class Draft:
    """A step between :meth:`~memgym.envs.base.MemoryEnv.begin_step` and ``end_step``."""

    unit: Unit
    results: list[OpResult]
    error: ParseError | None
    fmt: str
    questions: list[Question]
    memories: list[list[MemoryEntry]]
    stay: bool
    notes: dict
    """Extra info keys a subclass recorded while decoding (e.g. ``memory_truncated``)."""


def op_counts(results: Sequence[OpResult]) -> dict[str, int]:
    """A step's operations by kind (accepted ones) plus ``failed``: ``info["op_counts"]``."""
    counts = dict.fromkeys(("ADD", "UPDATE", "DELETE", "NOOP", "failed"), 0)
    for r in results:
        counts[r.op.kind if r.ok else "failed"] += 1
    return counts
