"""The oracle memory manager, in one module: synthetic operation labels turned into bank operations.

A label (:class:`~memgym.envs.episode.OpLabel`) names a fact *slot* (``"mei.city"``,
``"mei.pet.biscuit"``), not a memory id: ids are handed out by the bank. Whoever follows the oracle keeps
``slot_ids`` (slot -> id of the memory holding it) and updates it from the bank's results. Episodes
without labels (the real benchmarks) have no oracle.

- :class:`OracleIndex`: an episode's labels by turn (built once per episode, never a global cache);
- :func:`oracle_operations` / :func:`apply_oracle` / :func:`replay_oracle`: turn by turn, as a perfect
  manager would (what single-step environments build their bank with);
- :func:`compose_labels` / :func:`track_slots`: the net operations of several turns at once (a chunk),
  and which memory holds which slot after a policy's step (what ``MemoryEnv.oracle_ops`` uses);
- :func:`memory_lines`: MemAgent's oracle memory text (every slot's latest text, newest last);
- :class:`OracleActions`: the environment methods built on these (``env.oracle_ops()``,
  ``env.oracle_action()``, ``env.unit_labels(unit)``), mixed into :class:`~memgym.envs.base.MemoryEnv`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from memgym.envs.episode import Episode, OpLabel
from memgym.envs.memory_bank import MemoryBank
from memgym.envs.operations import Operation, OpResult
from memgym.errors import ConfigError

__all__ = [
    "OracleActions",
    "OracleIndex",
    "apply_oracle",
    "compose_labels",
    "memory_lines",
    "oracle_operations",
    "replay_oracle",
    "track_slots",
]


class OracleIndex:
    """An episode's labels by turn id and each turn's session time, built once."""

    def __init__(self, episode: Episode) -> None:
        self.episode = episode
        self.by_turn: dict[str, list[OpLabel]] = {}
        for label in episode.op_labels:
            self.by_turn.setdefault(label.turn_id, []).append(label)
        self.times = {t.id: s.date_time for s in episode.sessions for t in s.turns}

    def __bool__(self) -> bool:
        return bool(self.by_turn)

    def labels(self, turn_ids: Iterable[str]) -> list[OpLabel]:
        """The labels of these turns, in order (empty where a turn has none)."""
        return [label for t in turn_ids for label in self.by_turn.get(t, ())]


def _index(episode: Episode | OracleIndex) -> OracleIndex:
    return episode if isinstance(episode, OracleIndex) else OracleIndex(episode)


# ----------------------------------------------------------------------------- turn by turn
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


def oracle_operations(
    episode: Episode | OracleIndex, turn_id: str, slot_ids: dict[str, str]
) -> list[Operation]:
    """The operations a perfect manager applies at ``turn_id``, one per label (NOOP included).

    ``slot_ids`` maps a fact slot to the id of the memory holding it; it is read, not changed. An
    UPDATE of a slot missing from ``slot_ids`` becomes an ADD, a DELETE of one becomes a NOOP. Pass an
    :class:`OracleIndex` when calling this for many turns of one episode.
    """
    index = _index(episode)
    timestamp = index.times.get(turn_id)
    return [_operation(label, slot_ids, (turn_id,), timestamp) for label in index.by_turn.get(turn_id, [])]


def apply_oracle(
    episode: Episode | OracleIndex, turn_id: str, bank: MemoryBank, slot_ids: dict[str, str]
) -> list[OpResult]:
    """Apply the oracle operations of one turn to ``bank`` and update ``slot_ids`` from the results."""
    index = _index(episode)
    labels = index.by_turn.get(turn_id, [])
    ops = oracle_operations(index, turn_id, slot_ids)
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
    episode: Episode | OracleIndex,
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
    index = _index(episode)
    bank = MemoryBank() if bank is None else bank
    slot_ids = {} if slot_ids is None else slot_ids
    if until is not None and until not in index.times:
        raise ConfigError(f"replay_oracle(until={until!r}): episode {index.episode.id!r} has no such turn")
    for turn in index.episode.turns():
        if any(label.kind != "NOOP" for label in index.by_turn.get(turn.id, ())):
            apply_oracle(index, turn.id, bank, slot_ids)
        if turn.id == until:
            break
    return bank


# ----------------------------------------------------------------------------- several turns at once
def _final_texts(labels: Sequence[OpLabel]) -> dict[str, str | None]:
    """Each slot's text after these labels (``None``: deleted), in the order slots are first touched."""
    final: dict[str, str | None] = {}
    for label in labels:
        if label.slot is None or label.kind not in ("ADD", "UPDATE", "DELETE"):
            continue
        if label.kind == "DELETE":
            final[label.slot] = None
        elif label.text:
            final[label.slot] = label.text
    return final


