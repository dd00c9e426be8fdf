"""What one step of an environment shows (:class:`Unit`), the candidate texts it offers, the oracle
operations for it (synthetic labels composed per fact slot), and small helpers for subclasses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memgym.envs.action_parser import ParseError
from memgym.envs.episode import OpLabel, Turn
from memgym.envs.operations import Operation, OpResult
from memgym.errors import ConfigError

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Unit:
    """What one step shows the policy: a turn, an extracted fact or a chunk of turns.

    ``turns`` are the conversation turns it covers (the provenance of anything written from it);
    ``text`` is what the step shows of them.
    """

    index: int
    id: str
    turns: tuple[Turn, ...]
    text: str
    date_time: str | None
    n_tokens: int


def compose_labels(labels: Sequence[OpLabel], slot_ids: dict[str, str]) -> list[Operation]:
    """The oracle operations for a run of labels, one per fact slot, against ``slot_ids``.

    Per slot, the labels' net effect: a slot held in the bank gets UPDATE to its final text or DELETE; a
    slot not held gets ADD of its final text (nothing when it ends deleted). This equals applying
    :func:`memgym.envs.data.oracle.oracle_operations` turn by turn, with fewer operations inside a chunk.
    """
    final: dict[str, str | None] = {}
    for label in labels:
        if label.slot is None or label.kind not in ("ADD", "UPDATE", "DELETE"):
            continue
        if label.kind == "DELETE":
            final[label.slot] = None
        elif label.text:
            final[label.slot] = label.text
    ops: list[Operation] = []
    for slot, text in final.items():
        held = slot_ids.get(slot)
        if held is not None:
            ops.append(Operation.delete(held) if text is None else Operation.update(held, text))
        elif text is not None:
            ops.append(Operation.add(text))
    return ops


def track_slots(slot_ids: dict[str, str], labels: Sequence[OpLabel], results: Sequence[OpResult]) -> None:
    """Update the slot -> memory id map from a step's results: a memory written with a slot's final
    oracle text now holds that slot; a slot whose memory was deleted is dropped."""
    final: dict[str, str | None] = {}
    for label in labels:
        if label.slot is not None and label.kind in ("ADD", "UPDATE", "DELETE"):
            final[label.slot] = None if label.kind == "DELETE" else label.text
    written = {
        r.op.text.strip(): r.id for r in results if r.ok and r.op.kind in ("ADD", "UPDATE") and r.op.text
    }
    deleted = {r.id for r in results if r.ok and r.op.kind == "DELETE"}
    for slot, text in final.items():
        if text is not None and text.strip() in written:
            slot_ids[slot] = written[text.strip()]  # type: ignore[assignment]
    for slot in [s for s, i in slot_ids.items() if i in deleted]:
        del slot_ids[slot]


def speaker_text(turn: Turn) -> str:
    """How a turn is written into memory and candidates: ``"Speaker: text"``."""
    return f"{turn.speaker}: {turn.text}"


def sentence_candidates(turns: Sequence[Turn], limit: int) -> tuple[str, ...]:
    """Candidate texts for the structured mode: each turn, then its sentences, without duplicates."""
    out: list[str] = [speaker_text(t) for t in turns]
    for t in turns:
        parts = [s for s in _SENTENCE.split(t.text.strip()) if s]
        if len(parts) > 1:
            out.extend(f"{t.speaker}: {s}" for s in parts)
    return tuple(dict.fromkeys(out))[:limit]


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raise a :class:`ConfigError` naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")


def action_error(code: str, message: str) -> ParseError:
    """An action error of the environment's own (decoding, not parsing), typed like the parser's."""
    return ParseError(code, message)  # type: ignore[arg-type]
