"""LongMemEval (Wu et al., 2025): ``longmemeval_s``, ``_m`` and ``_oracle`` JSON files.

Each instance is one question with its own haystack of chat sessions, so each becomes one episode:
``haystack_sessions[i]`` is session ``D{i+1}`` (date-time ``haystack_dates[i]``), its role/content turns
``D{i+1}:{j+1}``; the evidence is every turn marked ``has_answer``.

Sessions are streamed in date order (``session_order="date"``, the default): LongMemEval's generation
code sorts the history by session date (``retrieved_chunks.sort`` on the date strings, which are
``YYYY/MM/DD (Day) HH:MM`` and so sort in time order) before the model reads it; the session ids keep
the file position (``D{i+1}`` is ``haystack_sessions[i]``). ``session_order="file"`` keeps the file order.

The category is ``question_type`` for every question, abstention ones included (LongMemEval reports
them in their own type and again as "abstention accuracy"); an id containing ``_abs`` marks an
abstention question, whose accepted answer is ``ABSTAIN_ANSWER`` (the released explanation is kept in
``metadata["original_answer"]``, what LongMemEval's judge is shown). ``question_date`` (what the answer
prompt gives as the current date), ``question_type``, ``abstention`` ("true"/"false") and the haystack and
answer session ids are kept in the metadata (lists as JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memgym.envs.data._common import RecordReader, answers_list, read_json
from memgym.envs.episode import ABSTAIN_ANSWER, Episode, Question, Session, Turn
from memgym.errors import DatasetError


def _sessions(reader: RecordReader, raw: dict[str, Any]) -> tuple[list[Session], list[str]]:
    haystack = reader.get(raw, "haystack_sessions", list, "haystack_sessions")
    dates = reader.get(raw, "haystack_dates", list, "haystack_dates", required=False, default=[])
    if dates and len(dates) != len(haystack):
        raise reader.error(f"has {len(dates)} dates for {len(haystack)} sessions", "haystack_dates")
    sessions, evidence = [], []
    for i, raw_session in enumerate(haystack):
        path = f"haystack_sessions[{i}]"
        if not isinstance(raw_session, list):
            raise reader.error(f"expected a list of turns, got {type(raw_session).__name__}", path)
        sid, turns = f"D{i + 1}", []
        for j, raw_turn in enumerate(raw_session):
            turn = Turn(
                id=f"{sid}:{j + 1}",
                speaker=reader.text(raw_turn, "role", f"{path}[{j}].role"),
                text=reader.text(raw_turn, "content", f"{path}[{j}].content"),
            )
            turns.append(turn)
            if raw_turn.get("has_answer"):
                evidence.append(turn.id)
        sessions.append(Session(id=sid, date_time=str(dates[i]) if dates else None, turns=turns))
    return sessions, evidence


SESSION_ORDERS: tuple[str, ...] = ("date", "file")


def _episode(path: Path, index: int, raw: Any, session_order: str) -> Episode:
    reader = RecordReader(path, index)
    qid = reader.text(raw, "question_id", "question_id")
    reader.record = qid
    sessions, evidence = _sessions(reader, raw)
    if session_order == "date":
        sessions = sorted(sessions, key=lambda s: s.date_time or "")  # stable: equal dates keep file order
    qtype = reader.text(raw, "question_type", "question_type", required=False) or ""
    answer = raw.get("answer") if isinstance(raw, dict) else None
    if answer is None:
        raise reader.error("missing required field", "answer")
    abstention = "_abs" in qid
    metadata = {
        "question_type": qtype,
        "abstention": "true" if abstention else "false",
        "question_date": reader.text(raw, "question_date", "question_date", required=False) or "",
        "haystack_session_ids": json.dumps(raw.get("haystack_session_ids") or []),
        "answer_session_ids": json.dumps(raw.get("answer_session_ids") or []),
    }
    if abstention:
        metadata["original_answer"] = str(answer)
    question = Question(
        id=qid,
        question=reader.text(raw, "question", "question"),
        answers=[ABSTAIN_ANSWER] if abstention else answers_list(answer),
        category=qtype or "longmemeval",
        evidence=evidence,
    )
    return Episode(
        id=qid,
        speakers=["user", "assistant"],
        sessions=sessions,
        questions=[question],
        source="longmemeval",
        metadata=metadata,
    )


def load_longmemeval(path: str | Path, session_order: str = "date") -> list[Episode]:
    """One episode per LongMemEval instance of the JSON file at ``path``, sessions in ``session_order``.

    Raises:
        DatasetError: the file does not hold LongMemEval instances (the message names record and field).
        ConfigError: ``session_order`` is not ``"date"`` or ``"file"``.
    """
    from memgym.errors import ConfigError

    if session_order not in SESSION_ORDERS:
        raise ConfigError(f"session_order={session_order!r} is not one of {', '.join(SESSION_ORDERS)}")
    path = Path(path)
    data = read_json(path)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise DatasetError(f"expected a list of instances, got {type(data).__name__}", file=str(path))
    return [_episode(path, i, raw, session_order) for i, raw in enumerate(data)]
