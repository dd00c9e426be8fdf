"""The embedded default data: seeded synthetic conversations whose every memory operation is labelled.

A user (with a name, e.g. "Alice") chats with an assistant over many sessions about herself and the
people around her (her sister Mei, her boss Tomas, ...). Each person has facts: a home city, a job, a
car, a hobby, pets. The user introduces people (ADD the relation), states facts (ADD), changes them
("I moved from Lyon to Oslo": UPDATE), retracts them ("I sold my red Volvo": DELETE), restates them
(NOOP), and buries them in small talk and distractors ("Mei has never been to Cairo": NOOP). Every turn
carries an :class:`~memgym.envs.episode.OpLabel`: what a perfect manager does, with the exact memory
text it writes (see :mod:`memgym.envs.oracle` to replay them).

Oracle memory texts are self-contained and name the person with the relation, e.g.
``"The home city of Mei (Alice's sister) is Oslo (the home city changed from Lyon to Oslo on
8 June, 2023)."``. Values are unique within an episode (no two facts share a value), so an answer is
an unambiguous string and exact match is meaningful.

Question categories (answers as of the turn the question is asked after, or of the end):

- ``single-hop``: the current value ("What is Mei's home city now?").
- ``temporal``: the value before the latest change ("What was Mei's home city before Oslo?") or the
  date of that change ("When did Mei's home city change to Oslo?", answered like "8 June, 2023").
- ``multi-hop``: a fact about a person named only by the relation, combining the introduction with the
  fact ("What is Alice's sister's job now?").
- ``abstention``: a retracted fact or one never stated (answer :data:`ABSTAIN_ANSWER`).
- ``counting``: "How many pets does Mei have now?" (answered in digits).

``Question.candidates`` lists every value mentioned for the asked slot up to the question (stated values
and distractor mentions; dates for "when" questions; pet names for counting).

Determinism: episode ``i`` of seed ``s`` is drawn from its own ``random.Random("memgym-synthetic:s:i")``,
so it is the same whatever ``n_episodes`` is, on any platform and Python hash seed.

Modules: :mod:`~memgym.envs.data.synthetic.config` (:class:`SyntheticConfig`, the categories and
attributes), :mod:`~memgym.envs.data.synthetic.plan` (people and their fact chains),
:mod:`~memgym.envs.data.synthetic.conversation` (turn texts and sessions) and
:mod:`~memgym.envs.data.synthetic.questions` (questions and answers); the word pools are in
:mod:`memgym.envs.data._vocab`. :mod:`~memgym.envs.data.synthetic.suite` is the benchmark's default data
(:func:`synthetic_suite`: conversations of three lengths).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

from memgym.envs.data.synthetic.config import ASSISTANT_NAME, ATTRS, CATEGORIES, SyntheticConfig
from memgym.envs.data.synthetic.conversation import _Conversation
from memgym.envs.data.synthetic.plan import _plan
from memgym.envs.data.synthetic.questions import _questions
from memgym.envs.data.synthetic.suite import SYNTHETIC_SUITE, synthetic_suite
from memgym.envs.episode import Episode
from memgym.errors import ConfigError

__all__ = [
    "ASSISTANT_NAME",
    "ATTRS",
    "CATEGORIES",
    "SYNTHETIC_SUITE",
    "SyntheticConfig",
    "generate_episode",
    "generate_synthetic",
    "iter_synthetic",
    "synthetic_suite",
]


def generate_episode(seed: int = 0, index: int = 0, config: SyntheticConfig | None = None) -> Episode:
    """Episode ``index`` of the synthetic dataset of ``seed`` (depends on nothing else)."""
    cfg = config or SyntheticConfig()
    rng = random.Random(f"memgym-synthetic:{seed}:{index}")
    people, events, species = _plan(rng, cfg)
    conv = _Conversation(rng, cfg, people, species)
    conv.build(events)
    episode_id = f"synthetic-{seed}-{index}"
    return Episode(
        id=episode_id,
        speakers=[conv.user.name, ASSISTANT_NAME],
        sessions=conv.sessions,
        questions=_questions(rng, cfg, conv, episode_id),
        op_labels=conv.labels,
        source="synthetic",
        metadata={
            "generator": "memgym.envs.data.synthetic",
            "seed": str(seed),
            "index": str(index),
            "config": json.dumps(cfg.to_dict(), sort_keys=True),
        },
    )


def iter_synthetic(
    n_episodes: int = 1, seed: int = 0, config: SyntheticConfig | None = None
) -> Iterator[Episode]:
    """Episodes one at a time (for datasets too large to hold)."""
    for index in range(n_episodes):
        yield generate_episode(seed, index, config)


def generate_synthetic(
    n_episodes: int = 1, seed: int = 0, config: SyntheticConfig | None = None
) -> list[Episode]:
    """``n_episodes`` synthetic episodes; episode ``i`` is the same whatever ``n_episodes`` is.

    Example:
        >>> from memgym.envs.data import generate_synthetic
        >>> [episode] = generate_synthetic(1, seed=0)
        >>> episode.source, len(episode.questions) > 0
        ('synthetic', True)
    """
    if n_episodes < 0:
        raise ConfigError(f"n_episodes must be >= 0, got {n_episodes}")
    return list(iter_synthetic(n_episodes, seed, config))
