"""The benchmark's results: a record per episode and question, summaries, flat metrics, the report.

Summaries average as the run's protocol says (:class:`~memgym.rewards.protocols.Protocol`): the overall
row is the mean over questions, or over categories (``averaging="categories"``); a protocol may add a
``task_averaged`` row (the mean of the per-category means) and an ``abstention`` row (its abstention
questions only). The model-free memory metrics (``evidence_recall``, ``evidence_all``,
``answer_support``) are averaged beside the QA metrics wherever they apply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memgym.rewards.memory_metrics import MEMORY_METRICS

DEFAULT_METRICS: tuple[str, ...] = ("em", "f1", "bleu1")
OP_COLUMNS: tuple[str, ...] = ("ADD", "UPDATE", "DELETE", "NOOP", "failed", "invalid_action")


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

    def summary(self, metrics: Sequence[str] = DEFAULT_METRICS, protocol: Any = None) -> dict[str, Any]:
        """QA and memory metrics by category and overall (as ``protocol`` averages them), operations, op
        accuracy, memory size, tokens and time."""
        qs = self.questions()
        names = [m for m in (*metrics, "j", *MEMORY_METRICS) if any(q.get(m) is not None for q in qs)]
        by_cat: dict[str, list[dict]] = {}
        for q in qs:
            by_cat.setdefault(q["category"], []).append(q)
        categories = {c: _means(rows, names) for c, rows in sorted(by_cat.items())}
        by_categories = getattr(protocol, "averaging", "questions") == "categories"
        ops = Counter()
        for ep in self.episodes:
            ops.update(ep["ops"])
        agree = [a for ep in self.episodes for a in ep["op_agreement"]]
        agree_facts = [a for ep in self.episodes for a in ep["op_agreement_facts"]]
        return {
            "skipped": self.skipped,
            "episodes": len(self.episodes),
            "steps": sum(ep["steps"] for ep in self.episodes),
            "overall": _category_means(categories, names, len(qs)) if by_categories else _means(qs, names),
            "by_category": categories,
            **_protocol_rows(protocol, qs, categories, names),
            "ops": {k: int(ops.get(k, 0)) for k in OP_COLUMNS},
            "op_accuracy": mean(agree),
            "op_accuracy_facts": mean(agree_facts),
            "memory_entries": mean([ep["memory_entries"] for ep in self.episodes]),
            "memory_tokens": mean([ep["memory_tokens"] for ep in self.episodes]),
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
    protocol: Any = None
    """The :class:`~memgym.rewards.protocols.Protocol` the run used (``config["protocol"]`` describes it)."""

    @property
    def metric_names(self) -> list[str]:
        names = list(self.config.get("metrics", DEFAULT_METRICS))
        return names + (["j"] if self.config.get("judge") else [])

    def summary(self) -> dict[str, dict[str, Any]]:
        """Policy name -> :meth:`PolicyResult.summary`."""
        metrics = self.config.get("metrics", DEFAULT_METRICS)
        return {p.name: p.summary(metrics, self.protocol) for p in self.policies}

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
            for row in ("task_averaged", "abstention"):
                for metric, value in (s.get(row) or {}).items():
                    if metric != "n" and value is not None:
                        out[f"{prefix}{name}/{row}/{metric}"] = float(value)
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
        """The report's Markdown (:func:`memgym.policies.bench.report.markdown_report`)."""
        from memgym.policies.bench.report import markdown_report

        return markdown_report(self)

    def save(self, out_dir: str | Path, plots: bool = True) -> dict[str, Path]:
        """Write ``results.json``, ``report.md`` and the PNG plots into ``out_dir``; returns their paths."""
        from memgym.policies.bench.report import write_report

        return write_report(self, out_dir, plots=plots)


def mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _means(rows: list[dict], names: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {"n": len(rows)}
    for m in names:
        out[m] = mean([r[m] for r in rows if r.get(m) is not None])
    return out


def _category_means(categories: dict[str, dict], names: Sequence[str], n: int) -> dict[str, float | None]:
    """The mean over categories of each metric's per-category mean (categories without it left out)."""
    out: dict[str, float | None] = {"n": n}
    for m in names:
        out[m] = mean([row[m] for row in categories.values() if row.get(m) is not None])
    return out


def _protocol_rows(protocol: Any, qs: list[dict], categories: dict[str, dict], names: Sequence[str]) -> dict:
    """The extra rows a protocol reports: ``task_averaged`` and ``abstention`` (only where it asks)."""
    out: dict[str, Any] = {}
    if getattr(protocol, "task_average", False):
        out["task_averaged"] = _category_means(categories, names, len(qs))
    predicate = getattr(protocol, "abstention", None)
    if predicate is not None:
        out["abstention"] = _means([q for q in qs if predicate(q["id"])], names)
    return out