def compose_labels(labels: Sequence[OpLabel], slot_ids: dict[str, str]) -> list[Operation]:
    """The oracle operations for a run of labels, one per fact slot, against ``slot_ids``.

    Per slot, the labels' net effect: a slot held in the bank gets UPDATE to its final text or DELETE; a
    slot not held gets ADD of its final text (nothing when it ends deleted). This equals applying
    :func:`oracle_operations` turn by turn, with fewer operations inside a chunk.
    """
    ops: list[Operation] = []
    for slot, text in _final_texts(labels).items():
        held = slot_ids.get(slot)
        if held is not None:
            ops.append(Operation.delete(held) if text is None else Operation.update(held, text))
        elif text is not None:
            ops.append(Operation.add(text))
    return ops


def track_slots(slot_ids: dict[str, str], labels: Sequence[OpLabel], results: Sequence[OpResult]) -> None:
    """Update the slot -> memory id map from a step's results: a memory written with a slot's final
    oracle text now holds that slot; a slot whose memory was deleted is dropped."""
    written = {
        r.op.text.strip(): r.id for r in results if r.ok and r.op.kind in ("ADD", "UPDATE") and r.op.text
    }
    deleted = {r.id for r in results if r.ok and r.op.kind == "DELETE"}
    for slot, text in _final_texts(labels).items():
        if text is not None and text.strip() in written:
            slot_ids[slot] = written[text.strip()]  # type: ignore[assignment]
    for slot in [s for s, i in slot_ids.items() if i in deleted]:
        del slot_ids[slot]


def memory_lines(slots: dict[str, str], labels: Sequence[OpLabel]) -> None:
    """MemAgent's oracle memory: update ``slots`` (slot -> text, newest last) with ``labels`` in place.

    A touched slot moves to the end, so the most recent fact ends the list; a deleted slot is dropped.
    """
    for label in labels:
        if label.slot is None or label.kind not in ("ADD", "UPDATE", "DELETE"):
            continue
        slots.pop(label.slot, None)
        if label.kind != "DELETE" and label.text:
            slots[label.slot] = label.text


class OracleActions:
    """What a :class:`~memgym.envs.base.MemoryEnv` offers from its episode's oracle labels."""

    def unit_labels(self: Any, unit: Any) -> list[OpLabel]:
        """The oracle labels of a unit's turns (empty for episodes without labels)."""
        oracle = self._progress.oracle if self._progress is not None else None
        return [] if oracle is None else oracle.labels(t.id for t in unit.turns)

    def oracle_ops(self: Any) -> list[Operation]:
        """The operations the synthetic oracle applies at the current step, given the current bank.

        The oracle labels of the step's turns are composed per fact slot (:func:`compose_labels`); slots
        map to memory ids by following which memories the policy wrote with the oracle's exact text
        (:func:`track_slots`), so a policy that always follows the oracle gets the oracle's memory.

        Raises:
            ConfigError: the episode has no oracle labels (only synthetic data has them).
        """
        p = self._require_active()
        if not p.oracle:
            raise ConfigError(f"episode {self.episode.id!r} has no oracle labels (synthetic data has them)")
        slot_ids = {s: i for s, i in p.extra.get("slot_ids", {}).items() if i in self.bank}
        return compose_labels(self.unit_labels(p.units[p.cursor]), slot_ids)

    def oracle_action(self: Any) -> Any:
        """The oracle's operations (:meth:`oracle_ops`) as the text this environment's prompt asks for."""
        if self.action_mode == "structured":
            raise ConfigError("oracle_action() writes text actions; use action_mode='text'")
        return self.render_action(self.oracle_ops())
