"""Reading helpers shared by the loaders: every failure becomes a DatasetError naming file, record, field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memgym.errors import DatasetError

_TYPE_NAMES = {str: "a string", list: "a list", dict: "an object", int: "an integer", bool: "a boolean"}


def read_json(path: Path) -> Any:
    """Parse a whole JSON file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", file=str(path)
        ) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text ({exc.reason})", file=str(path)) from exc


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for every non-empty line of a JSON-lines file."""
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        f"not valid JSON ({exc.msg}, column {exc.colno})",
                        file=str(path),
                        record=f"line {number}",
                    ) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text ({exc.reason})", file=str(path)) from exc


def describe(value: Any) -> str:
    """Short description of a wrong value for an error message."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


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
        """A string field; numbers (LoCoMo answers such as 2022) are turned into strings."""
        value = self.get(obj, key, (str, int, float), path, required=required, default=default)
        return value if value is None or isinstance(value, str) else str(value)


def answers_list(value: Any) -> list[str]:
    """An answer field as a list of strings: "x" -> ["x"], ["x", 2] -> ["x", "2"]."""
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [] if value is None else [str(value)]
