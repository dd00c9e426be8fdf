"""The memories an answer agent reads: built once by a memory manager, kept, saved, reloaded.

Memory-R1's Answer Agent learns from tuples (question, the memories retrieved for it, gold answer), the
memories coming from a bank some Memory Manager built. :func:`build_answer_memories` makes those
tuples for any episodes memgym loads: it runs a manager through each conversation in a manager
environment (``memgym/MemoryManager-v0`` by default) and records, at the point each question is asked,
exactly the memories that environment's answer agent would read (its ``answer_top_k`` retrieved ones), and
the bank at the end of the conversation. The manager is

- a registered policy name (``"mem0_heuristic"``, ``"oracle"``, ``"llm"`` with ``manager_kwargs`` such as
  ``{"backend": "hf", "model": "runs/x/checkpoint"}`` for a trained manager), resolved lazily through
  :data:`MANAGER_FACTORY` (environments import nothing from :mod:`memgym.policies`);
- a policy object (``act(observations, envs)``) or a callable mapping one observation to an action;
- a saved bank: a JSON file holding one bank (``MemoryBank.to_dict``, used for every episode), banks by
  episode id, or a file this module wrote (:func:`save_answer_memories`). Questions then read the
  memories retrieved for them from that bank.

Built memories are kept per process (keyed by the manager, the manager environment, ``answer_top_k``
and the episodes' content), so the many environments a trainer makes build them once; with
``cache_path`` they are saved as JSON and reloaded by later runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgym.envs.episode import Episode, Question
from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.errors import ConfigError

#: How a registered policy name becomes a policy (a lazy entry point: envs never import policies).
MANAGER_FACTORY = "memgym.policies.managers:make_policy"
#: The format tag of the files :func:`save_answer_memories` writes.
FILE_FORMAT = "memgym-answer-memories/1"
_BUILT: dict[tuple, dict[str, BuiltMemory]] = {}  # per process: what was built, by key


@dataclass(frozen=True)
class BuiltMemory:
    """One episode's memory as the answer agent sees it: the final bank and each question's memories."""

    bank: dict
    """The manager's bank at the end of the conversation (``MemoryBank.to_dict``)."""
    memories: dict[str, list[dict]]
    """Question id -> the memories retrieved for it when it was asked (``MemoryEntry.to_dict``), best first."""

    def entries(self, question_id: str) -> list[MemoryEntry]:
        return [MemoryEntry.from_dict(d) for d in self.memories.get(question_id, [])]

    def to_dict(self) -> dict:
        return {"bank": self.bank, "memories": self.memories}


class _Recorder:
    """An answer agent that answers nothing and records what it was asked to read, by question id."""

    name = "memgym-recorder"

    def __init__(self) -> None:
        self.seen: dict[str, list[dict]] = {}

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]:
        for q, ms in zip(questions, memories, strict=True):
            self.seen[q.id] = [m.to_dict() for m in ms]
        return [""] * len(questions)


