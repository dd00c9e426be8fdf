"""LoCoMo (Maharana et al., 2024): ``locomo10.json`` or a folder with one JSON file per conversation.

The released file is a list of samples, each with ``sample_id``, ``conversation`` (``speaker_a``,
``speaker_b``, ``session_N_date_time`` and ``session_N`` lists of turns with ``speaker``, ``dia_id``,
``text`` and optional ``img_url`` / ``blip_caption``) and ``qa`` (``question``, ``answer``, ``evidence``,
``category``; category 5 has ``adversarial_answer`` instead of ``answer``). In the per-conversation form
the session keys sit at the top level of each file beside ``qa`` and the file's stem is the id.

Mapping: sessions keep their number (``D3`` for ``session_3``; a session listed with a date-time but no
turns is kept, empty); a shared image adds ``[shares a photo: <caption>]`` to the turn's text; categories
are named 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial. Adversarial questions
ask about something never said, so their answer is ``ABSTAIN_ANSWER``; the adversarial (wrong) answer
is kept in the episode's ``metadata["adversarial_answers"]`` (JSON, question id -> answer).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from memgym.envs.data._common import RecordReader, answers_list, read_json
from memgym.envs.episode import ABSTAIN_ANSWER, Episode, Question, Session, Turn
from memgym.errors import DatasetError

CATEGORY_NAMES: dict[int, str] = {
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}
_SESSION_KEY = re.compile(r"^session_(\d+)$")
_DATE_KEY = re.compile(r"^session_(\d+)_date_time$")


def category_name(value: Any) -> str:
    """LoCoMo's category number as a name (unknown numbers are kept as their string)."""
    try:
        return CATEGORY_NAMES.get(int(value), str(value))
    except (TypeError, ValueError):
        return str(value)


def _turn(reader: RecordReader, raw: Any, path: str) -> Turn:
    speaker = reader.text(raw, "speaker", f"{path}.speaker")
    dia_id = reader.text(raw, "dia_id", f"{path}.dia_id")
    text = reader.text(raw, "text", f"{path}.text")
    caption = reader.text(raw, "blip_caption", f"{path}.blip_caption", required=False)
    if caption:
        text = f"{text} [shares a photo: {caption}]".strip()
    return Turn(id=dia_id, speaker=speaker, text=text)


def _sessions(reader: RecordReader, conv: dict[str, Any], prefix: str) -> list[Session]:
    numbers = sorted(
        {int(m.group(1)) for key in conv for m in [_SESSION_KEY.match(key) or _DATE_KEY.match(key)] if m}
    )
    if not numbers:
        raise reader.error("no session_N keys found", f"{prefix}session_1")
    sessions = []
    for n in numbers:
        key = f"session_{n}"
        raw_turns = reader.get(conv, key, list, f"{prefix}{key}", required=False, default=[])
        date_time = reader.text(conv, f"{key}_date_time", f"{prefix}{key}_date_time", required=False)
        turns = [_turn(reader, raw, f"{prefix}{key}[{i}]") for i, raw in enumerate(raw_turns)]
        sessions.append(Session(id=f"D{n}", date_time=date_time, turns=turns))
    return sessions


def _evidence(value: Any) -> list[str]:
    """Evidence ids; a few LoCoMo records pack several ids into one string ("D8:6; D9:17")."""
    return [part for item in answers_list(value) for part in re.split(r"[;,\s]+", item) if part]


def _questions(reader: RecordReader, sample_id: str, qa: list[Any]) -> tuple[list[Question], dict[str, str]]:
    questions, adversarial = [], {}
    for i, raw in enumerate(qa):
        path = f"qa[{i}]"
        category = category_name(reader.get(raw, "category", (int, str), f"{path}.category"))
        qid = f"{sample_id}:q{i + 1}"
        if category == "adversarial":
            answers = [ABSTAIN_ANSWER]
            wrong = raw.get("adversarial_answer")
            if wrong is not None:
                adversarial[qid] = str(wrong)
        else:
            if raw.get("answer") is None:
                raise reader.error("missing required field (only category 5 may omit it)", f"{path}.answer")
            answers = answers_list(raw["answer"], reader, f"{path}.answer")
        questions.append(
            Question(
                id=qid,
                question=reader.text(raw, "question", f"{path}.question"),
                answers=answers,
                category=category,
                evidence=_evidence(raw.get("evidence")),
            )
        )
    return questions, adversarial


