"""Fact extractors for the memory manager: what each turn says, as the facts the manager steps through.

Memory-R1 (like Mem0) does not show its Memory Manager raw turns: an LLM first extracts the facts of each
new message, and the manager decides one operation per fact. ``memgym/MemoryManager-v0`` takes an
``extractor`` (``extractor="llm"``, ``extractor_kwargs={...}``, or any callable ``Turn -> list[str]``)
and then takes one step per extracted fact (a turn with no fact gets no step).

Extractors by name (:data:`EXTRACTORS`; plugins add theirs with ``EXTRACTORS.register``):

============  ================================================================================
``turn``      the turn itself, one fact (what the environment does without an extractor)
``sentences`` model-free: one fact per sentence, questions and short small talk dropped
``llm``       Mem0's fact-extraction prompt on any generation backend, batched over an episode's
              turns and cached (:class:`memgym.policies.extractors.LLMFactExtractor`)
============  ================================================================================

An extractor may also implement ``extract_many(turns, dates) -> list[list[str]]``: the environment
then extracts an episode's turns in one call (one generation batch for an LLM extractor).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from memgym.envs.episode import Episode, Turn
from memgym.errors import ConfigError
from memgym.registry import Registry

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@runtime_checkable
class FactExtractor(Protocol):
    """The facts one turn states, each a short text (none for small talk)."""

    def __call__(self, turn: Turn) -> list[str]: ...


class TurnExtractor:
    """The turn as it is: one fact per turn (no extraction)."""

    name = "turn"

    def __call__(self, turn: Turn) -> list[str]:
        return [turn.text] if turn.text.strip() else []


class SentenceExtractor:
    """Model-free: one fact per sentence; questions and sentences under ``min_words`` words are dropped.

    Args:
        min_words: the shortest sentence kept (small talk such as "Got it." is shorter).
        drop_questions: drop sentences ending in ``?`` (they state nothing).
    """

    name = "sentences"

    def __init__(self, min_words: int = 3, drop_questions: bool = True) -> None:
        self.min_words, self.drop_questions = int(min_words), bool(drop_questions)

    def __call__(self, turn: Turn) -> list[str]:
        parts = [s.strip() for s in _SENTENCE.split(turn.text.strip()) if s.strip()]
        return [s for s in parts if len(s.split()) >= self.min_words and not (self.drop_questions and s.endswith("?"))]


#: Extractors by the names configs use; entries are lazy ``"module:Class"`` paths.
EXTRACTORS: Registry[Any] = Registry("fact extractor")
EXTRACTORS.register("turn", TurnExtractor)
EXTRACTORS.register("sentences", SentenceExtractor)
EXTRACTORS.register("llm", "memgym.policies.extractors:LLMFactExtractor")


def make_extractor(extractor: str | Callable[[Turn], list[str]] | None, **kwargs: Any) -> Callable | None:
    """An extractor object: ``None`` (no extraction), a callable as given, or one built by name."""
    if extractor is None or callable(extractor):
        if kwargs:
            raise ConfigError(f"extractor_kwargs {sorted(kwargs)} need an extractor name")
        return extractor
    if isinstance(extractor, str):
        return EXTRACTORS.get(extractor)(**kwargs)
    raise ConfigError(f"extractor must be a name ({', '.join(EXTRACTORS.names())}) or a callable, got {extractor!r}")


def extract_episode(extractor: Callable[[Turn], list[str]], episode: Episode) -> list[list[str]]:
    """The facts of every turn of ``episode``, in order: one ``extract_many`` call when the extractor
    has one (batched), else one call per turn."""
    turns = episode.turns()
    sessions = episode.session_of()
    many = getattr(extractor, "extract_many", None)
    if callable(many):
        facts = many(turns, [sessions[t.id].date_time for t in turns])
        if len(facts) != len(turns):
            raise ConfigError(f"the extractor returned facts for {len(facts)} of {len(turns)} turns")
        return [list(f) for f in facts]
    return [list(extractor(t)) for t in turns]


def clean_facts(facts: Sequence[Any]) -> list[str]:
    """Facts as one-line, non-empty, distinct strings, in order."""
    out = [" ".join(str(f).split()) for f in facts if isinstance(f, (str, int, float)) and str(f).strip()]
    return list(dict.fromkeys(out))


__all__ = [
    "EXTRACTORS",
    "FactExtractor",
    "SentenceExtractor",
    "TurnExtractor",
    "clean_facts",
    "extract_episode",
    "make_extractor",
]
