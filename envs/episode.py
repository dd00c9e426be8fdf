"""One episode schema for every conversation source (synthetic, LoCoMo, LongMemEval, ...).

An :class:`Episode` is a conversation (sessions of turns with stable ids such as ``D3:7``) plus the
questions asked about it, plus optional per-turn oracle operation labels (synthetic data only).
Episodes convert to and from plain dicts, and a list of them to a ``datasets.Dataset`` with the explicit
features in :func:`episode_features`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: The answer a question about a never-stated or retracted fact expects (abstention).
ABSTAIN_ANSWER = "not mentioned"


@dataclass
class Turn:
    id: str  # stable, e.g. "D3:7" = session 3, turn 7
    speaker: str
    text: str


@dataclass
class Session:
    id: str  # e.g. "D3"
    date_time: str | None  # as the source writes it, e.g. "1:56 pm on 8 May, 2023"
    turns: list[Turn] = field(default_factory=list)


@dataclass
class Question:
    """A question with its accepted answers.

    ``asked_after`` is the id of the turn after which it is asked, or ``None`` for the end of the episode.
    ``slot`` and ``candidates`` are set by the synthetic generator: the fact the question asks about and
    every value ever stated for it, so a model-free answer agent can pick among them.
    """

    id: str
    question: str
    answers: list[str]
    category: str
    evidence: list[str] = field(default_factory=list)
    asked_after: str | None = None
    slot: str | None = None
    candidates: list[str] = field(default_factory=list)


@dataclass
class OpLabel:
    """What a perfect memory manager does at ``turn_id``: ``kind`` on fact ``slot`` with ``text``."""

    turn_id: str
    kind: str  # ADD | UPDATE | DELETE | NOOP
    slot: str | None = None
    text: str | None = None


@dataclass
class Episode:
    id: str
    speakers: list[str]
    sessions: list[Session]
    questions: list[Question] = field(default_factory=list)
    op_labels: list[OpLabel] = field(default_factory=list)
    source: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s.turns]

    def evidence_ids(self) -> set[str]:
        """The ids of the turns some question cites as evidence."""
        return {e for q in self.questions for e in q.evidence}

    def session_of(self) -> dict[str, Session]:
        """Map turn id -> its session (for the conversation time of a turn)."""
        return {t.id: s for s in self.sessions for t in s.turns}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Episode:
        return cls(
            id=str(d["id"]),
            speakers=list(d.get("speakers") or []),
            sessions=[
                Session(id=s["id"], date_time=s.get("date_time"),
                        turns=[Turn(**t) for t in s.get("turns") or []])
                for s in d.get("sessions") or []
            ],
            questions=[
                Question(
                    id=q["id"], question=q["question"], answers=list(q["answers"]), category=q["category"],
                    evidence=list(q.get("evidence") or []), asked_after=q.get("asked_after"),
                    slot=q.get("slot"), candidates=list(q.get("candidates") or []),
                )
                for q in d.get("questions") or []
            ],
            op_labels=[OpLabel(**o) for o in d.get("op_labels") or []],
            source=d.get("source", ""),
            metadata=dict(d.get("metadata") or {}),
        )


def episode_features():
    """The explicit ``datasets.Features`` of an episode row."""
    from datasets import Features, List, Value

    turn = {"id": Value("string"), "speaker": Value("string"), "text": Value("string")}
    return Features({
        "id": Value("string"),
        "speakers": List(Value("string")),
        "sessions": List({"id": Value("string"), "date_time": Value("string"), "turns": List(turn)}),
        "questions": List({
            "id": Value("string"), "question": Value("string"), "answers": List(Value("string")),
            "category": Value("string"), "evidence": List(Value("string")),
            "asked_after": Value("string"), "slot": Value("string"), "candidates": List(Value("string")),
        }),
        "op_labels": List({
            "turn_id": Value("string"), "kind": Value("string"), "slot": Value("string"),
            "text": Value("string"),
        }),
        "source": Value("string"),
        "metadata": {"_json": Value("string")},
    })


def to_dataset(episodes: list[Episode]):
    """Episodes -> ``datasets.Dataset`` with :func:`episode_features` (metadata stored as JSON)."""
    import json

    from datasets import Dataset

    rows = []
    for ep in episodes:
        row = ep.to_dict()
        row["metadata"] = {"_json": json.dumps(ep.metadata, ensure_ascii=False)}
        rows.append(row)
    return Dataset.from_list(rows, features=episode_features())


def from_dataset(dataset) -> list[Episode]:
    """The inverse of :func:`to_dataset`."""
    import json

    episodes = []
    for row in dataset:
        row = dict(row)
        row["metadata"] = json.loads((row.get("metadata") or {}).get("_json") or "{}")
        episodes.append(Episode.from_dict(row))
    return episodes
