"""Benchmark protocols: how a published table computes its figures, so memgym's can sit beside them.

A :class:`Protocol` fixes everything that changes a figure: the data split, the categories counted, the
metrics (each with its benchmark's exact tokenisation, :data:`memgym.rewards.metrics.METRICS`), the LLM
judge's prompt and parsing (:data:`memgym.rewards.judge.JUDGE_STYLES`), the hints the benchmark adds to
the question it gives the answering model, how the data is chunked or ordered, and how the overall
figure is averaged. ``memgym bench --protocol NAME`` runs one; by default the data's natural protocol
(:func:`natural_protocol`); every report and ``results.json`` names the protocol it used.

==================  ========================================================================
``memgym``          memgym's own figures (SQuAD-style EM / F1, BLEU-1 on SQuAD words, memgym's
                    abstention rule, every category); the default for synthetic, CRI and JSONL data
``locomo``          LoCoMo's QA evaluation (snap-research/locomo ``task_eval/evaluation.py``):
                    ``locomo_f1`` per category 1-5, its temporal date hint and category-5 choice
``mem0``            Mem0's evaluation of LoCoMo: ``mem0_f1``, ``mem0_bleu1``, J (its judge),
                    category 5 excluded (:mod:`~memgym.rewards.protocols.mem0`)
``memory-r1``       the ``mem0`` metrics on the Memory-R1 split (train conv-26, validation conv-30,
                    test the other eight), category 5 excluded
``longmemeval``     LongMemEval's judge per question type, the question date, sessions by date,
                    accuracy per type, overall, task-averaged and on abstention questions
``memoryagentbench``  each sub-task's metric and post-processing, 4,096-token sentence chunks
==================  ========================================================================

The differences from memgym's own figures, measured, are in ``rewards/protocols/NOTE.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memgym.envs.episode import Episode, Question
from memgym.errors import ConfigError
from memgym.registry import Registry

if TYPE_CHECKING:
    from memgym.rewards.judge import JudgeItem

__all__ = [
    "PROTOCOLS",
    "Hint",
    "Protocol",
    "Selection",
    "get_protocol",
    "natural_protocol",
]


@dataclass(frozen=True)
class Hint:
    """What the answer agent is asked instead of the bare question, as the benchmark asks it.

    ``choices`` are the ``(letter, text)`` options of a multiple-choice hint; :meth:`resolve` maps a
    reply that only names a letter back to the option's text, as LoCoMo's ``get_cat_5_answer`` does.
    """

    question: str
    choices: tuple[tuple[str, str], ...] = ()

    def resolve(self, answer: str) -> str:
        """The answer to score: LoCoMo's rule for a choice (a one-letter or ``(x)`` reply names an option;
        anything else is kept, stripped and lower-cased); the answer itself without choices."""
        if not self.choices:
            return answer
        text = answer.strip().lower()
        letters = dict(self.choices)
        first, second = self.choices[0][0], self.choices[1][0]
        if len(text) == 1:
            return letters[first] if first in text else letters[second]
        if len(text) == 3:
            return letters[first] if f"({first})" in text else letters[second]
        return text


@dataclass
class Selection:
    """The episodes a protocol runs, which part of its split, and what was left out (for the report)."""

    episodes: list[Episode]
    part: str | None = None
    notes: list[str] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)


def _plain_judge_item(question: Question, episode: Episode, prediction: str) -> JudgeItem:
    from memgym.rewards.judge import JudgeItem

    return JudgeItem(question.question, " OR ".join(question.answers), prediction, question.category)


@dataclass(frozen=True)
class Protocol:
    """A benchmark's evaluation, as data.

    Attributes:
        name: what users type (``--protocol``).
        title: one line for reports.
        source: the official code it follows (repository and path).
        metrics: model-free QA metrics (names of :data:`~memgym.rewards.metrics.METRICS`), in report order.
        primary: the headline metric (``"j"`` for the judge).
        judge: the judge style (:data:`~memgym.rewards.judge.JUDGE_STYLES`) ``--judge`` uses; ``None``: the
            benchmark has no judge.
        judge_required: the benchmark's figure is the judge's (LongMemEval): running without one is refused.
        excluded_categories: categories never counted (their questions are removed before the run).
        split: a named split of the data (``"memory-r1"``), whose part ``--split`` chooses.
        averaging: the overall figure: ``"questions"`` (the mean over questions) or ``"categories"`` (the
            mean of the per-category means).
        task_average: also report the mean of the per-category means ("task-averaged").
        abstention: a predicate on question ids marking abstention questions: also report their mean.
        loader_options: keyword arguments for the data format's loader, by format name.
        hint: the question as the benchmark gives it to the answering model (``None``: unchanged).
        judge_item: what the judge sees for a question (its type, the gold text), by default the
            question, its answers as alternatives and the prediction.
        natural_for: the data formats (``Episode.source``) whose default protocol this is.
        notes: what the report should say about departures from the official code.
    """

    name: str
    title: str
    source: str
    metrics: tuple[str, ...]
    primary: str
    judge: str | None = None
    judge_required: bool = False
    excluded_categories: tuple[str, ...] = ()
    split: str | None = None
    averaging: str = "questions"
    task_average: bool = False
    abstention: Callable[[str], bool] | None = None
    loader_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    hint: Callable[[Question, Episode], Hint | None] | None = None
    judge_item: Callable[[Question, Episode, str], JudgeItem] = _plain_judge_item
    natural_for: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def select(self, episodes: Sequence[Episode], part: str | None = None) -> Selection:
        """The episodes to run: the split's ``part`` (memory-r1), without the excluded categories.

        Raises:
            ConfigError: ``part`` is given for a protocol without a split, or names no part.
        """
        notes: list[str] = []
        raw = {ep.id: ep for ep in episodes}
        eps = list(episodes)
        if self.split == "memory-r1":
            eps, part, notes = _memory_r1_part(eps, part)
        elif part is not None:
            raise ConfigError(f"the {self.name} protocol has no split; drop --split {part}")
        excluded: dict[str, int] = {}
        for ep in eps:  # counted on the episodes as loaded (the memory-r1 split drops them itself)
            for q in raw.get(ep.id, ep).questions:
                if q.category in self.excluded_categories:
                    excluded[q.category] = excluded.get(q.category, 0) + 1
        if self.excluded_categories:
            eps = [
                dataclasses.replace(ep, questions=[q for q in ep.questions if q.category not in self.excluded_categories])
                for ep in eps
            ]
        if excluded:
            notes.append(
                "not counted (as the official evaluation): "
                + ", ".join(f"{n} {c} questions" for c, n in sorted(excluded.items()))
            )
        return Selection(eps, part, notes, excluded)

    def hints(self, episodes: Sequence[Episode]) -> dict[str, Hint]:
        """Question id -> :class:`Hint`, for the questions the benchmark words differently."""
        if self.hint is None:
            return {}
        out = {}
        for ep in episodes:
            for q in ep.questions:
                hint = self.hint(q, ep)
                if hint is not None:
                    out[q.id] = hint
        return out

    def describe(self) -> dict[str, Any]:
        """The protocol as ``results.json`` records it."""
        return {
            "name": self.name, "title": self.title, "source": self.source, "metrics": list(self.metrics),
            "primary": self.primary, "judge": self.judge, "excluded_categories": list(self.excluded_categories),
            "split": self.split, "averaging": self.averaging, "task_average": self.task_average,
            "abstention_accuracy": self.abstention is not None, "hints": self.hint is not None,
            "loader_options": {k: dict(v) for k, v in self.loader_options.items()}, "notes": list(self.notes),
        }


def _memory_r1_part(episodes: list[Episode], part: str | None) -> tuple[list[Episode], str, list[str]]:
    from memgym.envs.data.locomo import memory_r1_split

    parts = memory_r1_split(episodes)
    if part is None:
        part = "test" if parts["test"] else "validation"
        notes = [f"Memory-R1 split, part {part!r} (the default{'' if part == 'test' else ': the data holds no test conversation'}; choose with --split)"]
    else:
        notes = [f"Memory-R1 split, part {part!r}"]
    if part == "all":
        return [ep for name in ("train", "validation", "test") for ep in parts[name]], part, notes
    if part not in parts:
        raise ConfigError(f"the memory-r1 split has parts train, validation, test (or all), not {part!r}")
    if not parts[part]:
        raise ConfigError(f"the data holds no conversation of the memory-r1 {part!r} part")
    return parts[part], part, notes


def stable_coin(key: str) -> bool:
    """A fair coin fixed by ``key`` (replaces the official code's unseeded ``random.random() < 0.5``)."""
    return hashlib.sha1(key.encode("utf-8")).digest()[0] % 2 == 0


#: Protocols by the names users type (``memgym bench --protocol NAME``).
PROTOCOLS: Registry[Protocol] = Registry("protocol")
PROTOCOLS.register("memgym", "memgym.rewards.protocols.builtin:MEMGYM")
PROTOCOLS.register("locomo", "memgym.rewards.protocols.builtin:LOCOMO")
PROTOCOLS.register("mem0", "memgym.rewards.protocols.builtin:MEM0")
PROTOCOLS.register("memory-r1", "memgym.rewards.protocols.builtin:MEMORY_R1")
PROTOCOLS.register("longmemeval", "memgym.rewards.protocols.builtin:LONGMEMEVAL")
PROTOCOLS.register("memoryagentbench", "memgym.rewards.protocols.builtin:MEMORYAGENTBENCH")


def get_protocol(protocol: str | Protocol) -> Protocol:
    """A :class:`Protocol` by name (unknown names suggest close ones), or the protocol itself."""
    return PROTOCOLS.get(protocol) if isinstance(protocol, str) else protocol


def natural_protocol(episodes: Sequence[Episode]) -> Protocol:
    """The protocol of the benchmark the episodes come from (``memgym`` for mixed or other sources)."""
    sources = {ep.source for ep in episodes}
    if len(sources) == 1:
        (source,) = sources
        for name in PROTOCOLS:
            if source in PROTOCOLS.get(name).natural_for:
                return PROTOCOLS.get(name)
    return PROTOCOLS.get("memgym")
