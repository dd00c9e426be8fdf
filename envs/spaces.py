"""Spaces for memory environments: any-Unicode text, chat messages, and the compact structured encoding.

Gymnasium's :class:`~gymnasium.spaces.Text` only accepts characters from its charset (alphanumerics by
default), so an LLM's answer with a space, a newline or an accented letter would fall outside it.
:class:`UnicodeText` accepts every ``str`` up to ``max_length``; :class:`ChatMessages` holds the chat prompt
a text-mode observation carries. Both batch in Gymnasium's vector envs as tuples (``batch_space`` turns
them into a ``Tuple`` of copies, ``concatenate`` into a tuple of items); they cannot live in shared memory,
so ``AsyncVectorEnv`` needs ``shared_memory=False``.

The structured mode (for non-LLM policies such as RLlib's) uses :func:`structured_action_space` and
:func:`featurize`: see their docstrings for the encoding.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces


def _broad_charset() -> str:
    ranges = [
        (0x20, 0x7E),  # printable ASCII, including the space
        (0xC0, 0x17F),  # Latin-1 letters and Latin Extended-A
        (0x391, 0x3C9),  # Greek
        (0x410, 0x44F),  # Cyrillic
        (0x4E00, 0x4E7F),  # a slice of CJK ideographs
        (0x1F600, 0x1F64F),  # emoticons (outside the BMP)
    ]
    chars = "".join(chr(c) for lo, hi in ranges for c in range(lo, hi + 1))
    return chars + "\n\t"


#: What :meth:`UnicodeText.sample` draws from: printable ASCII, Latin, Greek, Cyrillic, CJK, emoji,
#: newline and tab. Membership does not depend on it: any character is accepted.
BROAD_CHARSET: str = _broad_charset()


class UnicodeText(spaces.Text):
    """A text space that contains every Python ``str`` whose length is within bounds.

    Sampling draws characters from :data:`BROAD_CHARSET` with the space's own RNG. The space is not
    flattenable (arbitrary characters have no index).

    Example:
        >>> space = UnicodeText(20)
        >>> "Ça va? 你好 🙂\\n" in space, "x" * 21 in space, b"bytes" in space
        (True, False, False)
    """

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        charset: str = BROAD_CHARSET,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(max_length, min_length=min_length, charset=charset, seed=seed)

    def contains(self, x: Any) -> bool:
        """Any ``str`` between ``min_length`` and ``max_length`` characters."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    __hash__ = None  # type: ignore[assignment]  # mutable RNG inside; equality is by bounds


#: The roles a chat message may have.
CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


class ChatMessages(spaces.Space[list]):
    """A list of chat messages ``{"role": ..., "content": ...}``: the prompt of a text observation.

    Contains any list of at most ``max_messages`` dicts whose ``role`` is one of :data:`CHAT_ROLES` and
    whose ``content`` is a ``str`` of at most ``max_length`` characters (other keys are allowed). The value
    is a plain list, so it goes straight to ``GenerationBackend.generate([obs["messages"]])`` or a chat
    template.

    Example:
        >>> space = ChatMessages(max_length=100)
        >>> [{"role": "user", "content": "Où est Zoë?"}] in space, [{"role": "user"}] in space
        (True, False)
    """

    def __init__(
        self, max_length: int, *, max_messages: int = 64, seed: int | np.random.Generator | None = None
    ) -> None:
        self.max_length = int(max_length)
        self.max_messages = int(max_messages)
        super().__init__(shape=None, dtype=None, seed=seed)

    def contains(self, x: Any) -> bool:
        if not isinstance(x, list) or len(x) > self.max_messages:
            return False
        return all(
            isinstance(m, dict)
            and m.get("role") in CHAT_ROLES
            and isinstance(m.get("content"), str)
            and len(m["content"]) <= self.max_length
            for m in x
        )

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        """A system and a user message (sometimes an assistant reply) of random text (at most 256 chars)."""
        if mask is not None or probability is not None:
            raise NotImplementedError("ChatMessages.sample takes no mask or probability")
        text = UnicodeText(min(self.max_length, 256), seed=int(self.np_random.integers(2**31)))
        roles = ["system", "user"] + (["assistant"] if self.np_random.random() < 0.5 else [])
        return [{"role": r, "content": text.sample()} for r in roles[: self.max_messages]]

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def to_jsonable(self, sample_n: Sequence[list]) -> list:
        return [list(s) for s in sample_n]

    def from_jsonable(self, sample_n: list) -> list:
        return [list(s) for s in sample_n]

    def __repr__(self) -> str:
        return f"ChatMessages(max_length={self.max_length}, max_messages={self.max_messages})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, ChatMessages)
            and self.max_length == other.max_length
            and self.max_messages == other.max_messages
        )

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------------------------------- structured mode
#: Op codes of the structured action, in the order of its ``op`` entry.
STRUCTURED_OPS: tuple[str, ...] = ("NOOP", "ADD", "UPDATE", "DELETE")


def structured_action_space(n_targets: int, n_candidates: int, n_tiers: int = 1) -> spaces.Dict:
    """The structured action: one operation per step, as four small integers.

    - ``op``: index into :data:`STRUCTURED_OPS` (0 NOOP, 1 ADD, 2 UPDATE, 3 DELETE);
    - ``target``: which of the memories shown in the observation to UPDATE or DELETE (ignored otherwise);
    - ``content``: which of the step's candidate texts to write with ADD or UPDATE (ignored otherwise);
    - ``tier``: which tier to ADD into (index into the bank's tiers; ``Discrete(1)`` for flat banks).

    A ``Dict`` of ``Discrete`` spaces, which RLlib's default models handle. A target or content index that
    points at an empty slot is a decoding error: it is reported in ``info["error"]`` and changes nothing.
    """
    return spaces.Dict(
        {
            "op": spaces.Discrete(len(STRUCTURED_OPS)),
            "target": spaces.Discrete(max(1, n_targets)),
            "content": spaces.Discrete(max(1, n_candidates)),
            "tier": spaces.Discrete(max(1, n_tiers)),
        }
    )


