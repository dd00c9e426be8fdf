"""The one cache of answers (and judge verdicts), so scoring the same memory twice costs nothing.

During GRPO many rollouts of a group often end with the same bank (e.g. all NOOP), and evaluation
re-scores the same banks across runs. Answers are keyed by ``(memories shown, question, agent name)``:
the memories the agent reads (:func:`memories_hash`: ids, times and texts, in order) are a function of
the bank, the retriever and the question, so this key is at least as precise as a hash of the whole
bank, and a policy that changes what the agent reads (``answer_context="all"``) needs no key of its own.
Judge verdicts are keyed by ``(question, gold, prediction)``, which is everything the judge sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from memgym.envs.episode import Question
from memgym.errors import ConfigError, DatasetError, MemgymError

if TYPE_CHECKING:
    from memgym.envs.answering import AnswerAgent
    from memgym.envs.memory_bank import MemoryEntry

__all__ = ["AnswerCache", "memories_hash", "question_key"]

_FORMAT_VERSION = 1


def question_key(question: Question | str) -> str:
    """The part of a question an answer depends on.

    A :class:`Question` is keyed by its text, category and candidate values, not by its id: ids repeat
    across episodes ("q0" in every synthetic episode) and two questions with equal text but different
    candidates can get different answers from the same memory. A string is used as it is.
    """
    if isinstance(question, str):
        return question
    return json.dumps([question.question, question.category, list(question.candidates)], ensure_ascii=True)


def memories_hash(memories: Sequence[MemoryEntry]) -> str:
    """A hash of what an answer agent is shown (ids, times, texts, in order): the cache's memory key.

    ASCII-escaped before hashing, so any text a policy wrote (lone surrogates included) hashes.
    """
    payload = json.dumps([[m.id, m.timestamp, m.text] for m in memories], ensure_ascii=True)
    return hashlib.sha256(payload.encode("ascii")).hexdigest()[:16]


class AnswerCache:
    """In-memory answer and verdict cache with hit/miss counters and optional JSON persistence.

    Args:
        max_entries: Keep at most this many answers and this many verdicts, dropping the oldest
            first; ``None`` keeps everything.

    ``agent_name`` must name everything besides the bank and the question that changes an answer: the
    model, its prompt and sampling, the retriever and its top-k. Equal names are trusted to answer alike.

    >>> cache = AnswerCache()
    >>> cache.get_answer("bank0", "Where does Ana live?", "extractive") is None
    True
    >>> cache.put_answer("bank0", "Where does Ana live?", "extractive", "Lisbon")
    >>> cache.get_answer("bank0", "Where does Ana live?", "extractive"), cache.answer_hits, cache.answer_misses
    ('Lisbon', 1, 1)
    """

    def __init__(self, max_entries: int | None = None) -> None:
        if max_entries is not None and max_entries < 1:
            raise ConfigError(f"max_entries must be a positive number or None, got {max_entries}")
        self.max_entries = max_entries
        self._answers: dict[tuple[str, str, str], str] = {}
        self._verdicts: dict[tuple[str, str, str], float] = {}
        self.answer_hits = self.answer_misses = 0
        self.judge_hits = self.judge_misses = 0

    # ------------------------------------------------------------------ answers
    def get_answer(self, memory_key: str, question: Question | str, agent_name: str) -> str | None:
        """The cached answer, or ``None`` (each call counts as a hit or a miss).

        ``memory_key`` is :func:`memories_hash` of what the agent reads (any string works).
        """
        found = self._answers.get((memory_key, question_key(question), agent_name))
        if found is None:
            self.answer_misses += 1
        else:
            self.answer_hits += 1
        return found

    def put_answer(self, memory_key: str, question: Question | str, agent_name: str, answer: str) -> None:
        self._store(self._answers, (memory_key, question_key(question), agent_name), str(answer))

    def answer(
        self,
        agent: AnswerAgent,
        questions: Sequence[Question],
        memories: Sequence[Sequence[MemoryEntry]],
    ) -> list[str]:
        """``agent.answer(questions, memories)`` through the cache: one batched call for the misses only.

        Answers are keyed by :func:`memories_hash` of each question's memories and the agent's name
        (:func:`memgym.envs.answering.agent_name`).
        """
        from memgym.envs.answering import agent_name

        if len(questions) != len(memories):
            raise ConfigError(f"{len(questions)} questions but {len(memories)} memory lists")
        name = agent_name(agent)
        keys = [memories_hash(m) for m in memories]
        answers = [self.get_answer(k, q, name) for k, q in zip(keys, questions, strict=True)]
        missing = [i for i, a in enumerate(answers) if a is None]
        if missing:
            fresh = agent.answer([questions[i] for i in missing], [list(memories[i]) for i in missing])
            if len(fresh) != len(missing):
                raise MemgymError(
                    f"answer agent {name!r} returned {len(fresh)} answers for {len(missing)} questions"
                )
            for i, text in zip(missing, fresh, strict=True):
                answers[i] = str(text)
                self.put_answer(keys[i], questions[i], name, str(text))
        return answers  # type: ignore[return-value]

    # ------------------------------------------------------------------ verdicts
    def get_verdict(self, question: str, gold: str, prediction: str) -> float | None:
        """The cached judge score, or ``None`` (each call counts as a hit or a miss)."""
        found = self._verdicts.get((question, gold, prediction))
        if found is None:
            self.judge_misses += 1
        else:
            self.judge_hits += 1
        return found

    def put_verdict(self, question: str, gold: str, prediction: str, verdict: float) -> None:
        self._store(self._verdicts, (question, gold, prediction), float(verdict))

    # ------------------------------------------------------------------ bookkeeping
    def _store(self, table: dict, key: tuple[str, str, str], value: str | float) -> None:
        table.pop(key, None)  # re-inserting moves the key to the newest end
        table[key] = value
        if self.max_entries is not None:
            while len(table) > self.max_entries:
                del table[next(iter(table))]

    @property
    def hits(self) -> int:
        return self.answer_hits + self.judge_hits

    @property
    def misses(self) -> int:
        return self.answer_misses + self.judge_misses

    def stats(self) -> dict[str, int]:
        """Counters and sizes, e.g. for a trainer's log."""
        return {
            "answers": len(self._answers),
            "verdicts": len(self._verdicts),
            "answer_hits": self.answer_hits,
            "answer_misses": self.answer_misses,
            "judge_hits": self.judge_hits,
            "judge_misses": self.judge_misses,
        }

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        self._answers.clear()
        self._verdicts.clear()
        self.answer_hits = self.answer_misses = self.judge_hits = self.judge_misses = 0

    def __len__(self) -> int:
        return len(self._answers) + len(self._verdicts)

    def __bool__(self) -> bool:
        # Always true, even when empty: callers write ``if cache:`` to mean "a cache was given".
        return True

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write every entry to ``path`` as JSON, atomically (a crash never leaves half a file)."""
        path = Path(path)
        payload = {
            "format": "memgym.answer_cache",
            "version": _FORMAT_VERSION,
            "answers": [[*k, v] for k, v in self._answers.items()],
            "verdicts": [[*k, v] for k, v in self._verdicts.items()],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(payload, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, path: str | os.PathLike) -> int:
        """Add the entries saved in ``path`` (later ones win); returns how many were read.

        Raises:
            DatasetError: the file is not a cache written by :meth:`save`; nothing is added then.
        """
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"cannot read answer cache: {exc}", file=str(path)) from exc
        if not isinstance(payload, dict) or payload.get("format") != "memgym.answer_cache":
            raise DatasetError(
                "not a memgym answer cache (no 'format': 'memgym.answer_cache')", file=str(path)
            )
        answers = self._rows(payload, "answers", str, path)
        verdicts = self._rows(payload, "verdicts", (int, float), path)
        for *key, value in answers:
            self._store(self._answers, tuple(key), value)
        for *key, value in verdicts:
            self._store(self._verdicts, tuple(key), float(value))
        return len(answers) + len(verdicts)

    @staticmethod
    def _rows(payload: dict, field: str, value_type: type | tuple, path: str | os.PathLike) -> list[list]:
        """Validate every row before any is added, so a bad file changes nothing."""
        rows = payload.get(field, [])
        if not isinstance(rows, list):
            raise DatasetError("expected a list", file=str(path), field=field)
        for i, row in enumerate(rows):
            ok = (
                isinstance(row, list)
                and len(row) == 4
                and all(isinstance(k, str) for k in row[:3])
                and isinstance(row[3], value_type)
                and not isinstance(row[3], bool)
            )
            if not ok:
                raise DatasetError("expected [key, key, key, value]", file=str(path), record=i, field=field)
        return rows
