"""The benchmark's driver: :func:`run_bench` runs each policy on every episode and gathers the results."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memgym.envs.episode import Episode
from memgym.errors import ConfigError
from memgym.policies.bench.executors import run_policy
from memgym.policies.bench.results import DEFAULT_METRICS, BenchResult, PolicyResult
from memgym.policies.bench.specs import AgentSpec, PolicySpec
from memgym.policies.managers import MemoryPolicy

DEFAULT_ENV = "memgym/MemoryManager-v0"


def load_bench_episodes(
    source: Any = "synthetic", *, n_episodes: int | None = None, seed: int = 0, data_format: str | None = None
) -> list[Episode]:
    """The episodes to run: ``"synthetic"`` (the suite; ``n_episodes`` per length), a path (loaded with
    ``data_format`` or the detected one; the first ``n_episodes``), or a list of episodes."""
    if n_episodes is not None and n_episodes < 1:
        raise ConfigError(f"n_episodes must be at least 1, got {n_episodes}")
    if source is None or source == "synthetic":
        from memgym.envs.data import synthetic_suite

        return synthetic_suite(seed, n_episodes)
    if isinstance(source, (str, Path)):
        from memgym.envs.data import load_episodes, resolve_episodes

        episodes = load_episodes(source, data_format) if data_format else resolve_episodes(source)
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
    metrics: Sequence[str] = DEFAULT_METRICS,
    judge: Any = None,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    progress: bool = True,
    command: str | None = None,
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
        metrics: QA metrics of :func:`memgym.rewards.metrics.score_answers` (``em``, ``f1``, ``bleu1``,
            ``locomo_f1``).
        judge: an :class:`~memgym.rewards.judge.LLMJudge` (adds ``j``), or ``None``.
        workers: local processes (``1``: everything in this process).
        ray: spread the chunks over Ray (``ray.init(address=ray_address)`` unless already initialised).
        ray_address: a Ray cluster address (implies ``ray``).
        progress: show tqdm progress bars.
        command: the command line to record (the CLI passes it).

    Returns:
        A :class:`BenchResult`; ``.save(dir)`` writes the report.

    Raises:
        ConfigError: bad arguments (unknown metric, duplicate policy names, empty data, ...).
    """
    from memgym.envs.data import dataset_stats

    start = time.perf_counter()
    _check_args(metrics, batch_size, workers)
    eps = load_bench_episodes(episodes, n_episodes=n_episodes, seed=seed, data_format=data_format)
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
    }
    results = [
        run_policy(spec, name, answer_agent, eps, base, workers, ray, ray_address, progress)
        for spec, name in zip(specs, names, strict=True)
    ]
    if judge is not None:
        _judge_all(results, judge)
    config = {
        "command": command,
        **base,
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
    return BenchResult(results, config, stats, time.perf_counter() - start)


def _check_args(metrics: Sequence[str], batch_size: int, workers: int) -> None:
    from memgym.rewards.metrics import METRICS

    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(f"unknown metric(s) {unknown or '(none given)'}; known: {', '.join(METRICS)}")
    if batch_size < 1 or workers < 1:
        raise ConfigError(f"batch_size and workers must be at least 1, got {batch_size} and {workers}")


def _display(spec: Any) -> str:
    if isinstance(spec, PolicySpec):
        return spec.display
    name = getattr(spec, "name", None)
    if not isinstance(name, str):
        raise ConfigError(f"policy {spec!r} needs a string attribute 'name'")
    return name
def _judge_all(results: list[PolicyResult], judge: Any) -> None:
    """J for every question of every policy, in one judge call (cached verdicts are not asked again)."""
    rows = [q for r in results for q in r.questions()]
    if not rows:
        return
    verdicts = judge.judge(
        [q["question"] for q in rows], [q["gold"] for q in rows], [q["prediction"] for q in rows]
    )
    for row, verdict in zip(rows, verdicts, strict=True):
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
