"""The benchmark harness: memory-manager policies x one environment x a dataset -> QA accuracy by category,
operation mix and accuracy, memory size, tokens generated and wall time.

:func:`run_bench` is what ``memgym bench`` runs and what the trainers' periodic evaluation calls::

    from memgym.policies.bench import run_bench
    from memgym.policies.llm_policy import LLMPolicy

    result = run_bench([LLMPolicy(backend), "mem0_heuristic", "noop"], "memgym/MemoryManager-v0",
                       held_out_episodes, env_kwargs={"max_entries": 40}, seed=0, progress=False)
    result.metrics(prefix="eval/")          # flat {"eval/llm/em": ..., "eval/llm/single-hop/em": ...}
    result.summary()["llm"]["overall"]["em"]
    result.save("runs/x/bench")             # results.json, report.md, PNG plots

``expand_policy_names(["heuristic"])`` (:mod:`memgym.policies.managers`) lists the heuristic baselines.

**How an episode runs.** For each policy, ``batch_size`` environments are stepped together: the policy
acts on all of them in one call (one generation batch for an LLM policy), each environment applies its
action (:meth:`~memgym.envs.base.MemoryEnv.begin_step`), the questions pending in all of them go to the
answer agent in one call (:func:`memgym.envs.answer_pending`), and the steps finish
(:meth:`~memgym.envs.base.MemoryEnv.end_step`); a finished environment starts the next episode. The
predictions the environment recorded in ``info["answers"]`` are scored again here with every metric
asked for (:func:`memgym.rewards.metrics.score_answers`), and, with a judge, by the LLM judge (J) in one
batch at the end.

**Parallelism.** ``workers > 1`` runs chunks of episodes in that many local processes; ``ray=True`` (or
``ray_address=...``) sends the same chunks to a Ray cluster as tasks. Policies and answer agents given
by name or spec are built once per worker process; objects are pickled to the workers. Results are
ordered by episode, so the figures do not depend on how episodes were spread.

**Determinism.** Episode ``i`` is reset with ``seed + i``; the synthetic suite is generated from
``seed``. Baselines and the extractive agent are deterministic; LLM policies are when their backend is
(greedy or seeded sampling, with the same ``batch_size`` and number of workers).
"""

from __future__ import annotations

import functools
import math
import pickle
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memgym.envs.episode import Episode
from memgym.errors import ConfigError
from memgym.policies.managers import MemoryPolicy, env_kind, make_policy

DEFAULT_ENV = "memgym/MemoryManager-v0"
DEFAULT_METRICS: tuple[str, ...] = ("em", "f1", "bleu1")
#: The default data: synthetic conversations of three lengths (name, episodes, SyntheticConfig fields).
SYNTHETIC_SUITE: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("short", 6, {"n_sessions": 5}),
    ("medium", 6, {"n_sessions": 10}),
    ("long", 6, {"n_sessions": 20}),
)
OP_COLUMNS: tuple[str, ...] = ("ADD", "UPDATE", "DELETE", "NOOP", "failed", "invalid_action")