def structured_observation_space(n_targets: int, n_candidates: int, dim: int) -> spaces.Box:
    """The ``Box`` that :func:`featurize` fills (all features lie in [0, 1])."""
    size = (n_candidates + n_targets) * dim + n_candidates + n_targets + n_candidates * n_targets + 2
    return spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)


_WORD = re.compile(r"\w+", re.UNICODE)


def hashed_bow(text: str, dim: int) -> np.ndarray:
    """An L2-normalised hashed bag of words (crc32, so it is the same in every process)."""
    vec = np.zeros(dim, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        vec[zlib.crc32(word.encode("utf-8", errors="surrogatepass")) % dim] += 1.0
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def featurize(
    candidates: Sequence[str],
    targets: Sequence[str],
    *,
    n_candidates: int,
    n_targets: int,
    dim: int,
    fill: float,
    progress: float,
) -> np.ndarray:
    """The numeric observation of the structured mode, laid out as:

    1. ``n_candidates × dim`` hashed bags of words of the candidate texts (zero rows for empty slots);
    2. ``n_targets × dim`` hashed bags of words of the shown memories;
    3. ``n_candidates`` then ``n_targets`` presence flags (1 where a slot holds text);
    4. ``n_candidates × n_targets`` cosine similarities between candidates and shown memories;
    5. the bank's fill ratio and the episode's progress, both in [0, 1].

    Hand-written rather than a learned encoder because a baseline policy needs a fixed, cheap, deterministic
    featuriser; LLM policies use the text mode instead.
    """
    cand = np.zeros((n_candidates, dim), dtype=np.float32)
    targ = np.zeros((n_targets, dim), dtype=np.float32)
    for i, text in enumerate(list(candidates)[:n_candidates]):
        cand[i] = hashed_bow(text, dim)
    for i, text in enumerate(list(targets)[:n_targets]):
        targ[i] = hashed_bow(text, dim)
    cand_mask = np.zeros(n_candidates, dtype=np.float32)
    cand_mask[: min(len(candidates), n_candidates)] = 1.0
    targ_mask = np.zeros(n_targets, dtype=np.float32)
    targ_mask[: min(len(targets), n_targets)] = 1.0
    sims = np.clip(cand @ targ.T, 0.0, 1.0)
    globals_ = np.array([min(max(fill, 0.0), 1.0), min(max(progress, 0.0), 1.0)], dtype=np.float32)
    return np.concatenate([cand.ravel(), targ.ravel(), cand_mask, targ_mask, sims.ravel(), globals_])


# ---------------------------------------------------------------------------------------- an env's spaces
_INT_MAX = np.iinfo(np.int64).max


def env_spaces(env: Any, max_action_chars: int, max_message_chars: int) -> tuple[spaces.Space, spaces.Space]:
    """The action and observation spaces of ``env`` in its action mode."""
    if env.action_mode == "structured":
        return (
            structured_action_space(env.top_k, env.n_candidates, len(env.tiers)),
            structured_observation_space(env.top_k, env.n_candidates, env.feature_dim),
        )
    count = spaces.Box(0, _INT_MAX, shape=(), dtype=np.int64)
    obs = spaces.Dict(
        {
            "messages": ChatMessages(max_message_chars),
            "unit": UnicodeText(256),
            "step": count,
            "memory_entries": count,
            "memory_tokens": count,
        }
    )
    return UnicodeText(max_action_chars), obs


#: What replaces the middle of a message longer than the observation space allows.
CUT_MARK = "\n[... {n:,} characters cut: the prompt is longer than max_message_chars ...]\n"


def fit_message(content: str, max_chars: int) -> str:
    """``content`` within ``max_chars``: a longer one keeps its start and its end around :data:`CUT_MARK`.

    Example:
        >>> fit_message("abcdefghij" * 20, 150)[:12], len(fit_message("abcdefghij" * 20, 150))
        ('abcdefghijab', 150)
    """
    if len(content) <= max_chars:
        return content
    mark = CUT_MARK.format(n=len(content))
    keep = max(max_chars - len(mark), 0)
    if keep == 0:
        return content[:max_chars]
    head = keep // 2
    return content[:head] + mark + content[len(content) - (keep - head):]


def text_observation(env: Any, unit_id: str, messages: list[dict[str, str]]) -> dict:
    """A text-mode observation: the prompt, what it shows, the step and the bank's size.

    Every message fits the observation space's ``max_message_chars`` (:func:`fit_message`), whatever the
    memory holds.
    """

    def count(n: int) -> np.ndarray:
        return np.asarray(n, dtype=np.int64)

    limit = getattr(getattr(env.observation_space, "spaces", {}).get("messages"), "max_length", None)
    if limit is not None and any(len(m["content"]) > limit for m in messages):
        messages = [{**m, "content": fit_message(m["content"], limit)} for m in messages]
    return {"messages": messages, "unit": unit_id[:256], "step": count(env.progress.cursor),
            "memory_entries": count(len(env.bank)), "memory_tokens": count(env.bank.total_tokens)}
