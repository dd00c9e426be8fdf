"""The benchmark's driver: :func:`run_bench` runs each policy on every episode and gathers the results."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memgym.envs.episode import Episode
from memgym.errors import ConfigError
from memgym.policies.bench.executors import run_policy
from memgym.policies.bench.results import BenchResult, PolicyResult
from memgym.policies.bench.specs import AgentSpec, PolicySpec
from memgym.policies.managers import MemoryPolicy

DEFAULT_ENV = "memgym/MemoryManager-v0"


def load_bench_episodes(
    source: Any = "synthetic",
    *,
    n_episodes: int | None = None,
    seed: int = 0,
    data_format: str | None = None,
    loader_options: dict[str, dict[str, Any]] | None = None,
) -> list[Episode]:
    """The episodes to run: ``"synthetic"`` (the suite; ``n_episodes`` per length), a path (loaded with
    ``data_format`` or the detected one, with ``loader_options[format]``; the first ``n_episodes``), or
    a list of episodes."""
    if n_episodes is not None and n_episodes < 1:
        raise ConfigError(f"n_episodes must be at least 1, got {n_episodes}")
    if source is None or source == "synthetic":
        from memgym.envs.data import synthetic_suite

        return synthetic_suite(seed, n_episodes)
    if isinstance(source, (str, Path)) and not (source == "cri" and not Path(source).exists()):
        from memgym.envs.data import detect_format, load_episodes

        fmt = data_format or (None if str(source).startswith("hf:") else detect_format(source))
        options = dict((loader_options or {}).get(fmt or "", {}))
        episodes = load_episodes(source, fmt, **options)
    elif isinstance(source, (str, Path)):
        from memgym.envs.data import resolve_episodes

        episodes = resolve_episodes(source)
    else:
        from memgym.envs.data import resolve_episodes

        episodes = resolve_episodes(source)
    if not episodes:
        raise ConfigError(f"{source!r} holds no episodes")
    return episodes[:n_episodes] if n_episodes else list(episodes)


def run_bench(
    policies: Sequence[str | PolicySpec | MemoryPolicy],
    env_id: str = DEFAULT_ENV,
    episodes: Any = "synthetic",
    *,
    answer_agent: Any = None,
    env_kwargs: dict[str, Any] | None = None,
    n_episodes: int | None = None,
    data_format: str | None = None,
    seed: int = 0,
    batch_size: int = 8,
    metrics: Sequence[str] | None = None,
    judge: Any = None,
    protocol: Any = None,
    split: str | None = None,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    progress: bool = True,
    command: str | None = None,
    resume_dir: str | Path | None = None,
) -> BenchResult:
    """Run each policy on every episode of ``episodes`` in environment ``env_id`` and measure it.

    Args:
        policies: registry names (``"mem0_heuristic"``), :class:`PolicySpec` s, or policy objects
            (:class:`~memgym.policies.managers.MemoryPolicy`, e.g. an
            :class:`~memgym.policies.llm_policy.LLMPolicy` over the model being trained). Names must be
            unique. A policy that does not apply to the environment is reported as skipped, with why.
        env_id: a registered environment id; it must be in text mode.
        episodes: ``"synthetic"`` (:func:`memgym.envs.data.synthetic_suite`), a data file or folder, or a list of
            :class:`~memgym.envs.episode.Episode` (see :func:`load_bench_episodes`).
        answer_agent: an :class:`~memgym.policies.base.AnswerAgent`, an :class:`AgentSpec`, or ``None``
            for the environment's default (the model-free extractive agent).
        env_kwargs: environment arguments (capacity ``max_entries``/``max_tokens``, ``retriever``,
            ``answer_top_k``, ...); a policy's own needs (``rag_turns``: no capacity) are overlaid.
        n_episodes: episodes per length group of the synthetic suite, or the first ``n`` of a file.
        data_format: the format of a data file (default: detected).
        seed: seeds the synthetic suite and each episode's reset (``seed + index``).
        batch_size: environments stepped together per worker (one policy call and one answer-agent
            call per step for all of them).
        metrics: QA metrics (names of :data:`memgym.rewards.metrics.METRICS`); default the protocol's.
        judge: an :class:`~memgym.rewards.judge.LLMJudge` (adds ``j``, asked in the protocol's judge
            style on the judge's backend), or ``None``.
        protocol: a name of :data:`memgym.rewards.protocols.PROTOCOLS` or a
            :class:`~memgym.rewards.protocols.Protocol`; default the data's natural protocol (``locomo``
            for LoCoMo, ``longmemeval``, ``memoryagentbench``, else ``memgym``). It fixes the split, the
            categories counted, the metrics, the judge's style, the answer hints and the averaging.
        split: the part of the protocol's split (``memory-r1``: ``train``, ``validation``, ``test`` or
            ``all``; default ``test``, or ``validation`` when the data has no test conversation).
        workers: local processes (``1``: everything in this process).
        ray: spread the chunks over Ray (``ray.init(address=ray_address)`` unless already initialised).
        ray_address: a Ray cluster address (implies ``ray``).
        progress: show tqdm progress bars.
        command: the command line to record (the CLI passes it).

    Returns:
        A :class:`BenchResult`; ``.save(dir)`` writes the report.

    Raises:
        ConfigError: bad arguments (unknown metric, duplicate policy names, empty data, ...); a judge for
            a protocol without one or none for a protocol that needs one; an answer agent that cannot
            answer the data (the extractive agent on questions without candidates).
    """
    from memgym.envs.data import dataset_stats
    from memgym.rewards.protocols import get_protocol, natural_protocol

    start = time.perf_counter()
    chosen = get_protocol(protocol) if protocol is not None else None
    synthetic = episodes is None or episodes == "synthetic"
    eps = load_bench_episodes(
        episodes, n_episodes=n_episodes if synthetic else None, seed=seed, data_format=data_format,
        loader_options=dict(chosen.loader_options) if chosen else None,
    )
    chosen = chosen or natural_protocol(eps)
    selection = chosen.select(eps, split)
    eps = selection.episodes[:n_episodes] if n_episodes and not synthetic else selection.episodes
    metrics = tuple(chosen.metrics if metrics is None else metrics)
    judge = _protocol_judge(judge, chosen, metrics)
    _check_args(metrics, batch_size, workers, judged=judge is not None)
    _check_answerable(eps, answer_agent, env_kwargs or {})
    specs = [PolicySpec(p) if isinstance(p, str) else p for p in policies]
    names = [_display(s) for s in specs]
    if not specs or len(set(names)) != len(names):
        raise ConfigError(f"give one or more policies with distinct names, got {names}")
    ray = bool(ray or ray_address)
    base = {
        "env_id": env_id,
        "env_kwargs": dict(env_kwargs or {}),
        "seed": seed,
        "batch_size": batch_size,
        "metrics": tuple(metrics),
        "hints": chosen.hints(eps),
    }
    results = []
    for spec, name in zip(specs, names, strict=True):
        key = _fingerprint(spec, answer_agent, eps, base, chosen)
        done = _load_finished(resume_dir, name, key)
        if done is None:
            done = run_policy(spec, name, answer_agent, eps, base, workers, ray, ray_address, progress)
            _save_finished(resume_dir, done, key)
        results.append(done)
    if judge is not None:
        _judge_all(results, judge, chosen, eps)
    config = {
        "command": command,
        **{k: v for k, v in base.items() if k != "hints"},
        "protocol": {
            **chosen.describe(), "part": selection.part, "notes": [*selection.notes, *chosen.notes],
            "excluded": selection.excluded, "hinted_questions": len(base["hints"]),
            "metrics_overridden": list(metrics) != list(chosen.metrics),
        },
        "env_kwargs": _jsonable(base["env_kwargs"]),
        "metrics": list(metrics),
        "policies": names,
        "answer_agent": _describe(answer_agent) or "extractive (environment default)",
        "judge": _describe(judge),
        "workers": workers,
        "ray": ray_address or ray,
        "data": str(episodes) if isinstance(episodes, (str, Path)) else "episodes",
        "data_format": data_format,
        "n_episodes": n_episodes,
        "suite": _suite_note(episodes),
        "versions": _versions(),
    }
    stats = dataset_stats(eps)
    stats["groups"] = dict(Counter(ep.metadata.get("suite", ep.source) for ep in eps))
    return BenchResult(results, config, stats, time.perf_counter() - start, chosen)


def _check_args(metrics: Sequence[str], batch_size: int, workers: int, judged: bool = False) -> None:
    from memgym.rewards.metrics import check_metrics

    if metrics or not judged:
        check_metrics(metrics)
    if batch_size < 1 or workers < 1:
        raise ConfigError(f"batch_size and workers must be at least 1, got {batch_size} and {workers}")


def _display(spec: Any) -> str:
    if isinstance(spec, PolicySpec):
        return spec.display
    name = getattr(spec, "name", None)
    if not isinstance(name, str):
        raise ConfigError(f"policy {spec!r} needs a string attribute 'name'")
    return name
def _protocol_judge(judge: Any, protocol: Any, metrics: Sequence[str]) -> Any:
    """The judge in the protocol's style (its backend and cache kept), or why the protocol refuses."""
    from memgym.rewards.judge import LLMJudge

    if judge is None:
        if protocol.judge_required and not metrics:
            raise ConfigError(
                f"the {protocol.name} protocol scores answers with its LLM judge only: pass a judge "
                "(--judge, with --judge-backend / --judge-model for a strong model), or name model-free "
                "metrics with --metrics (they are then not the benchmark's figure)"
            )
        return None
    if protocol.judge is None:
        raise ConfigError(
            f"the {protocol.name} protocol has no LLM judge (its figure is {protocol.primary}); drop the "
            "judge, or use a protocol with one (mem0, memory-r1, longmemeval, memgym)"
        )
    if isinstance(judge, LLMJudge) and judge.style.name != protocol.judge:
        return LLMJudge(judge.backend, None, judge.cache, style=protocol.judge)
    return judge