# ----------------------------------------------------------------------------- specs (picklable)
@dataclass(frozen=True)
class BackendSpec:
    """A generation backend by name (:func:`memgym.policies.backends.make_backend`), built once per process."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Any:
        return _shared_backend(self)


@functools.cache
def _shared_backend(spec: BackendSpec) -> Any:
    from memgym.policies.backends import make_backend

    return make_backend(spec.name, **dict(spec.kwargs))


def backend_spec(name: str, **kwargs: Any) -> BackendSpec:
    """A :class:`BackendSpec` (keyword arguments with ``None`` values are left out)."""
    return BackendSpec(name, tuple(sorted((k, v) for k, v in kwargs.items() if v is not None)))


@dataclass(frozen=True)
class PolicySpec:
    """A policy by registry name, with keyword arguments and, for model policies, a backend to build."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    backend: BackendSpec | None = None
    label: str | None = None  # the name reports show (default: ``name``)

    def build(self) -> MemoryPolicy:
        kwargs = dict(self.kwargs)
        if self.backend is not None:
            kwargs["backend"] = self.backend.build()
        policy = make_policy(self.name, **kwargs)
        if self.label:
            policy.name = self.label
        return policy

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class AgentSpec:
    """An answer agent: ``"extractive"`` (model-free) or ``"llm"`` (on ``backend``), built once per process."""

    kind: str = "extractive"
    backend: BackendSpec | None = None
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Any:
        if self.kind == "extractive":
            from memgym.policies.extractive_answer import ExtractiveAnswerAgent

            return ExtractiveAnswerAgent(**dict(self.kwargs))
        if self.kind == "llm":
            from memgym.policies.answer_agent import LLMAnswerAgent

            if self.backend is None:
                raise ConfigError("the llm answer agent needs a backend (e.g. --backend hf --model PATH)")
            return LLMAnswerAgent(self.backend.build(), **dict(self.kwargs))
        raise ConfigError(f"unknown answer agent {self.kind!r}; known: extractive, llm")


_BUILT: dict[bytes, Any] = {}  # per process: what specs built (workers reuse models across chunks)


def _build(spec: Any) -> Any:
    if not isinstance(spec, (PolicySpec, AgentSpec)):
        return spec
    key = pickle.dumps(spec)
    if key not in _BUILT:
        _BUILT[key] = spec.build()
    return _BUILT[key]


# ----------------------------------------------------------------------------- data
def synthetic_suite(seed: int = 0, n_per_length: int | None = None) -> list[Episode]:
    """The default benchmark data (:data:`SYNTHETIC_SUITE`): episodes of three lengths, distinct ids.

    Each episode's ``metadata["suite"]`` names its length group.
    """
    from memgym.envs.data.synthetic import SyntheticConfig, generate_episode

    episodes, index = [], 0
    for name, count, fields in SYNTHETIC_SUITE:
        for _ in range(count if n_per_length is None else n_per_length):
            episode = generate_episode(seed, index, SyntheticConfig(**fields))
            episode.metadata["suite"] = name
            episodes.append(episode)
            index += 1
    return episodes


def load_bench_episodes(
    source: Any = "synthetic", *, n_episodes: int | None = None, seed: int = 0, data_format: str | None = None
) -> list[Episode]:
    """The episodes to run: ``"synthetic"`` (the suite; ``n_episodes`` per length), a path (loaded with
    ``data_format`` or the detected one; the first ``n_episodes``), or a list of episodes."""
    if n_episodes is not None and n_episodes < 1:
        raise ConfigError(f"n_episodes must be at least 1, got {n_episodes}")
    if source is None or source == "synthetic":
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


# ----------------------------------------------------------------------------- results
@dataclass
class PolicyResult:
    """Everything measured for one policy: a record per episode (with every question), and totals."""

    name: str
    episodes: list[dict] = field(default_factory=list)
    tokens_generated: int = 0
    wall_time_s: float = 0.0
    skipped: str | None = None

    def questions(self) -> list[dict]:
        return [q for ep in self.episodes for q in ep["questions"]]

    def summary(self, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, Any]:
        """QA by category and overall, operations, op accuracy, memory size, tokens and time."""
        qs = self.questions()
        names = [m for m in (*metrics, "j") if any(m in q for q in qs)]
        by_cat: dict[str, list[dict]] = {}
        for q in qs:
            by_cat.setdefault(q["category"], []).append(q)
        ops = Counter()
        for ep in self.episodes:
            ops.update(ep["ops"])
        agree = [a for ep in self.episodes for a in ep["op_agreement"]]
        agree_facts = [a for ep in self.episodes for a in ep["op_agreement_facts"]]
        return {
            "skipped": self.skipped,
            "episodes": len(self.episodes),
            "steps": sum(ep["steps"] for ep in self.episodes),
            "overall": _means(qs, names),
            "by_category": {c: _means(rows, names) for c, rows in sorted(by_cat.items())},
            "ops": {k: int(ops.get(k, 0)) for k in OP_COLUMNS},
            "op_accuracy": _mean(agree),
            "op_accuracy_facts": _mean(agree_facts),
            "memory_entries": _mean([ep["memory_entries"] for ep in self.episodes]),
            "memory_tokens": _mean([ep["memory_tokens"] for ep in self.episodes]),
            "tokens_generated": self.tokens_generated,
            "wall_time_s": round(self.wall_time_s, 3),
        }


