"""Load episodes from any supported source: detect the format, dispatch to its loader, resolve sources.

Formats (names for ``format=`` and ``--format``): ``locomo``, ``longmemeval``, ``memoryagentbench``,
``cri`` and ``jsonl`` (the generic format). Files are read locally; the Hugging Face hub is used only
for a path written ``hf:<owner>/<dataset>/<file in the repo>`` and only when the machine is online.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from memgym.envs.data._common import check_episodes
from memgym.envs.episode import Episode
from memgym.errors import ConfigError, DatasetError
from memgym.registry import Registry

#: Loader functions ``(path, **options) -> list[Episode]`` by format name.
FORMATS: Registry = Registry("data format")
FORMATS.register("locomo", "memgym.envs.data.locomo:load_locomo")
FORMATS.register("longmemeval", "memgym.envs.data.longmemeval:load_longmemeval")
FORMATS.register("memoryagentbench", "memgym.envs.data.memoryagentbench:load_memoryagentbench")
FORMATS.register("cri", "memgym.envs.data.cri:load_cri")
FORMATS.register("jsonl", "memgym.envs.data.jsonl:load_jsonl")

_SNIFF_CHARS = 200_000
_SUFFIXES = (".json", ".jsonl", ".parquet")


def _keys_in(text: str, *keys: str) -> bool:
    return all(re.search(rf'"{re.escape(k)}"\s*:', text) for k in keys)


def _sniff(head: str) -> str | None:
    """The format of JSON text from its first characters (the files can be gigabytes)."""
    if _keys_in(head, "haystack_sessions") or _keys_in(head, "question_id", "question_type"):
        return "longmemeval"
    if _keys_in(head, "sample_id") or _keys_in(head, "qa") or re.search(r'"session_\d+"\s*:', head):
        return "locomo"
    if _keys_in(head, "context", "questions"):
        return "memoryagentbench"
    if _keys_in(head, "message_id", "role") or _keys_in(head, "session_id", "role"):
        return "cri"
    if _keys_in(head, "sessions"):
        return "jsonl"
    return None


def detect_format(path: str | Path) -> str:
    """The format of a file or folder, from its layout and the keys its JSON starts with.

    Raises:
        DatasetError: the path does not exist or looks like no known format.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError("no such file or folder", file=str(path))
    if path.is_dir():
        if (path / "conversations.jsonl").exists():
            return "cri"
        files = sorted(path.glob("*.json"))
        if (
            files
            and _sniff(files[0].read_text(encoding="utf-8", errors="replace")[:_SNIFF_CHARS]) == "locomo"
        ):
            return "locomo"
        raise DatasetError(
            "cannot tell the format of this folder (expected a CRI dataset with "
            "conversations.jsonl, or LoCoMo conversation .json files); pass format=",
            file=str(path),
        )
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = set(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DatasetError(f"cannot read parquet ({exc})", file=str(path)) from exc
        if {"context", "questions"} <= names:
            return "memoryagentbench"
        if "sessions" in names:
            return "jsonl"
        raise DatasetError(
            f"cannot tell the format of a parquet file with columns {sorted(names)}", file=str(path)
        )
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(_SNIFF_CHARS)
    found = _sniff(head)
    if found is None:
        raise DatasetError(
            f"cannot tell the format; pass format= (one of {', '.join(FORMATS.names())})", file=str(path)
        )
    return found


def download_hf(spec: str) -> Path:
    """Download ``hf:<owner>/<dataset>/<file>`` from the Hugging Face hub (online only) and return its path."""
    parts = spec.removeprefix("hf:").strip("/").split("/")
    if len(parts) < 3:
        raise ConfigError(f"{spec!r} must look like hf:<owner>/<dataset>/<file in the repository>")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise DatasetError(
            f"cannot download {filename} from {repo_id}: HF_HUB_OFFLINE is set. Download the "
            "file once while online (unset HF_HUB_OFFLINE) or pass a local path",
            file=spec,
        )
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset"))
    except Exception as exc:  # network, auth and not-found errors all end here, with the reason
        raise DatasetError(
            f"cannot download {filename} from the dataset {repo_id} ({exc})", file=spec
        ) from exc


def load_episodes(path: str | Path, format: str | None = None, **options: Any) -> list[Episode]:
    """Episodes from a local file or folder (or ``hf:owner/dataset/file``), in ``format`` or the detected one.

    ``options`` go to the format's loader (e.g. ``turn_tokens=`` for memoryagentbench).

    Every format's episodes then pass the shared checks of :func:`memgym.envs.data._common.check_episodes`
    (no empty file, unique episode and turn ids, valid Unicode, evidence naming turns).

    Raises:
        DatasetError: unreadable input; the message names the file, the record and the field.
        UnknownNameError: ``format`` is not a known format.
    """
    if isinstance(path, str) and path.startswith("hf:"):
        path = download_hf(path)
    path = Path(path)
    if format is None:
        format = detect_format(path)
    loader = FORMATS.get(format)
    if not path.exists():
        raise DatasetError("no such file or folder", file=str(path))
    try:
        episodes = loader(path, **options)
    except DatasetError as err:
        if err.file is None:  # a helper that could not know the file: name it here
            raise DatasetError(str(err), file=str(path)) from err
        raise
    return check_episodes(episodes, path)


def resolve_episodes(source: str | Path | list[Episode] | None = "synthetic", **kwargs: Any) -> list[Episode]:
    """The episodes an environment runs on, from whatever the user named.

    - ``"synthetic"`` or ``None``: :func:`~memgym.envs.data.generate_synthetic` with ``kwargs``
      (``n_episodes``, ``seed``, ``config``: a :class:`SyntheticConfig` or a mapping of its fields);
    - ``"cri"``: the persona conversation of the installed ``cri-benchmark`` package;
    - a path (or ``hf:...``): :func:`load_episodes` with ``kwargs``;
    - a list of episodes (or a ``datasets.Dataset`` of them): itself.
    """
    if source is None or source == "synthetic":
        from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic

        config = kwargs.pop("config", None)
        if isinstance(config, dict):
            config = SyntheticConfig.from_dict(config)
        return generate_synthetic(config=config, **kwargs)
    if source == "cri" and not Path("cri").exists():
        from memgym.envs.data.cri import load_cri

        return load_cri(**kwargs)
    if isinstance(source, (str, Path)):
        return load_episodes(source, **kwargs)
    if isinstance(source, list):
        bad = [i for i, ep in enumerate(source) if not isinstance(ep, Episode)]
        if bad:
            raise ConfigError(f"source list items {bad[:5]} are not Episode objects")
        return source
    if hasattr(source, "features") and hasattr(source, "column_names"):
        from memgym.envs.episode import from_dataset

        return from_dataset(source)
    raise ConfigError(
        f"cannot make episodes from a {type(source).__name__}; pass 'synthetic', a path, or a list of Episode"
    )