def _episode(
    reader: RecordReader, sample_id: str, conv: dict[str, Any], qa: list[Any], prefix: str
) -> Episode:
    speakers = [
        s
        for s in (
            reader.text(conv, "speaker_a", f"{prefix}speaker_a", required=False),
            reader.text(conv, "speaker_b", f"{prefix}speaker_b", required=False),
        )
        if s
    ]
    questions, adversarial = _questions(reader, sample_id, qa)
    metadata = {"adversarial_answers": json.dumps(adversarial, ensure_ascii=False)} if adversarial else {}
    return Episode(
        id=sample_id,
        speakers=speakers,
        sessions=_sessions(reader, conv, prefix),
        questions=questions,
        source="locomo",
        metadata=metadata,
    )


def _from_sample(path: Path, index: int, sample: Any) -> Episode:
    reader = RecordReader(path, index)
    sample_id = reader.text(sample, "sample_id", "sample_id", required=False) or f"conv-{index}"
    reader.record = sample_id
    if isinstance(sample, dict) and "conversation" in sample:
        conv, prefix = reader.get(sample, "conversation", dict, "conversation"), "conversation."
    else:  # the per-conversation form: session keys at the top level
        conv, prefix = sample, ""
    if not isinstance(sample, dict) or "qa" not in sample:
        raise reader.error(
            "no 'qa' list: a LoCoMo conversation needs its questions to be scored (the released "
            "locomo10.json has them; a file of conversations only is not LoCoMo's QA data)",
            "qa",
        )
    qa = reader.get(sample, "qa", list, "qa")
    return _episode(reader, sample_id, conv, qa, prefix)


def load_locomo(path: str | Path) -> list[Episode]:
    """Episodes from ``locomo10.json`` (a list of samples), one conversation file, or a folder of them."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise DatasetError("the folder holds no .json conversation files", file=str(path))
        episodes = []
        for file in files:
            data = read_json(file)
            if not isinstance(data, dict):
                raise DatasetError(
                    f"expected one conversation object, got {type(data).__name__}", file=str(file)
                )
            data = data if "sample_id" in data else {**data, "sample_id": file.stem}
            episodes.append(_from_sample(file, 0, data))
        return episodes
    data = read_json(path)
    if isinstance(data, dict):
        data = [data if "sample_id" in data else {**data, "sample_id": path.stem}]
    if not isinstance(data, list):
        raise DatasetError(f"expected a list of samples, got {type(data).__name__}", file=str(path))
    return [_from_sample(path, i, sample) for i, sample in enumerate(data)]


#: The Memory-R1 split: LoCoMo's conversation numbers of the train and validation parts.
MEMORY_R1_TRAIN, MEMORY_R1_VALIDATION = 26, 30
_CONVERSATION_NUMBER = re.compile(r"^(?:conv|locomo|sample)?[-_ ]?0*(\d+)$", re.IGNORECASE)


def conversation_number(episode_id: str) -> int | None:
    """LoCoMo's conversation number in an id: ``conv-26`` (the release), ``26`` (a file stem), ``conv26``."""
    found = _CONVERSATION_NUMBER.match(str(episode_id).strip())
    return int(found.group(1)) if found else None


def memory_r1_split(episodes: list[Episode]) -> dict[str, list[Episode]]:
    """The Memory-R1 split of LoCoMo: without adversarial (category 5) questions, train = conversation
    26, validation = conversation 30, test = the other conversations (152 / 81 / 1,307 questions on
    locomo10).

    Conversations are found by the number in their id (``conv-26`` in the released file, ``26`` for a
    ``26.json`` of the per-conversation form), never by their position. ``test`` is empty when the data
    holds only the two development conversations. The episodes returned are copies holding only the
    kept questions.

    Raises:
        DatasetError: conversation 26 or 30 is missing, or two episodes have the same number.
    """
    numbers = [conversation_number(ep.id) for ep in episodes]
    found = {}
    for ep, number in zip(episodes, numbers, strict=True):
        if number in (MEMORY_R1_TRAIN, MEMORY_R1_VALIDATION):
            if number in found:
                raise DatasetError(f"two conversations are number {number}: {found[number].id!r} and {ep.id!r}")
            found[number] = ep
    missing = [n for n in (MEMORY_R1_TRAIN, MEMORY_R1_VALIDATION) if n not in found]
    if missing:
        ids = ", ".join(repr(ep.id) for ep in episodes[:12]) or "none"
        raise DatasetError(
            f"the Memory-R1 split needs LoCoMo conversations 26 (train) and 30 (validation), found no "
            f"{' or '.join(map(str, missing))} among the ids {ids} (ids like 'conv-26' or file names like 26.json)"
        )

    def kept(ep: Episode) -> Episode:
        return dataclasses.replace(ep, questions=[q for q in ep.questions if q.category != "adversarial"])

    return {
        "train": [kept(found[MEMORY_R1_TRAIN])],
        "validation": [kept(found[MEMORY_R1_VALIDATION])],
        "test": [kept(ep) for ep, n in zip(episodes, numbers, strict=True) if n not in found],
    }