def fingerprint(episode: Episode) -> str:
    """A short hash of an episode's content (synthetic ids repeat across generator configs)."""
    text = json.dumps(episode.to_dict(), sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe_manager(manager: Any, manager_kwargs: dict | None = None) -> str:
    """What identifies a manager's memories in caches and files."""
    if isinstance(manager, (str, Path)):
        base = f"file:{Path(manager).resolve()}" if _is_file(manager) else f"policy:{manager}"
    else:
        base = f"object:{getattr(manager, 'name', type(manager).__name__)}:{id(manager)}"
    extra = json.dumps(manager_kwargs or {}, sort_keys=True, default=repr)
    return base if extra == "{}" else f"{base}:{extra}"


def _is_file(manager: Any) -> bool:
    return isinstance(manager, (str, Path)) and str(manager).endswith(".json")


def build_answer_memories(
    episodes: Sequence[Episode],
    manager: Any = "mem0_heuristic",
    *,
    manager_kwargs: dict | None = None,
    manager_env: str = "memgym/MemoryManager-v0",
    manager_env_kwargs: dict | None = None,
    answer_top_k: int = 60,
    retriever: str = "bm25",
    cache_path: str | Path | None = None,
    batch_size: int = 16,
    seed: int = 0,
) -> dict[str, BuiltMemory]:
    """Each episode's :class:`BuiltMemory` (by episode id), built by ``manager`` (see the module doc).

    Raises:
        ConfigError: an unknown policy, a saved bank file that does not exist or holds no bank for an
            episode, or a manager environment that is not in text mode.
    """
    prints = {ep.id: fingerprint(ep) for ep in episodes}
    desc = describe_manager(manager, manager_kwargs)
    key = (desc, manager_env, json.dumps(manager_env_kwargs or {}, sort_keys=True, default=repr),
           int(answer_top_k), retriever, seed, tuple(sorted(prints.items())))
    if key in _BUILT:
        return _BUILT[key]
    stored = _load(cache_path, desc, prints) if cache_path is not None else {}
    missing = [ep for ep in episodes if ep.id not in stored]
    if missing and _is_file(manager):
        built = _from_saved_banks(Path(manager), missing, answer_top_k, retriever)
    elif missing:
        built = _run_manager(missing, manager, manager_kwargs or {}, manager_env, dict(manager_env_kwargs or {}),
                             answer_top_k, batch_size, seed)
    else:
        built = {}
    out = {ep.id: stored.get(ep.id) or built[ep.id] for ep in episodes}
    if cache_path is not None and missing:
        save_answer_memories(cache_path, out, desc, prints)
    _BUILT[key] = out
    return out


def _run_manager(
    episodes: Sequence[Episode], manager: Any, manager_kwargs: dict, env_id: str, env_kwargs: dict,
    answer_top_k: int, batch_size: int, seed: int,
) -> dict[str, BuiltMemory]:
    """Step ``manager`` through every episode (``batch_size`` at a time, one policy call per round)."""
    from memgym.envs.registration import make
    from memgym.envs.stepping import step_envs

    act = _policy(manager, manager_kwargs, env_id)
    overrides = getattr(act, "env_overrides", None)
    env_kwargs = {**env_kwargs, **(overrides(env_id) if callable(overrides) else {})}
    out: dict[str, BuiltMemory] = {}
    for start in range(0, len(episodes), max(1, batch_size)):
        chunk = episodes[start : start + batch_size]
        recorders = [_Recorder() for _ in chunk]
        envs = [make(env_id, **{**env_kwargs, "episodes": [ep], "answer_agent": rec, "answer_top_k": answer_top_k}
                     ).unwrapped for ep, rec in zip(chunk, recorders, strict=True)]
        if getattr(envs[0], "action_mode", "text") != "text":
            raise ConfigError("the manager environment must be in text mode (action_mode='text')")
        obs = [env.reset(seed=seed + start + i, options={"episode_index": 0})[0] for i, env in enumerate(envs)]
        live = list(range(len(envs)))
        while live:
            actions = act([obs[i] for i in live], [envs[i] for i in live])
            for i, step in zip(live, step_envs([envs[i] for i in live], actions), strict=True):
                obs[i] = step.observation
            live = [i for i in live if envs[i].current_unit is not None]
        for ep, env, rec in zip(chunk, envs, recorders, strict=True):
            out[ep.id] = BuiltMemory(env.bank.to_dict(), rec.seen)
            env.close()
    return out


def _policy(manager: Any, kwargs: dict, env_id: str) -> Callable[[list, list], list]:
    """``manager`` as ``act(observations, envs) -> actions``."""
    if isinstance(manager, str):
        from memgym.registry import load_entry_point

        manager = load_entry_point(MANAGER_FACTORY)(manager, **kwargs)  # type: ignore[operator]
    elif kwargs:
        raise ConfigError(f"manager_kwargs {sorted(kwargs)} need a policy name, not a {type(manager).__name__}")
    if hasattr(manager, "act"):
        policy = manager

        def act(observations: list, envs: list) -> list:
            return list(policy.act(observations, envs))

        act.env_overrides = getattr(policy, "env_overrides", None)  # type: ignore[attr-defined]
        return act
    if callable(manager):
        return lambda observations, envs: [manager(o) for o in observations]
    raise ConfigError(f"manager must be a policy name, a policy, a callable or a bank .json file; got {manager!r}")


def _from_saved_banks(path: Path, episodes: Sequence[Episode], top_k: int, retriever: str) -> dict[str, BuiltMemory]:
    """Memories from saved banks: every question reads the ``top_k`` retrieved for it from its episode's bank."""
    from memgym.envs.retrieval import make_retriever

    if not path.is_file():
        raise ConfigError(f"saved bank file {str(path)!r} does not exist")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") == FILE_FORMAT:
        banks = {k: v["bank"] for k, v in data["episodes"].items()}
    elif "entries" in data:
        banks = {ep.id: data for ep in episodes}
    else:
        banks = data
    out = {}
    for ep in episodes:
        if ep.id not in banks:
            raise ConfigError(f"{str(path)!r} holds no bank for episode {ep.id!r} (it has {sorted(banks)[:5]})")
        bank = MemoryBank.from_dict(banks[ep.id])
        ranker = make_retriever(retriever)
        ranker.attach(bank)
        memories = {q.id: [m.to_dict() for m in ranker.retrieve(q.question, top_k)] for q in ep.questions}
        out[ep.id] = BuiltMemory(bank.to_dict(), memories)
    return out


def save_answer_memories(path: str | Path, built: dict[str, BuiltMemory], manager: str,
                         prints: dict[str, str] | None = None) -> Path:
    """Write built memories as JSON (reloaded by ``cache_path``; usable as a saved-bank ``manager``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    episodes = {k: {**v.to_dict(), "fingerprint": (prints or {}).get(k)} for k, v in built.items()}
    path.write_text(json.dumps({"format": FILE_FORMAT, "manager": manager, "episodes": episodes},
                               ensure_ascii=False), encoding="utf-8")
    return path


def _load(path: str | Path, manager: str, prints: dict[str, str]) -> dict[str, BuiltMemory]:
    """What a cache file holds for these episodes (same manager and content), else nothing."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FILE_FORMAT or data.get("manager") != manager:
        return {}
    return {k: BuiltMemory(v["bank"], v["memories"]) for k, v in data["episodes"].items()
            if k in prints and v.get("fingerprint") == prints[k]}


def answer_tuples(episodes: Sequence[Episode], built: dict[str, BuiltMemory]) -> list[dict]:
    """Memory-R1's answer-agent tuples: one ``{episode_id, question_id, question, category, memories,
    gold}`` per question (``memories``: the texts with ids and times, best first)."""
    return [
        {"episode_id": ep.id, "question_id": q.id, "question": q.question, "category": q.category,
         "memories": built[ep.id].memories.get(q.id, []), "gold": list(q.answers)}
        for ep in episodes for q in ep.questions
    ]


__all__ = [
    "FILE_FORMAT",
    "MANAGER_FACTORY",
    "BuiltMemory",
    "answer_tuples",
    "build_answer_memories",
    "describe_manager",
    "fingerprint",
    "save_answer_memories",
]
