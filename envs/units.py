"""What one step of an environment shows (:class:`Unit`), how episodes become units, the candidate
texts a step offers, and small helpers for subclasses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from memgym.envs.action_parser import ParsedAction, ParseError
from memgym.envs.episode import Episode, Turn
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


def chunk_units(episode: Episode, by: str, max_tokens: int | None, tokenizer: Any) -> list[Unit]:
    """One unit per chunk of :func:`memgym.envs.data.chunking.chunk_episode` (ids ``chunk N``): the
    steps of the chunked environments (Mem-α, MemAgent)."""
    from memgym.envs.data.chunking import chunk_episode

    return [
        Unit(
            index=c.index,
            id=f"chunk {c.index}",
            turns=tuple(c.turns),
            text=c.text,
            date_time=c.date_time,
            n_tokens=c.n_tokens,
        )
        for c in chunk_episode(episode, by=by, max_tokens=max_tokens, tokenizer=tokenizer)  # type: ignore[arg-type]
    ]


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


_REF = re.compile(r"#(\d+)")


def resolve_candidate_refs(parsed: ParsedAction, candidates: Sequence[str]) -> ParsedAction:
    """Replace each ADD / UPDATE text ``#k`` by candidate ``k`` (1-based); a reference to no candidate
    makes its operation invalid (dropped and described in ``error``, the others kept)."""
    ops, problems = [], []
    for op in parsed.ops:
        ref = _REF.fullmatch(op.text.strip()) if op.kind in ("ADD", "UPDATE") and op.text else None
        if ref is None:
            ops.append(op)
        elif 1 <= int(ref.group(1)) <= len(candidates):
            ops.append(replace(op, text=candidates[int(ref.group(1)) - 1]))
        else:
            problems.append(f"{op.kind} text {op.text.strip()!r} names no option (there are {len(candidates)})")
    if not problems:
        return replace(parsed, ops=ops)
    message = "; ".join(problems + ([parsed.error.message] if parsed.error else []))
    return replace(parsed, ops=ops, error=ParseError("invalid_item", message), n_invalid=parsed.n_invalid + len(problems))


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raise a :class:`ConfigError` naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")


def action_error(code: str, message: str) -> ParseError:
    """An action error of the environment's own (decoding, not parsing), typed like the parser's."""
    return ParseError(code, message)  # type: ignore[arg-type]
