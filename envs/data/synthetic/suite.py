"""The synthetic benchmark suite: the default data of ``memgym bench``, conversations of three lengths."""

from __future__ import annotations

from typing import Any

from memgym.envs.episode import Episode

#: The suite: (length group, episodes, :class:`~memgym.envs.data.synthetic.config.SyntheticConfig` fields).
SYNTHETIC_SUITE: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("short", 6, {"n_sessions": 5}),
    ("medium", 6, {"n_sessions": 10}),
    ("long", 6, {"n_sessions": 20}),
)


def synthetic_suite(seed: int = 0, n_per_length: int | None = None) -> list[Episode]:
    """The default benchmark data (:data:`SYNTHETIC_SUITE`): episodes of three lengths, distinct ids.

    Each episode's ``metadata["suite"]`` names its length group.
    """
    from memgym.envs.data.synthetic import SyntheticConfig, generate_episode

    episodes, index = [], 0
    for name, count, fields in SYNTHETIC_SUITE:
        for _ in range(count if n_per_length is None else n_per_length):
            episode = generate_episode(seed, index, SyntheticConfig(**fields))
            episode.metadata["suite"] = name
            episodes.append(episode)
            index += 1
    return episodes
