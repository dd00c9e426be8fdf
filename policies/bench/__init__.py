"""The benchmark harness: memory-manager policies x one environment x a dataset -> QA accuracy by category,
operation mix and accuracy, memory size, tokens generated and wall time.

:func:`run_bench` is what ``memgym bench`` runs and what the trainers' held-out evaluation calls::

    from memgym.policies.bench import run_bench
    from memgym.policies.llm_policy import LLMPolicy

    result = run_bench([LLMPolicy(backend), "mem0_heuristic", "noop"], "memgym/MemoryManager-v0",
                       held_out_episodes, env_kwargs={"max_entries": 40}, seed=0, progress=False)
    result.metrics(prefix="eval/")          # flat {"eval/llm/em": ..., "eval/llm/single-hop/em": ...}
    result.summary()["llm"]["overall"]["em"]
    result.save("runs/x/bench")             # results.json, report.md, PNG plots

``expand_policy_names(["heuristic"])`` (:mod:`memgym.policies.managers`) lists the heuristic baselines.

**Protocols.** Figures follow a benchmark protocol (:mod:`memgym.rewards.protocols`): by default the
data's own (``locomo`` for LoCoMo files, ``longmemeval``, ``memoryagentbench``, else ``memgym``), or
``protocol="mem0"`` / ``"memory-r1"`` (with ``split="validation"``, ...). The protocol fixes the split,
the categories counted, the metrics, the judge's style, the hints the answer agent is given and the
averaging; ``result.config["protocol"]`` and every report name it. The model-free memory metrics
(evidence recall, answer support) are reported beside QA whatever the protocol. The extractive answer
agent is refused on data without answer candidates (it could only abstain).

Modules, in the order data flows through them: :mod:`~memgym.policies.bench.specs` (policies, answer
agents and backends by name, picklable), :mod:`~memgym.policies.bench.harness` (:func:`run_bench`),
:mod:`~memgym.policies.bench.executors` (this process, worker processes or Ray),
:mod:`~memgym.policies.bench.runner` (one chunk of episodes, stepped in batches through
:func:`memgym.envs.stepping.step_envs`), :mod:`~memgym.policies.bench.results` (records and summaries),
:mod:`~memgym.policies.bench.report` (Markdown and plots) and :mod:`~memgym.policies.bench.cli`
(``memgym bench``). The default data is :func:`memgym.envs.data.synthetic_suite`.

**Parallelism.** ``workers > 1`` runs chunks of episodes in that many local processes; ``ray=True`` (or
``ray_address=...``) sends the same chunks to a Ray cluster as tasks. Policies and answer agents given
by name or spec are built once per worker process; objects are pickled to the workers. Results are
ordered by episode, so the figures do not depend on how episodes were spread.

**Determinism.** Episode ``i`` is reset with ``seed + i``; the synthetic suite is generated from
``seed``. Baselines and the extractive agent are deterministic; LLM policies are when their backend is
(greedy or seeded sampling, with the same ``batch_size`` and number of workers).
"""

from __future__ import annotations

from memgym.registry import lazy_module_attributes

_LAZY: dict[str, str] = {
    "run_bench": "memgym.policies.bench.harness",
    "load_bench_episodes": "memgym.policies.bench.harness",
    "DEFAULT_ENV": "memgym.policies.bench.harness",
    "BenchResult": "memgym.policies.bench.results",
    "PolicyResult": "memgym.policies.bench.results",
    "DEFAULT_METRICS": "memgym.policies.bench.results",
    "AgentSpec": "memgym.policies.bench.specs",
    "BackendSpec": "memgym.policies.bench.specs",
    "PolicySpec": "memgym.policies.bench.specs",
    "backend_spec": "memgym.policies.bench.specs",
}

__all__ = list(_LAZY)


__getattr__ = lazy_module_attributes(__name__, _LAZY, globals())