@dataclass
class BenchResult:
    """The result of :func:`run_bench`: one :class:`PolicyResult` per policy, and how it was produced."""

    policies: list[PolicyResult]
    config: dict[str, Any]
    dataset: dict[str, Any]
    wall_time_s: float = 0.0

    @property
    def metric_names(self) -> list[str]:
        names = list(self.config.get("metrics", DEFAULT_METRICS))
        return names + (["j"] if self.config.get("judge") else [])

    def summary(self) -> dict[str, dict[str, Any]]:
        """Policy name -> :meth:`PolicyResult.summary`."""
        return {p.name: p.summary(self.config.get("metrics", DEFAULT_METRICS)) for p in self.policies}

    def categories(self) -> list[str]:
        """The QA categories present, in a stable order (synthetic, then LoCoMo order, then by name)."""
        from memgym.envs.data.synthetic import CATEGORIES
        from memgym.rewards.metrics import LOCOMO_CATEGORIES

        found = {q["category"] for p in self.policies for q in p.questions()}
        known = [c for c in (*CATEGORIES, *LOCOMO_CATEGORIES) if c in found]
        return list(dict.fromkeys(known + sorted(found)))

    def metrics(self, prefix: str = "bench/") -> dict[str, float]:
        """A flat dict for loggers: ``{prefix}{policy}/{metric}``, per category
        ``{prefix}{policy}/{category}/{metric}``, plus op accuracy, memory size and tokens generated."""
        out: dict[str, float] = {}
        for name, s in self.summary().items():
            if s["skipped"]:
                continue
            for metric, value in s["overall"].items():
                if value is not None:
                    out[f"{prefix}{name}/{metric}"] = float(value)
            for category, row in s["by_category"].items():
                for metric, value in row.items():
                    if metric != "n" and value is not None:
                        out[f"{prefix}{name}/{category}/{metric}"] = float(value)
            for key in ("op_accuracy", "op_accuracy_facts", "memory_entries", "memory_tokens"):
                if s[key] is not None:
                    out[f"{prefix}{name}/{key}"] = float(s[key])
            out[f"{prefix}{name}/tokens_generated"] = float(s["tokens_generated"])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: config (command line, seed, env id), dataset stats, summaries, and the
        per-episode records with every question."""
        return {
            "config": self.config,
            "dataset": self.dataset,
            "wall_time_s": round(self.wall_time_s, 3),
            "summary": self.summary(),
            "policies": {
                p.name: {
                    "skipped": p.skipped,
                    "tokens_generated": p.tokens_generated,
                    "wall_time_s": round(p.wall_time_s, 3),
                    "episodes": p.episodes,
                }
                for p in self.policies
            },
        }

    def markdown(self) -> str:
        """The report's Markdown (:func:`memgym.policies.bench_report.markdown_report`)."""
        from memgym.policies.bench_report import markdown_report

        return markdown_report(self)

    def save(self, out_dir: str | Path, plots: bool = True) -> dict[str, Path]:
        """Write ``results.json``, ``report.md`` and the PNG plots into ``out_dir``; returns their paths."""
        from memgym.policies.bench_report import write_report

        return write_report(self, out_dir, plots=plots)


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _means(rows: list[dict], names: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {"n": len(rows)}
    for m in names:
        out[m] = _mean([r[m] for r in rows if r.get(m) is not None])
    return out


# ----------------------------------------------------------------------------- running one chunk
@dataclass
class _Task:
    """A chunk of episodes for one policy: what a worker needs (picklable)."""

    policy: Any  # a policy object or a PolicySpec
    agent: Any  # an answer agent, an AgentSpec, or None (each environment's default)
    env_id: str
    env_kwargs: dict
    episodes: list[Episode]
    indices: list[int]  # global episode indices, for seeds and ordering
    seed: int
    batch_size: int
    metrics: tuple[str, ...]


@dataclass
class _Slot:
    env: Any
    index: int  # global episode index
    obs: Any
    record: dict
    labels: dict[str, list[str]]
    questions: dict[str, Any]
    rows: list[tuple[Any, str, int]] = field(default_factory=list)  # (question, prediction, tokens read)


def run_chunk(task: _Task, on_episode: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run the episodes of one task with batched stepping; returns records, tokens generated, wall time,
    or ``skipped`` with the reason when the policy does not apply to the environment."""
    import memgym.envs

    start = time.perf_counter()
    policy, agent = _build(task.policy), _build(task.agent)
    base = {**task.env_kwargs, "episodes": task.episodes}
    if agent is not None:
        base["answer_agent"] = agent
    if hasattr(policy, "check"):  # on the environment as asked, before the policy's own overrides
        try:
            policy.check(memgym.envs.make(task.env_id, **base).unwrapped)
        except ConfigError as exc:
            return {"records": [], "tokens_generated": 0, "wall_s": 0.0, "skipped": str(exc)}
    kwargs = {**base, **(policy.env_overrides(task.env_id) if hasattr(policy, "env_overrides") else {})}
    n_envs = max(1, min(task.batch_size, len(task.episodes)))
    envs = [memgym.envs.make(task.env_id, **kwargs).unwrapped for _ in range(n_envs)]
    tokens_before = _tokens(policy)
    queue = deque(range(len(task.episodes)))
    slots: list[_Slot | None] = [_start(env, queue.popleft(), task) if queue else None for env in envs]
    records = []
    while any(slots):
        active = [s for s in slots if s is not None]
        actions = policy.act([s.obs for s in active], [s.env for s in active])
        if len(actions) != len(active):
            raise ConfigError(
                f"policy {getattr(policy, 'name', policy)!r} returned {len(actions)} actions "
                f"for {len(active)} environments"
            )
        finished = _step_all(active, actions, policy, agent)
        for slot in finished:
            records.append(_finish(slot, task.metrics))
            if on_episode is not None:
                on_episode()
            i = slots.index(slot)
            slots[i] = _start(slot.env, queue.popleft(), task) if queue else None
    return {
        "records": records,
        "tokens_generated": _tokens(policy) - tokens_before,
        "wall_s": time.perf_counter() - start,
        "skipped": None,
    }


def _tokens(policy: Any) -> int:
    return int(policy.stats().get("tokens_generated", 0)) if hasattr(policy, "stats") else 0


def _start(env: Any, local: int, task: _Task) -> _Slot:
    episode = task.episodes[local]
    index = task.indices[local]
    obs, info = env.reset(seed=task.seed + index, options={"episode_index": local})
    labels: dict[str, list[str]] = {}
    for label in episode.op_labels:
        labels.setdefault(label.turn_id, []).append(label.kind)
    record = {
        "index": index,
        "episode_id": episode.id,
        "source": episode.source,
        "group": episode.metadata.get("suite"),
        "n_turns": len(episode.turns()),
        "n_tokens": sum(len(t.text.split()) for t in episode.turns()),
        "steps": 0,
        "tokens_read": 0,
        "ops": Counter(),
        "op_agreement": [],
        "op_agreement_facts": [],
        "evidence_recall": [],
        "measure_ops": bool(labels) and env_kind(env) != "overwrite",
    }
    return _Slot(env, index, obs, record, labels, {q.id: q for q in episode.questions})


def _step_all(active: list[_Slot], actions: Sequence[Any], policy: Any, agent: Any) -> list[_Slot]:
    """One batched step of every active slot; returns the slots whose episode ended."""
    from memgym.envs import answer_pending

    units = [s.env.current_unit for s in active]
    requests = [s.env.begin_step(a) for s, a in zip(active, actions, strict=True)]
    if hasattr(policy, "answer_memories"):
        for slot, request in zip(active, requests, strict=True):
            if request is not None:
                # in place: the environment scores evidence recall on the same lists
                request.memories[:] = policy.answer_memories(slot.env, request.questions, request.memories)
                request.agent_name += f"|{policy.name}-context"
    answer_agent = agent if agent is not None else active[0].env.answer_agent
    answers = answer_pending(requests, answer_agent, active[0].env.answer_cache)
    finished = []
    for slot, unit, ans in zip(active, units, answers, strict=True):
        obs, _, terminated, truncated, info = slot.env.end_step(ans)
        slot.obs = obs
        _record_step(slot, unit, info)
        if terminated or truncated:
            slot.record["memory_entries"] = int(info["memory_entries"])
            slot.record["memory_tokens"] = int(info["memory_tokens"])
            finished.append(slot)
    return finished


def _record_step(slot: _Slot, unit: Any, info: dict) -> None:
    from memgym.rewards.shaping import oracle_op_agreement

    rec = slot.record
    rec["steps"] += 1
    rec["ops"].update(info.get("op_counts") or {})
    if info.get("error") is not None:
        rec["ops"]["invalid_action"] += 1
    if rec["measure_ops"]:
        wanted = [k for t in unit.turns for k in slot.labels.get(t.id, ())]
        agreement = oracle_op_agreement([o["op"]["kind"] for o in info["ops"] if o["ok"]], wanted)
        rec["op_agreement"].append(agreement)
        if any(k != "NOOP" for k in wanted):
            rec["op_agreement_facts"].append(agreement)
    if slot.env.current_unit is not unit:  # the step moved on (a search round shows the same unit again)
        rec["tokens_read"] += unit.n_tokens
    if "evidence_recall" in info:
        rec["evidence_recall"].append(float(info["evidence_recall"]))
    for row in info.get("answers", ()):
        slot.rows.append((slot.questions[row["question_id"]], row["prediction"], rec["tokens_read"]))


def _finish(slot: _Slot, metrics: Sequence[str]) -> dict:
    from memgym.rewards.metrics import score_answers

    rec = slot.record
    questions = [q for q, _, _ in slot.rows]
    scores = score_answers([p for _, p, _ in slot.rows], questions, metrics) if questions else []
    rec["questions"] = [
        {
            "id": q.id,
            "category": q.category,
            "question": q.question,
            "gold": list(q.answers),
            "prediction": pred,
            "tokens_read": read,
            "asked_after": q.asked_after,
            **row,
        }
        for (q, pred, read), row in zip(slot.rows, scores, strict=True)
    ]
    rec["ops"] = {k: int(rec["ops"].get(k, 0)) for k in OP_COLUMNS}
    rec["evidence_recall"] = _mean(rec["evidence_recall"])
    del rec["measure_ops"]
    return rec


# ----------------------------------------------------------------------------- the driver
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
        episodes: ``"synthetic"`` (:func:`synthetic_suite`), a data file or folder, or a list of
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
        _run_policy(spec, name, answer_agent, eps, base, workers, ray, ray_address, progress)
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


def _chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def _run_policy(
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
        _Task(
            spec,
            agent,
            base["env_id"],
            base["env_kwargs"],
            [eps[i] for i in idx],
            idx,
            base["seed"],
            base["batch_size"],
            base["metrics"],
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


def _run_processes(tasks: list[_Task], workers: int, bar: Any) -> list[dict]:
    import multiprocessing

    outs = []
    # spawn, not fork: torch and tokenizer threads do not survive a fork
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_chunk, t): len(t.indices) for t in tasks}
        for future in as_completed(futures):
            outs.append(future.result())
            bar.update(futures[future])
    return outs


def _run_ray(tasks: list[_Task], address: str | None, bar: Any) -> list[dict]:
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
