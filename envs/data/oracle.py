"""The oracle memory manager: turn an episode's per-turn :class:`OpLabel` s into bank operations.

A label names a fact *slot* (``"mei.city"``, ``"mei.pet.biscuit"``), not a memory id: ids are handed out
by the bank. The caller keeps ``slot_ids`` (slot -> id of the memory holding it) and updates it from the
:class:`OpResult` s, which :func:`apply_oracle` does for you. Provenance of every oracle operation is the
turn id, its timestamp the turn's session date-time.

Episodes without labels (the real benchmarks) replay to an empty bank.
"""

from __future__ import annotations

import weakref

from memgym.envs.episode import Episode, OpLabel
from memgym.envs.memory_bank import MemoryBank
from memgym.envs.operations import Operation, OpResult
from memgym.errors import ConfigError

# The last episode's labels indexed by turn: environments call oracle_operations once per turn, and
# re-scanning a 1M-token episode's labels each time would be quadratic.
_index_cache: tuple[weakref.ref, int, dict[str, list[OpLabel]], dict[str, str | None]] | None = None


def _index(episode: Episode) -> tuple[dict[str, list[OpLabel]], dict[str, str | None]]:
    global _index_cache
    if _index_cache is not None:
        ref, n_labels, by_turn, times = _index_cache
        if ref() is episode and n_labels == len(episode.op_labels):
            return by_turn, times
    by_turn: dict[str, list[OpLabel]] = {}
    for label in episode.op_labels:
        by_turn.setdefault(label.turn_id, []).append(label)
    times = {t.id: s.date_time for s in episode.sessions for t in s.turns}
    _index_cache = (weakref.ref(episode), len(episode.op_labels), by_turn, times)
    return by_turn, times


def oracle_labels(episode: Episode, turn_id: str) -> list[OpLabel]:
    """The labels of one turn (empty when the episode has none there)."""
    return list(_index(episode)[0].get(turn_id, []))


def _operation(
    label: OpLabel, slot_ids: dict[str, str], provenance: tuple[str, ...], timestamp: str | None
) -> Operation:
    memory_id = slot_ids.get(label.slot) if label.slot is not None else None
    if label.kind in ("ADD", "UPDATE") and label.text:
        if label.kind == "UPDATE" and memory_id is not None:
            return Operation.update(memory_id, label.text, provenance=provenance, timestamp=timestamp)
        # an UPDATE of a slot the bank lacks: a perfect manager adds what it should have had
        return Operation.add(label.text, provenance=provenance, timestamp=timestamp)
    if label.kind == "DELETE" and memory_id is not None:
        return Operation("DELETE", id=memory_id, provenance=provenance, timestamp=timestamp)
    return Operation("NOOP", provenance=provenance, timestamp=timestamp)


def oracle_operations(episode: Episode, turn_id: str, slot_ids: dict[str, str]) -> list[Operation]:
    """The operations a perfect manager applies at ``turn_id``, one per label (NOOP included).

    ``slot_ids`` maps a fact slot to the id of the memory holding it; it is read, not changed. An
    UPDATE of a slot missing from ``slot_ids`` becomes an ADD, a DELETE of one becomes a NOOP.
    """
    by_turn, times = _index(episode)
    timestamp = times.get(turn_id)
    return [_operation(label, slot_ids, (turn_id,), timestamp) for label in by_turn.get(turn_id, [])]


def apply_oracle(
    episode: Episode, turn_id: str, bank: MemoryBank, slot_ids: dict[str, str]
) -> list[OpResult]:
    """Apply the oracle operations of one turn to ``bank`` and update ``slot_ids`` from the results."""
    labels = oracle_labels(episode, turn_id)
    ops = oracle_operations(episode, turn_id, slot_ids)
    if not ops:
        return []
    results = bank.apply(ops)
    for label, result in zip(labels, results, strict=True):
        if not result.ok or label.slot is None:
            continue
        if result.op.kind in ("ADD", "UPDATE"):
            slot_ids[label.slot] = result.id  # type: ignore[assignment]
        elif result.op.kind == "DELETE":
            slot_ids.pop(label.slot, None)
    return results


def replay_oracle(
    episode: Episode,
    bank: MemoryBank | None = None,
    *,
    until: str | None = None,
    slot_ids: dict[str, str] | None = None,
) -> MemoryBank:
    """Apply every turn's labels in order (up to and including turn ``until``); returns the bank.

    Turns whose labels are all NOOP are skipped (they change nothing). Pass ``slot_ids`` to get the
    slot -> memory id map back.

    Raises:
        ConfigError: ``until`` is not a turn of the episode.
    """
    bank = MemoryBank() if bank is None else bank
    slot_ids = {} if slot_ids is None else slot_ids
    by_turn, times = _index(episode)
    if until is not None and until not in times:
        raise ConfigError(f"replay_oracle(until={until!r}): episode {episode.id!r} has no such turn")
    for turn in episode.turns():
        labels = by_turn.get(turn.id, ())
        if any(label.kind != "NOOP" for label in labels):
            apply_oracle(episode, turn.id, bank, slot_ids)
        if turn.id == until:
            break
    return bank