def _check_answerable(episodes: list[Episode], answer_agent: Any, env_kwargs: dict[str, Any]) -> None:
    """Refuse an extractive answer agent on questions without candidates: it could only abstain."""
    agent = answer_agent if answer_agent is not None else env_kwargs.get("answer_agent")
    if not _is_extractive(agent):
        return
    questions = [q for ep in episodes for q in ep.questions]
    if questions and not any(q.candidates for q in questions):
        raise ConfigError(
            f"the extractive answer agent cannot answer this data: none of its {len(questions)} questions "
            "has answer candidates (only memgym's synthetic data has them), so it would abstain on every "
            "question and the tables would report abstentions as scores. Answer with a model: "
            "--answer-agent llm --backend hf|vllm|openai --model ... (in Python: answer_agent="
            "AgentSpec('llm', backend_spec('hf', model=...)))"
        )


def _is_extractive(agent: Any) -> bool:
    from memgym.policies.answer_agents.extractive import ExtractiveAnswerAgent

    if agent is None or agent == "extractive":
        return True
    if isinstance(agent, AgentSpec):
        return agent.kind == "extractive"
    return isinstance(agent, ExtractiveAnswerAgent)


def _judge_all(results: list[PolicyResult], judge: Any, protocol: Any, episodes: list[Episode]) -> None:
    """J for every question of every policy, in one judge call (cached verdicts are not asked again);
    each item is what the protocol's judge sees (its question type, gold text)."""
    from memgym.rewards.judge import JudgeItem, LLMJudge

    rows = [(ep["episode_id"], q) for r in results for ep in r.episodes for q in ep["questions"]]
    if not rows:
        return
    index = {(ep.id, q.id): (q, ep) for ep in episodes for q in ep.questions}
    if isinstance(judge, LLMJudge):
        items = [
            protocol.judge_item(*index[(ep_id, row["id"])], row["prediction"])
            if (ep_id, row["id"]) in index
            else JudgeItem(row["question"], " OR ".join(row["gold"]), row["prediction"], row["category"])
            for ep_id, row in rows
        ]
        verdicts = judge.judge_items(items)
    else:  # any object with judge(questions, gold, predictions)
        verdicts = judge.judge(
            [q["question"] for _, q in rows], [q["gold"] for _, q in rows], [q["prediction"] for _, q in rows]
        )
    for (_, row), verdict in zip(rows, verdicts, strict=True):
        row["j"] = float(verdict)


