"""The generic format: one episode per JSON line, as :meth:`Episode.to_dict` writes it.

Users bring their own data in this form. To make that easy, a few fields may be left out: a session's
``id`` (``D1``, ``D2``, ...), a turn's ``id`` (``<session id>:<n>``), ``date_time``, ``questions``,
``op_labels``, ``source`` and ``metadata``; a question may give one ``answer`` instead of ``answers``.
Everything else is checked, and an error names the file, the line and the field. Episodes also save to
and load from parquet (the ``datasets`` features of :func:`memgym.envs.episode.episode_features`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from memgym.envs.data._common import RecordReader, answers_list, iter_jsonl, read_json
from memgym.envs.episode import Episode, OpLabel, Question, Session, Turn
from memgym.envs.operations import OP_KINDS
from memgym.errors import DatasetError


def _session(reader: RecordReader, raw: Any, i: int) -> Session:
    path = f"sessions[{i}]"
    sid = reader.text(raw, "id", f"{path}.id", required=False) or f"D{i + 1}"
    turns = []
    for j, turn in enumerate(reader.get(raw, "turns", list, f"{path}.turns")):
        tpath = f"{path}.turns[{j}]"
        turns.append(
            Turn(
                id=reader.text(turn, "id", f"{tpath}.id", required=False) or f"{sid}:{j + 1}",
                speaker=reader.text(turn, "speaker", f"{tpath}.speaker"),
                text=reader.text(turn, "text", f"{tpath}.text"),
            )
        )
    return Session(
        id=sid, date_time=reader.text(raw, "date_time", f"{path}.date_time", required=False), turns=turns
    )


def _strings(reader: RecordReader, raw: Any, key: str, path: str) -> list[str]:
    values = reader.get(raw, key, list, path, required=False, default=[])
    for k, value in enumerate(values):
        if not isinstance(value, str):
            raise reader.error(f"expected a string, got {type(value).__name__}", f"{path}[{k}]")
    return list(values)


def _question(reader: RecordReader, raw: Any, i: int, turn_ids: set[str]) -> Question:
    path = f"questions[{i}]"
    if isinstance(raw, dict) and raw.get("answers") is None and raw.get("answer") is not None:
        answers = answers_list(raw["answer"], reader, f"{path}.answer")
    else:
        answers = answers_list(reader.get(raw, "answers", list, f"{path}.answers"), reader, f"{path}.answers")
    asked_after = reader.text(raw, "asked_after", f"{path}.asked_after", required=False)
    if asked_after is not None and asked_after not in turn_ids:
        raise reader.error(f"turn {asked_after!r} is not in the conversation", f"{path}.asked_after")
    return Question(
        id=reader.text(raw, "id", f"{path}.id", required=False) or f"q{i + 1}",
        question=reader.text(raw, "question", f"{path}.question"),
        answers=answers,
        category=reader.text(raw, "category", f"{path}.category", required=False) or "",
        evidence=_strings(reader, raw, "evidence", f"{path}.evidence"),
        asked_after=asked_after,
        slot=reader.text(raw, "slot", f"{path}.slot", required=False),
        candidates=_strings(reader, raw, "candidates", f"{path}.candidates"),
    )


def _label(reader: RecordReader, raw: Any, i: int) -> OpLabel:
    path = f"op_labels[{i}]"
    kind = reader.text(raw, "kind", f"{path}.kind")
    if kind not in OP_KINDS:
        raise reader.error(f"unknown operation {kind!r}; use one of {', '.join(OP_KINDS)}", f"{path}.kind")
    return OpLabel(
        turn_id=reader.text(raw, "turn_id", f"{path}.turn_id"),
        kind=kind,
        slot=reader.text(raw, "slot", f"{path}.slot", required=False),
        text=reader.text(raw, "text", f"{path}.text", required=False),
    )


def episode_from_record(raw: Any, file: Path | str, record: str | int) -> Episode:
    """Check one generic record and build its episode (errors name ``file``, ``record`` and the field)."""
    reader = RecordReader(file, record)
    episode_id = reader.text(raw, "id", "id")
    reader.record = f"{record} (episode {episode_id})"
    sessions = [_session(reader, s, i) for i, s in enumerate(reader.get(raw, "sessions", list, "sessions"))]
    turn_ids = {t.id for s in sessions for t in s.turns}
    questions = [
        _question(reader, q, i, turn_ids)
        for i, q in enumerate(reader.get(raw, "questions", list, "questions", required=False, default=[]))
    ]
    labels = [
        _label(reader, o, i)
        for i, o in enumerate(reader.get(raw, "op_labels", list, "op_labels", required=False, default=[]))
    ]
    metadata = reader.get(raw, "metadata", dict, "metadata", required=False, default={})
    speakers = _strings(reader, raw, "speakers", "speakers") or list(
        dict.fromkeys(t.speaker for s in sessions for t in s.turns)
    )
    return Episode(
        id=episode_id,
        speakers=speakers,
        sessions=sessions,
        questions=questions,
        op_labels=labels,
        source=reader.text(raw, "source", "source", required=False) or "jsonl",
        metadata={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()},
    )


def load_jsonl(path: str | Path) -> list[Episode]:
    """Episodes from a generic ``.jsonl`` file (or a ``.json`` list, or a ``.parquet`` of episodes)."""
    path = Path(path)
    if path.suffix == ".parquet":
        from datasets import Dataset

        from memgym.envs.episode import from_dataset

        try:
            return from_dataset(Dataset.from_parquet(str(path)))
        except Exception as exc:  # datasets/pyarrow raise many types for a bad file
            raise DatasetError(f"cannot read episodes from parquet ({exc})", file=str(path)) from exc
    if path.suffix == ".json":
        data = read_json(path)
        records = list(enumerate(data if isinstance(data, list) else [data]))
        return [episode_from_record(raw, path, i) for i, raw in records]
    return [episode_from_record(raw, path, f"line {line}") for line, raw in iter_jsonl(path)]


def save_episodes(episodes: Iterable[Episode], path: str | Path) -> Path:
    """Write episodes as generic JSON lines (or parquet when ``path`` ends in ``.parquet``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        from memgym.envs.episode import to_dataset

        to_dataset(list(episodes)).to_parquet(str(path))
        return path
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for episode in episodes:
            f.write(json.dumps(episode.to_dict(), ensure_ascii=False) + "\n")
    tmp.replace(path)  # never leave a half-written file under the final name
    return path
