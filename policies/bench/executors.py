"""Where the chunks run: in this process, in local worker processes, or as Ray tasks.

Results are ordered by episode, so the figures do not depend on how episodes were spread.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from memgym.envs.episode import Episode
from memgym.policies.bench.results import PolicyResult
from memgym.policies.bench.runner import Task, run_chunk


def _chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def run_policy(
    spec: Any,
    name: str,
    agent: Any,
    eps: list[Episode],
    base: dict,
    workers: int,
    ray: bool,
    ray_address: str | None,
    progress: bool,
) -> PolicyResult:
    from tqdm.auto import tqdm

    start = time.perf_counter()
    parallel = ray or workers > 1
    # local: one chunk in this process; parallel: chunks of one batch each, so work spreads evenly
    size = max(1, min(base["batch_size"], math.ceil(len(eps) / (workers * 2)))) if parallel else len(eps)
    tasks = [
        Task(
            spec,
            agent,
            base["env_id"],
            base["env_kwargs"],
            [eps[i] for i in idx],
            idx,
            base["seed"],
            base["batch_size"],
            base["metrics"],
            base.get("hints") or {},
        )
        for idx in _chunks(len(eps), size)
    ]
    bar = tqdm(total=len(eps), desc=f"bench {name}", unit="episode", disable=not progress, leave=True)
    try:
        if ray:
            outs = _run_ray(tasks, ray_address, bar)
        elif workers > 1:
            outs = _run_processes(tasks, workers, bar)
        else:
            outs = [run_chunk(t, on_episode=lambda: bar.update(1)) for t in tasks]
    finally:
        bar.close()
    result = PolicyResult(name, wall_time_s=time.perf_counter() - start)
    skipped = [o["skipped"] for o in outs if o["skipped"]]
    if skipped:
        result.skipped = skipped[0]
        return result
    result.episodes = sorted((r for o in outs for r in o["records"]), key=lambda r: r["index"])
    result.tokens_generated = sum(o["tokens_generated"] for o in outs)
    return result


def _run_processes(tasks: list[Task], workers: int, bar: Any) -> list[dict]:
    import multiprocessing

    outs = []
    # spawn, not fork: torch and tokenizer threads do not survive a fork
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_chunk, t): len(t.indices) for t in tasks}
        for future in as_completed(futures):
            outs.append(future.result())
            bar.update(futures[future])
    return outs


def _run_ray(tasks: list[Task], address: str | None, bar: Any) -> list[dict]:
    try:
        import ray
    except ImportError as exc:
        from memgym.errors import DependencyNotInstalled

        raise DependencyNotInstalled("ray", "ray", "to spread the benchmark over a Ray cluster") from exc
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True)
    remote = ray.remote(num_cpus=1)(run_chunk)
    pending = {remote.remote(t): len(t.indices) for t in tasks}
    outs = []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        outs.append(ray.get(done[0]))
        bar.update(pending.pop(done[0]))
    return outs
