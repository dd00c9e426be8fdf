"""What an environment remembers about the episode it is in: progress, snapshots, a step half done."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from memgym.envs.action_parser import ParseError
from memgym.envs.episode import Question
from memgym.envs.memory_bank import BankState, MemoryEntry
from memgym.envs.operations import OpResult
from memgym.envs.oracle import OracleIndex
from memgym.envs.units import Unit
from memgym.errors import MemgymError


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
    pending: dict[int, list[Question]] = field(default_factory=dict)
    """Unit index -> questions determined but not yet asked after that step (for ``qa_pending``)."""

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
    pending: list[Question] = field(default_factory=list)
    """Questions determined but not yet asked, answered only for the ``qa_pending`` reward."""


def op_counts(results: Sequence[OpResult]) -> dict[str, int]:
    """A step's operations by kind (accepted ones) plus ``failed``: ``info["op_counts"]``."""
    counts = dict.fromkeys(("ADD", "UPDATE", "DELETE", "NOOP", "failed"), 0)
    for r in results:
        counts[r.op.kind if r.ok else "failed"] += 1
    return counts


def snapshot(env: Any) -> EnvState:
    """The episode progress, the bank and the RNG of ``env`` (a :class:`~memgym.envs.base.MemoryEnv`)."""
    if env._draft is not None:
        raise MemgymError("cannot snapshot between begin_step() and end_step()")
    progress = None if env._progress is None else env._progress.copy()
    return EnvState(progress, env.bank.snapshot(), copy.deepcopy(env.np_random.bit_generator.state))


def restore(env: Any, state: EnvState) -> None:
    """Put ``env`` back in a state :func:`snapshot` took (of it or of one of its clones)."""
    env._draft = None
    env.bank.restore(state.bank)
    env._progress = None if state.progress is None else state.progress.copy()
    env.np_random.bit_generator.state = copy.deepcopy(state.rng_state)


def clone(env: Any) -> Any:
    """A copy of ``env`` in its current state, cheaply: the bank is copied, the retriever cloned for the
    copy, the RNG duplicated; episodes, units, answer agent and cache are shared."""
    if env._draft is not None:
        raise MemgymError("cannot spawn between begin_step() and end_step()")
    twin = copy.copy(env)
    twin.bank = env.bank.copy()
    twin.retriever = env.retriever.clone_for(twin.bank)
    twin._np_random = copy.deepcopy(env.np_random)
    twin._progress = None if env._progress is None else env._progress.copy()
    twin.action_space = copy.deepcopy(env.action_space)
    twin.observation_space = copy.deepcopy(env.observation_space)
    return twin