def _describe(obj: Any) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, AgentSpec):
        backend = f" on {obj.backend.name} {dict(obj.backend.kwargs)}" if obj.backend else ""
        return f"{obj.kind}{backend}"
    name = getattr(obj, "name", None)
    return f"{type(obj).__name__}({name})" if isinstance(name, str) else type(obj).__name__


def _suite_note(source: Any) -> list[dict] | None:
    if source is None or source == "synthetic":
        from memgym.envs.data import SYNTHETIC_SUITE

        return [{"group": name, "episodes": n, "config": fields} for name, n, fields in SYNTHETIC_SUITE]
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _versions() -> dict[str, str]:
    import platform

    from memgym import __version__

    return {"memgym": __version__, "python": platform.python_version(), "platform": platform.platform()}


# ----------------------------------------------------------------------------- resuming a killed bench
_FINISHED = "finished"  # resume_dir/finished/<policy>.json: one finished policy's results and what made them


def _fingerprint(spec: Any, agent: Any, eps: Sequence[Episode], base: dict, protocol: Any) -> str | None:
    """What a policy's results depend on, hashed; ``None`` (never reused) when a part cannot be described
    stably (a policy or answer agent given as an object)."""
    import hashlib
    import json

    if not isinstance(spec, PolicySpec) or not (agent is None or isinstance(agent, AgentSpec)):
        return None
    payload = json.dumps(
        [repr(spec), repr(agent), [e.id for e in eps], _jsonable({k: v for k, v in base.items() if k != "hints"}),
         getattr(protocol, "name", None), sum(len(e.questions) for e in eps)],
        sort_keys=True, default=repr,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _load_finished(resume_dir: str | Path | None, name: str, key: str | None) -> PolicyResult | None:
    """The results a killed or finished earlier run of the same bench saved for this policy."""
    import json

    if resume_dir is None or key is None:
        return None
    path = Path(resume_dir) / _FINISHED / f"{_safe(name)}.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("key") != key:
        return None
    print(f"[memgym] bench {name}: reusing the finished results in {path}", file=sys.stderr)
    return PolicyResult(name, saved["episodes"], saved["tokens_generated"], saved["wall_time_s"], saved["skipped"])


def _save_finished(resume_dir: str | Path | None, result: PolicyResult, key: str | None) -> None:
    """Save one finished policy atomically, so a kill loses at most the policy that was running."""
    import json
    import os

    if resume_dir is None or key is None:
        return
    folder = Path(resume_dir) / _FINISHED
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"key": key, "name": result.name, "episodes": result.episodes, "skipped": result.skipped,
               "tokens_generated": result.tokens_generated, "wall_time_s": result.wall_time_s}
    tmp = folder / f"{_safe(result.name)}.json.tmp"
    tmp.write_text(json.dumps(payload, default=_jsonable), encoding="utf-8")
    os.replace(tmp, folder / f"{_safe(result.name)}.json")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
