"""Reading helpers shared by the loaders: every failure becomes a DatasetError naming file, record, field."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memgym.errors import DatasetError

_TYPE_NAMES = {str: "a string", list: "a list", dict: "an object", int: "an integer", bool: "a boolean"}


def read_json(path: Path) -> Any:
    """Parse a whole JSON file (every failure, even nesting too deep to parse, names the file)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", file=str(path)
        ) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text ({exc.reason})", file=str(path)) from exc
    except RecursionError as exc:
        raise DatasetError("JSON nested too deeply to read", file=str(path)) from exc
    except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
        raise DatasetError(f"cannot read the JSON ({exc})", file=str(path)) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from exc


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for every non-empty line of a JSON-lines file."""
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        f"not valid JSON ({exc.msg}, column {exc.colno})",
                        file=str(path),
                        record=f"line {number}",
                    ) from exc
                except RecursionError as exc:
                    raise DatasetError("JSON nested too deeply to read", file=str(path),
                                       record=f"line {number}") from exc
                except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
                    raise DatasetError(f"cannot read the JSON ({exc})", file=str(path),
                                       record=f"line {number}") from exc
                yield number, value
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text ({exc.reason})", file=str(path)) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from exc


def describe(value: Any) -> str:
    """Short description of a wrong value for an error message (safe for any value)."""
    from memgym.envs.action_parser.result import safe_repr

    return f"{type(value).__name__} {safe_repr(value, 63)}"


class RecordReader:
    """Typed access to one record's fields that raises DatasetError with the field's full path."""

    def __init__(self, file: Path | str, record: str | int) -> None:
        self.file, self.record = str(file), record

    def error(self, message: str, field: str | None = None) -> DatasetError:
        return DatasetError(message, file=self.file, record=self.record, field=field)

    def get(
        self,
        obj: Any,
        key: str,
        kind: type | tuple[type, ...],
        path: str,
        *,
        required: bool = True,
        default: Any = None,
    ) -> Any:
        """``obj[key]`` checked to be of ``kind``; ``path`` is the field's name in messages."""
        if not isinstance(obj, dict):
            raise self.error(f"expected an object, got {describe(obj)}", path.rpartition(".")[0] or path)
        if key not in obj or obj[key] is None:
            if required:
                raise self.error("missing required field", path)
            return default
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise self.error(f"expected {wanted}, got {describe(value)}", path)
        return value

    def text(
        self, obj: Any, key: str, path: str, *, required: bool = True, default: str | None = None
    ) -> str | None:
        """A string field; numbers (LoCoMo answers such as 2022) are turned into strings, but NaN and
        infinities are refused (they would become the text "nan")."""
        value = self.get(obj, key, (str, int, float), path, required=required, default=default)
        return value if value is None or isinstance(value, str) else scalar_text(value, self, path)


def scalar_text(value: Any, reader: RecordReader | None = None, path: str | None = None) -> str:
    """A string or a finite number as text; anything else (an object, NaN) is a :class:`DatasetError`."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    what = "a non-finite number" if isinstance(value, float) else describe(value)
    message = f"expected a string or a number, got {what}"
    raise reader.error(message, path) if reader is not None else DatasetError(message, field=path)


def answers_list(value: Any, reader: RecordReader | None = None, path: str | None = None) -> list[str]:
    """An answer field as a list of strings: "x" -> ["x"], ["x", 2] -> ["x", "2"]; an object or a NaN is
    refused (naming ``reader``'s file and record and ``path`` when given)."""
    if isinstance(value, list):
        return [scalar_text(v, reader, f"{path}[{i}]" if path else None) for i, v in enumerate(value) if v is not None]
    return [] if value is None else [scalar_text(value, reader, path)]


# ---------------------------------------------------------------------------------------------- checks
def check_episodes(episodes: list[Any], file: Path | str) -> list[Any]:
    """The checks every format shares, run on what a loader read from ``file``; returns ``episodes``.

    - A file with no episode is an error (not an empty dataset that fails later, far from the cause).
    - Episode ids are unique in the file, and turn ids within each conversation (questions, evidence
      and provenance refer to turns by id).
    - Texts are valid Unicode: a lone surrogate (a cut emoji escape such as ``"\\ud83d"``) becomes
      U+FFFD, with a :class:`~memgym.errors.DatasetWarning` naming where.
    - Evidence naming no turn of its conversation gets a :class:`~memgym.errors.DatasetWarning` with the
      count (LoCoMo has a few such ids; the evidence-recall metric ignores them).

    Raises:
        DatasetError: naming the file, the episode and the field.
    """
    import warnings

    from memgym.errors import DatasetWarning

    file = str(file)
    if not episodes:
        raise DatasetError("holds no episodes; give a file with at least one conversation", file=file)
    seen_ids: dict[str, int] = {}
    dangling: list[str] = []
    for index, episode in enumerate(episodes):
        if episode.id in seen_ids:
            raise DatasetError(
                f"episode id {episode.id!r} is used by records {seen_ids[episode.id]} and {index}; "
                "episode ids must be unique", file=file, record=index, field="id")
        seen_ids[episode.id] = index
        turns: dict[str, str] = {}
        for i, session in enumerate(episode.sessions):
            for j, turn in enumerate(session.turns):
                where = f"sessions[{i}].turns[{j}].id"
                if turn.id in turns:
                    raise DatasetError(
                        f"turn id {turn.id!r} is used twice (also {turns[turn.id]}); turn ids must be unique "
                        "in a conversation", file=file, record=f"{index} (episode {episode.id})", field=where)
                turns[turn.id] = where
        dangling += [f"{episode.id}/{q.id}: {e}" for q in episode.questions for e in q.evidence if e not in turns]
        cleaned = _clean_strings(episode, "")
        if cleaned:
            warnings.warn(
                f"file {file}, record {index} (episode {episode.id}), field {cleaned[0]!r}: lone surrogate "
                f"characters replaced by U+FFFD in {len(cleaned)} field(s) (a cut emoji escape?)",
                DatasetWarning, stacklevel=3)
    if dangling:
        warnings.warn(
            f"file {file}: {len(dangling)} evidence id(s) name no turn of their conversation (first: "
            f"{dangling[0]}); evidence recall ignores them", DatasetWarning, stacklevel=3)
    return episodes


def _clean_strings(obj: Any, path: str) -> list[str]:
    """Replace lone surrogates in every string field of a dataclass tree in place; the paths changed."""
    import dataclasses

    from memgym.envs.operations import _SURROGATE, clean_text

    changed: list[str] = []

    def fix(value: Any, where: str) -> Any:
        if isinstance(value, str):
            if _SURROGATE.search(value):
                changed.append(where)
                return clean_text(value)
            return value
        if isinstance(value, list):
            return [fix(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {fix(k, where): fix(v, f"{where}.{k}") for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                new = fix(getattr(value, f.name), f"{where}.{f.name}" if where else f.name)
                if new is not getattr(value, f.name):
                    setattr(value, f.name, new)
            return value
        return value

    fix(obj, path)
    return changed
