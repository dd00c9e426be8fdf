"""Cut an episode into the chunks an environment streams, and count its tokens.

A chunk renders its turns one per line as ``Speaker: text``; the first line of each session inside the
chunk carries the session's date-time, ``[1:56 pm on 8 May, 2023] Alice: ...``, so every chunk says when
it happened without repeating the date on every line.

Token counts use a *tokenizer*: ``None`` (whitespace words, the default everywhere in memgym), a Hugging
Face tokenizer (anything with ``encode``; special tokens are not counted), or a callable ``str -> int``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from memgym.envs.episode import Episode, Session, Turn
from memgym.errors import ConfigError

ChunkBy = Literal["turn", "session", "tokens"]
CHUNK_BY: tuple[str, ...] = ("turn", "session", "tokens")


@dataclass
class Chunk:
    """Consecutive turns of an episode and their rendered text.

    ``date_time`` is the date-time of the session the chunk starts in; ``session_ids`` lists every session
    the chunk touches, in order; ``n_tokens`` is the exact token count of ``text``.
    """

    index: int
    turns: list[Turn]
    session_ids: list[str]
    date_time: str | None
    text: str
    n_tokens: int


def token_counter(tokenizer: Any = None) -> Callable[[str], int]:
    """A ``str -> int`` counter from ``None`` (whitespace words), a HF tokenizer, or a callable."""
    if tokenizer is None:
        return lambda text: len(text.split())
    if hasattr(tokenizer, "encode"):  # HF tokenizers are callable too, so test for encode first
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    if callable(tokenizer):
        return lambda text: int(tokenizer(text))
    raise ConfigError(
        f"tokenizer must be None, a Hugging Face tokenizer or a callable str -> int, "
        f"got {type(tokenizer).__name__}"
    )


def _count_many(tokenizer: Any, texts: list[str]) -> list[int]:
    """Counts of many texts; one batched call for a fast HF tokenizer instead of one call per text."""
    if tokenizer is not None and hasattr(tokenizer, "encode") and callable(tokenizer) and texts:
        try:
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            return [len(x) for x in ids]
        except (TypeError, KeyError):
            pass  # not a HF tokenizer after all: count one by one
    count = token_counter(tokenizer)
    return [count(t) for t in texts]


def render_turn(turn: Turn, date_time: str | None = None) -> str:
    """One chunk line: ``[date_time] Speaker: text`` (the date only when given)."""
    line = f"{turn.speaker}: {turn.text}"
    return f"[{date_time}] {line}" if date_time else line


def _render(items: list[tuple[Session, Turn]]) -> str:
    lines, previous = [], None
    for session, turn in items:
        lines.append(render_turn(turn, session.date_time if session is not previous else None))
        previous = session
    return "\n".join(lines)


def _pack(
    items: list[tuple[Session, Turn]], line_tokens: list[int], date_tokens: dict[str, int], max_tokens: int
) -> list[list[tuple[Session, Turn]]]:
    """Greedy packing of consecutive turns under ``max_tokens`` (a longer single turn stays whole).

    Costs are per line (a session's date counts on the first line of that session in the chunk), so for
    subword tokenizers a chunk may differ from ``max_tokens`` by the tokens a line join merges or adds.
    """
    groups: list[list[tuple[Session, Turn]]] = []
    current: list[tuple[Session, Turn]] = []
    used = 0
    for (session, turn), tokens in zip(items, line_tokens, strict=True):
        opens_session = not current or current[-1][0] is not session
        cost = tokens + (date_tokens.get(session.id, 0) if opens_session else 0)
        if current and used + cost > max_tokens:
            groups.append(current)
            current, used = [], 0
            cost = tokens + date_tokens.get(session.id, 0)
        current.append((session, turn))
        used += cost
    if current:
        groups.append(current)
    return groups


def chunk_episode(
    episode: Episode, by: ChunkBy = "session", max_tokens: int | None = None, tokenizer: Any = None
) -> list[Chunk]:
    """Chunks of ``episode``: one per turn, one per session, or packed under a token budget.

    Args:
        episode: the conversation.
        by: ``"turn"``, ``"session"`` (sessions without turns give no chunk) or ``"tokens"``.
        max_tokens: the budget for ``by="tokens"`` (required there); with ``by="session"``, sessions
            longer than this are split at turn boundaries. A single turn over the budget is one chunk.
        tokenizer: see the module docstring.

    Raises:
        ConfigError: an unknown ``by``, or ``by="tokens"`` without a positive ``max_tokens``.
    """
    if by not in CHUNK_BY:
        raise ConfigError(f"chunk by {by!r} is unknown; use one of {', '.join(CHUNK_BY)}")
    if max_tokens is not None and max_tokens < 1:
        raise ConfigError(f"max_tokens must be positive, got {max_tokens}")
    if by == "tokens" and max_tokens is None:
        raise ConfigError("chunk_episode(by='tokens') needs max_tokens, e.g. max_tokens=2048")
    items = [(s, t) for s in episode.sessions for t in s.turns]
    if by == "turn":
        groups = [[item] for item in items]
    elif max_tokens is None:
        groups = [[(s, t) for t in s.turns] for s in episode.sessions if s.turns]
    else:
        line_tokens = _count_many(tokenizer, [render_turn(t) for _, t in items])
        dated = [s for s in episode.sessions if s.date_time and s.turns]
        date_counts = _count_many(tokenizer, [f"[{s.date_time}]" for s in dated])
        date_tokens = {s.id: n for s, n in zip(dated, date_counts, strict=True)}
        if by == "tokens":
            groups = _pack(items, line_tokens, date_tokens, max_tokens)
        else:
            groups, start = [], 0
            for session in episode.sessions:
                end = start + len(session.turns)
                groups += _pack(items[start:end], line_tokens[start:end], date_tokens, max_tokens)
                start = end
    texts = [_render(group) for group in groups]
    counts = _count_many(tokenizer, texts)
    return [
        Chunk(
            index=i,
            turns=[t for _, t in group],
            session_ids=list(dict.fromkeys(s.id for s, _ in group)),
            date_time=group[0][0].date_time,
            text=text,
            n_tokens=n,
        )
        for i, (group, text, n) in enumerate(zip(groups, texts, counts, strict=True))
    ]


def episode_tokens(episode: Episode, tokenizer: Any = None) -> int:
    """The length of an episode in tokens: the sum over its session chunks (what an environment streams)."""
    return sum(chunk.n_tokens for chunk in chunk_episode(episode, "session", tokenizer=tokenizer))
