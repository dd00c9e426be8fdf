"""The knobs of the synthetic generator (:class:`SyntheticConfig`) and the constants it is built on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from memgym.envs.data import _vocab as V
from memgym.errors import ConfigError

CATEGORIES: tuple[str, ...] = ("single-hop", "temporal", "multi-hop", "abstention", "counting")
ATTRS: tuple[str, ...] = ("city", "job", "car", "hobby", "pets")
ASSISTANT_NAME = "Assistant"


def _default_questions() -> dict[str, int]:
    return {"single-hop": 4, "temporal": 3, "multi-hop": 2, "abstention": 3, "counting": 2}


@dataclass
class SyntheticConfig:
    """The knobs of :func:`generate_synthetic` (YAML keys map one-to-one onto these fields)."""

    n_entities: int = 6
    """people besides the user (each gets a relation to the user and facts)"""
    facts_per_entity: int = 3
    """attributes per person, user included, out of city, job, car, hobby, pets (at most 5)"""
    update_rate: float = 0.35
    """probability that a fact changes (checked again after each change, up to max_updates)"""
    max_updates: int = 2
    """most changes of one fact"""
    deletion_rate: float = 0.2
    """probability that a retractable fact (job, car, hobby, a pet) is retracted at the end of its life"""
    restatement_rate: float = 0.2
    """probability that a stated value is restated later (a NOOP for a perfect manager)"""
    distractor_ratio: float = 0.3
    """share of the non-fact user turns that mention a value without stating a fact; the rest is small talk"""
    paraphrase_variety: int = 3
    """how many paraphrase templates each kind of turn draws from (1 = always the plainest)"""
    max_pets: int = 3
    """most pets a person with the pets attribute gets over the conversation"""
    n_sessions: int = 10
    """sessions in the conversation (ignored when target_tokens is set)"""
    turns_per_session: int = 20
    """turns per session, user and assistant together (even)"""
    target_tokens: int | None = None
    """if set, the conversation grows to at least this many whitespace tokens (e.g. 1_000_000)"""
    questions_per_category: dict[str, int] = field(default_factory=_default_questions)
    """questions per episode for each category (a category left out gets none); fewer when too few facts qualify"""
    mid_stream_fraction: float = 0.25
    """share of each category's questions asked mid-conversation (``asked_after`` a turn) not at the end"""
    start_year: int = 2023
    """year of the first session"""

    def __post_init__(self) -> None:
        for name in (
            "update_rate",
            "deletion_rate",
            "restatement_rate",
            "distractor_ratio",
            "mid_stream_fraction",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"SyntheticConfig.{name} must be within [0, 1], got {value!r}")
        if not 0 <= self.n_entities <= len(V.PEOPLE_NAMES):
            raise ConfigError(
                f"SyntheticConfig.n_entities must be within [0, {len(V.PEOPLE_NAMES)}], got {self.n_entities}"
            )
        if not 1 <= self.facts_per_entity <= len(ATTRS):
            raise ConfigError(
                f"SyntheticConfig.facts_per_entity must be within [1, {len(ATTRS)}] "
                f"(attributes {', '.join(ATTRS)}), got {self.facts_per_entity}"
            )
        for name, least in (
            ("max_updates", 0),
            ("paraphrase_variety", 1),
            ("max_pets", 1),
            ("n_sessions", 1),
        ):
            if getattr(self, name) < least:
                raise ConfigError(f"SyntheticConfig.{name} must be >= {least}, got {getattr(self, name)}")
        if self.turns_per_session < 2 or self.turns_per_session % 2:
            raise ConfigError(
                "SyntheticConfig.turns_per_session must be an even number >= 2 "
                f"(a user turn and an assistant reply), got {self.turns_per_session}"
            )
        if self.target_tokens is not None and self.target_tokens < 1:
            raise ConfigError(
                f"SyntheticConfig.target_tokens must be positive or None, got {self.target_tokens}"
            )
        unknown = set(self.questions_per_category) - set(CATEGORIES)
        if unknown:
            raise ConfigError(
                f"SyntheticConfig.questions_per_category has unknown categories {sorted(unknown)}; "
                f"known: {', '.join(CATEGORIES)}"
            )
        if any(n < 0 for n in self.questions_per_category.values()):
            raise ConfigError("SyntheticConfig.questions_per_category counts must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyntheticConfig:
        """Build from a plain mapping (a YAML file); unknown keys are errors, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown SyntheticConfig keys {unknown}; known keys: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
