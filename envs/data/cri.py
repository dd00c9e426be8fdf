"""The persona dataset of the ``cri-benchmark`` package (PyPI, MIT): one real long conversation.

A dataset folder holds ``conversations.jsonl`` (messages with ``message_id``, ``role``, ``content``,
``timestamp``, ``session_id``), ``ground_truth.json`` and optionally ``metadata.json`` (``persona_name``).
Sessions are numbered ``D1``, ``D2``, ... in order of first appearance, dated by their first message's
timestamp (ISO, as the source writes it); the user speaks under the persona's name.

The ground truth becomes questions where it can:

- ``final_profile`` -> ``profile`` questions ("What is known about Marcus's current occupation?"), asked
  at the end (list values are joined with "; ");
- ``changes`` -> ``temporal`` questions on the value before the change (evidence: the key messages), and
  ``knowledge-update`` questions on the new value asked right after the last key message;
- ``conflicts`` -> ``conflict`` questions answered by the correct resolution.

``temporal_facts`` restate the changes and ``query_relevance_pairs`` grade retrieval, not answers, so
neither becomes a question; the counts of each are kept in the metadata.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from memgym.envs.data._common import RecordReader, iter_jsonl, read_json
from memgym.envs.episode import Episode, Question, Session, Turn
from memgym.errors import DatasetError

DEFAULT_DATASET = "persona-1-base"


def cri_dataset_path(name: str = DEFAULT_DATASET) -> Path:
    """The folder of a dataset shipped in the installed ``cri-benchmark`` package (never downloaded)."""
    spec = importlib.util.find_spec("cri")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the cri-benchmark package is not installed; install it with "
            "`pip install --no-deps cri-benchmark`, or pass the path of a CRI dataset folder"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
    if not (folder / "conversations.jsonl").exists():
        raise DatasetError(f"the installed cri-benchmark has no dataset {name!r}", file=str(folder))
    return folder


def _conversation(file: Path, persona: str) -> tuple[list[Session], dict[int, str]]:
    sessions: dict[str, Session] = {}
    turn_of: dict[int, str] = {}
    for line, raw in iter_jsonl(file):
        reader = RecordReader(file, f"line {line}")
        message_id = reader.get(raw, "message_id", int, "message_id")
        role = reader.text(raw, "role", "role")
        content = reader.text(raw, "content", "content")
        key = reader.text(raw, "session_id", "session_id")
        if key not in sessions:
            date = reader.text(raw, "timestamp", "timestamp", required=False)
            sessions[key] = Session(id=f"D{len(sessions) + 1}", date_time=date)
        session = sessions[key]
        turn = Turn(
            id=f"{session.id}:{len(session.turns) + 1}",
            speaker=persona if role == "user" else role,
            text=content,
        )
        session.turns.append(turn)
        turn_of[message_id] = turn.id
    return list(sessions.values()), turn_of


def _value_text(value: Any) -> str:
    return "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _questions(file: Path, truth: dict[str, Any], first_name: str, turn_of: dict[int, str]) -> list[Question]:
    questions: list[Question] = []

    def add(
        category: str,
        text: str,
        answer: Any,
        evidence: list[int] | tuple[int, ...] = (),
        asked_after: str | None = None,
    ) -> None:
        questions.append(
            Question(
                id=f"cri:q{len(questions) + 1}",
                question=text,
                answers=[_value_text(answer)],
                category=category,
                evidence=[turn_of[m] for m in evidence if m in turn_of],
                asked_after=asked_after,
            )
        )

    reader = RecordReader(file, "ground_truth")
    profile = reader.get(truth, "final_profile", dict, "final_profile", required=False, default={})
    for key, dim in profile.items():
        topic = reader.text(dim, "query_topic", f"final_profile.{key}.query_topic")
        value = reader.get(dim, "value", (str, list, int, float), f"final_profile.{key}.value")
        add("profile", f"What is known about {first_name}'s {topic}?", value)
    for i, change in enumerate(reader.get(truth, "changes", list, "changes", required=False, default=[])):
        path = f"changes[{i}]"
        topic = reader.text(change, "query_topic", f"{path}.query_topic").removeprefix("current ")
        new = reader.text(change, "new_value", f"{path}.new_value")
        key_messages = [m for m in change.get("key_messages") or [] if isinstance(m, int)]
        add(
            "temporal",
            f"What was {first_name}'s {topic} before it changed to {new}?",
            reader.text(change, "old_value", f"{path}.old_value"),
            key_messages,
        )
        last = max((m for m in key_messages if m in turn_of), default=None)
        if last is not None:
            add("knowledge-update", f"What is {first_name}'s {topic} now?", new, key_messages, turn_of[last])
    for i, conflict in enumerate(
        reader.get(truth, "conflicts", list, "conflicts", required=False, default=[])
    ):
        path = f"conflicts[{i}]"
        topic = reader.text(conflict, "topic", f"{path}.topic")
        add(
            "conflict",
            f"What is true now about {first_name}'s {topic}?",
            reader.text(conflict, "correct_resolution", f"{path}.correct_resolution"),
            [m for m in conflict.get("introduced_at_messages") or [] if isinstance(m, int)],
        )
    return questions


def load_cri(path: str | Path | None = None) -> list[Episode]:
    """The CRI persona conversation at ``path`` (a dataset folder or its ``conversations.jsonl``).

    ``None`` loads ``persona-1-base`` from the installed ``cri-benchmark`` package.
    """
    folder = cri_dataset_path() if path is None else Path(path)
    if folder.is_file():
        folder = folder.parent
    conversations = folder / "conversations.jsonl"
    if not conversations.exists():
        raise DatasetError("a CRI dataset folder needs conversations.jsonl", file=str(folder))
    meta = read_json(folder / "metadata.json") if (folder / "metadata.json").exists() else {}
    meta = meta if isinstance(meta, dict) else {}
    persona = str(meta.get("persona_name") or "user")
    sessions, turn_of = _conversation(conversations, persona)
    truth_file = folder / "ground_truth.json"
    if not truth_file.exists():
        raise DatasetError(
            "a CRI dataset folder needs ground_truth.json (its questions come from it)", file=str(folder)
        )
    truth = read_json(truth_file)
    if not isinstance(truth, dict):
        raise DatasetError(f"expected an object, got {type(truth).__name__}", file=str(truth_file))
    questions = _questions(truth_file, truth, persona.split()[0], turn_of)
    metadata = {str(k): str(v) for k, v in meta.items() if isinstance(v, (str, int, float))}
    for key in ("temporal_facts", "query_relevance_pairs", "noise_examples", "signal_examples"):
        if isinstance(truth.get(key), list):
            metadata[f"n_{key}"] = str(len(truth[key]))
    episode_id = str(meta.get("dataset_id") or folder.name)
    return [
        Episode(
            id=episode_id,
            speakers=[persona, "assistant"],
            sessions=sessions,
            questions=questions,
            source="cri",
            metadata=metadata,
        )
    ]
