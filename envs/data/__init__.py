"""Conversation data: one episode schema, a synthetic generator with operation labels, loaders, chunking.

Episode schema
==============

Every source (synthetic, LoCoMo, LongMemEval, MemoryAgentBench, CRI, your own JSONL) becomes a list of
:class:`~memgym.envs.episode.Episode`; :func:`~memgym.envs.episode.to_dataset` turns them into a
``datasets.Dataset`` with the explicit features of :func:`~memgym.envs.episode.episode_features`.

``Episode``
    ``id`` (str), ``speakers`` (list of names), ``sessions``, ``questions``, ``op_labels``,
    ``source`` (``"synthetic"``, ``"locomo"``, ...), ``metadata`` (str -> str; lists and objects as JSON).
``Session``
    ``id`` (``"D3"``), ``date_time`` (as the source writes it, e.g. ``"1:56 pm on 8 May, 2023"``, or
    ``None``), ``turns`` (may be empty: LoCoMo lists some sessions with a date and no turns).
``Turn``
    ``id`` (stable, ``"D3:7"`` = session 3, turn 7), ``speaker``, ``text``.
``Question``
    ``id``, ``question``, ``answers`` (accepted strings; :data:`~memgym.envs.episode.ABSTAIN_ANSWER`,
    ``"not mentioned"``, when the right answer is that it is not known), ``category``, ``evidence`` (the
    turn ids stating the relevant facts), ``asked_after`` (the turn id after which it is asked, ``None``
    for the end of the episode), and for synthetic data ``slot`` (the fact asked about, e.g.
    ``"mei.city"``) and ``candidates`` (every value mentioned for that slot up to the question).
``OpLabel`` (synthetic data)
    ``turn_id``, ``kind`` (``ADD`` / ``UPDATE`` / ``DELETE`` / ``NOOP``), ``slot`` (``"mei.city"``,
    ``"mei.pet.biscuit"``, ``"mei.relation"``; ``None`` for small talk), ``text`` (the memory a perfect
    manager writes, for ADD and UPDATE). Every turn has one label; replay them with
    :func:`memgym.envs.oracle.replay_oracle`.

Categories by source: synthetic ``single-hop``, ``temporal``, ``multi-hop``, ``abstention``,
``counting``; LoCoMo ``multi-hop``, ``temporal``, ``open-domain``, ``single-hop``, ``adversarial``;
LongMemEval its ``question_type`` or ``abstention``; MemoryAgentBench its ``metadata.source``; CRI
``profile``, ``temporal``, ``knowledge-update``, ``conflict``.

Entry points
============

- :func:`generate_synthetic` / :class:`SyntheticConfig`: the embedded default data.
- :func:`load_episodes` (format detected or named), :func:`save_episodes` (generic JSONL),
  :func:`resolve_episodes` (what environments call: ``"synthetic"``, ``"cri"``, a path, or a list).
- :func:`memory_r1_split`: LoCoMo's Memory-R1 train / validation / test split.
- :func:`chunk_episode`, :func:`episode_tokens`: chunks by turn, session or token budget.
- :func:`synthetic_suite`: the benchmark's default data (conversations of three lengths).
- The oracle memory manager that replays the labels is :mod:`memgym.envs.oracle`.
- ``memgym data generate | stats | convert``: the command line.
"""

from __future__ import annotations

from memgym.envs.data.chunking import Chunk, chunk_episode, episode_tokens
from memgym.envs.data.jsonl import save_episodes
from memgym.envs.data.loaders import FORMATS, detect_format, load_episodes, resolve_episodes
from memgym.envs.data.locomo import memory_r1_split
from memgym.envs.data.stats import dataset_stats
from memgym.envs.data.synthetic import (
    CATEGORIES,
    SYNTHETIC_SUITE,
    SyntheticConfig,
    generate_episode,
    generate_synthetic,
    iter_synthetic,
    synthetic_suite,
)

__all__ = [
    "CATEGORIES",
    "FORMATS",
    "SYNTHETIC_SUITE",
    "Chunk",
    "SyntheticConfig",
    "chunk_episode",
    "dataset_stats",
    "detect_format",
    "episode_tokens",
    "generate_episode",
    "generate_synthetic",
    "iter_synthetic",
    "load_episodes",
    "memory_r1_split",
    "resolve_episodes",
    "synthetic_suite",
    "save_episodes",
]
