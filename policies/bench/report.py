"""The benchmark's report: Markdown tables, ``results.json`` and PNG plots of a :class:`BenchResult`.

- ``report.md``: the protocol the figures follow (:mod:`memgym.rewards.protocols`) and what it left
  out, an overall table (QA metrics, the primary metric per category, the memory metrics evidence
  recall / evidence all / answer support, op accuracy, memory size, tokens generated, wall time), the
  protocol's extra averages (task-averaged, abstention) where it has them, one table per QA category,
  and the operation mix with the operation-level accuracy against the oracle labels (synthetic data).
- ``results.json``: :meth:`BenchResult.to_dict` (config with the command line and seed, dataset stats,
  summaries, every question of every episode).
- ``accuracy_by_category.png`` and ``accuracy_vs_length.png``: the primary metric (J when judged, else
  the first metric) by category and policy, and against the conversation length read before the
  question was asked (questions binned by quantiles of that length).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memgym.policies.bench import BenchResult

METRIC_LABELS: dict[str, str] = {
    "em": "EM (SQuAD)",
    "squad_em": "EM (SQuAD)",
    "f1": "F1 (SQuAD)",
    "squad_f1": "F1 (SQuAD)",
    "bleu1": "BLEU-1 (SQuAD words)",
    "locomo_f1": "LoCoMo F1",
    "locomo_em": "LoCoMo EM",
    "mem0_f1": "F1 (Mem0)",
    "mem0_bleu1": "BLEU-1 (Mem0)",
    "mem0_em": "EM (Mem0)",
    "mab_accuracy": "accuracy (MAB)",
    "mab_substring_em": "substring EM (MAB)",
    "mab_em": "EM (MAB)",
    "mab_f1": "F1 (MAB)",
    "mab_eventqa_recall": "EventQA recall (MAB)",
    "mab_ruler_recall": "RULER recall (MAB)",
    "mab_recall_at_5": "Recall@5 (MAB)",
    "j": "J",
    "evidence_recall": "evidence recall",
    "evidence_all": "evidence all",
    "answer_support": "answer support",
}
#: The model-free memory metrics the tables show beside QA (:mod:`memgym.rewards.memory_metrics`).
MEMORY_COLUMNS: tuple[str, ...] = ("evidence_recall", "evidence_all", "answer_support")
PLOT_FILES: tuple[str, ...] = ("accuracy_by_category.png", "accuracy_vs_length.png")


def primary_metric(result: BenchResult) -> str:
    """The metric the plots and the per-category columns show: the protocol's headline metric when it
    was computed, else J when judged, else the first one."""
    names = result.metric_names
    primary = getattr(result.protocol, "primary", None)
    if primary in names:
        return primary
    return "j" if "j" in names or not names else names[0]


def _memory_columns(summary: dict[str, dict]) -> list[str]:
    return [m for m in MEMORY_COLUMNS if any(s["overall"].get(m) is not None for s in summary.values())]


def _pct(value: Any) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}"


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def markdown_report(result: BenchResult) -> str:
    """The whole report as Markdown (scores in percent)."""
    cfg, summary, ds = result.config, result.summary(), result.dataset
    ran = {n: s for n, s in summary.items() if not s["skipped"]}
    lines = [
        "# memgym bench",
        "",
        f"Environment `{cfg['env_id']}` {_kwargs_note(cfg['env_kwargs'])}; {ds['conversations']} conversations "
        f"({ds['turns']:,} turns, {ds['tokens']:,} tokens, {ds['questions']} questions); answer agent "
        f"{cfg['answer_agent']}; judge {cfg['judge'] or 'none'}; seed {cfg['seed']}; "
        f"wall time {result.wall_time_s:.1f} s. Scores in %.",
        "",
        *_protocol_lines(cfg.get("protocol")),
        "## Overall",
        "",
        *_overall_table(result, ran),
        *_averages_table(result, ran),
        *_category_tables(result, ran),
        *_ops_table(ran),
    ]
    skipped = {n: s["skipped"] for n, s in summary.items() if s["skipped"]}
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- `{n}`: {why}" for n, why in skipped.items()]
    lines += ["", f"Command: `{cfg['command']}`" if cfg.get("command") else "", ""]
    return "\n".join(lines)


def _protocol_lines(protocol: dict | None) -> list[str]:
    """Which protocol the figures follow, what it left out, and where it departs from the official code."""
    if not protocol:
        return []
    lines = [f"Protocol `{protocol['name']}`: {protocol['title']} (following {protocol['source']})."]
    lines += [f"- {note}" for note in protocol.get("notes", [])]
    if protocol.get("metrics_overridden"):
        lines.append("- the metrics were chosen for this run and are not the protocol's own")
    return [*lines, ""]


def _averages_table(result: BenchResult, ran: dict[str, dict]) -> list[str]:
    """The protocol's other averages (task-averaged, abstention), when it has them."""
    rows = [r for r in ("task_averaged", "abstention") if any(r in s for s in ran.values())]
    if not rows:
        return []
    metrics = result.metric_names
    lines = ["", "## Averages", "", "Overall: the mean over questions; task-averaged: the mean of the "
             "per-category means; abstention: the abstention questions only.", ""]
    body = []
    for name, s in ran.items():
        for row in ("overall", *rows):
            values = s.get(row) or {}
            body.append([name, row.replace("_", "-"), _num(values.get("n")), *(_pct(values.get(m)) for m in metrics)])
    return lines + _table(["policy", "average", "questions", *(METRIC_LABELS.get(m, m) for m in metrics)], body)


def _overall_table(result: BenchResult, ran: dict[str, dict]) -> list[str]:
    metrics, main, cats = result.metric_names, primary_metric(result), result.categories()
    memory = _memory_columns(ran)
    header = [
        "policy",
        *(METRIC_LABELS.get(m, m) for m in metrics),
        *(f"{c} ({METRIC_LABELS.get(main, main)})" for c in cats),
        *(METRIC_LABELS[m] for m in memory),
        "op acc",
        "memory (entries)",
        "tokens generated",
        "wall (s)",
    ]
    rows = [
        [
            name,
            *(_pct(s["overall"].get(m)) for m in metrics),
            *(_pct(s["by_category"].get(c, {}).get(main)) for c in cats),
            *(_pct(s["overall"].get(m)) for m in memory),
            _pct(s["op_accuracy"]),
            _num(s["memory_entries"], 1),
            _num(s["tokens_generated"]),
            _num(s["wall_time_s"], 1),
        ]
        for name, s in ran.items()
    ]
    return _table(header, rows)


def _category_tables(result: BenchResult, ran: dict[str, dict]) -> list[str]:
    metrics, lines = [*result.metric_names, *_memory_columns(ran)], []
    for c in result.categories():
        n = max((s["by_category"].get(c, {}).get("n", 0) for s in ran.values()), default=0)
        lines += ["", f"## {c} ({n} questions)", ""]
        lines += _table(
            ["policy", *(METRIC_LABELS.get(m, m) for m in metrics)],
            [[name, *(_pct(s["by_category"].get(c, {}).get(m)) for m in metrics)] for name, s in ran.items()],
        )
    return lines


def _ops_table(ran: dict[str, dict]) -> list[str]:
    lines = [
        "",
        "## Memory operations",
        "",
        "Accepted operations by kind, refused ones (`failed`) and unusable actions (`invalid_action`), "
        "summed over episodes; op acc is the agreement of each step's operation kinds with the oracle "
        "labels (synthetic data; `memgym.rewards.shaping.oracle_op_agreement`), over all steps and over "
        "the steps whose labels change the memory; memory size is the mean at the end of an episode.",
        "",
    ]
    ops = ["ADD", "UPDATE", "DELETE", "NOOP", "failed", "invalid_action"]
    rows = [
        [
            name,
            *(_num(s["ops"][k]) for k in ops),
            _pct(s["op_accuracy"]),
            _pct(s["op_accuracy_facts"]),
            _num(s["memory_entries"], 1),
            _num(s["memory_tokens"], 1),
        ]
        for name, s in ran.items()
    ]
    return lines + _table(
        ["policy", *ops, "op acc", "op acc (fact turns)", "final entries", "final tokens"], rows
    )


def _kwargs_note(kwargs: dict) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")" if kwargs else "(defaults)"


def write_report(result: BenchResult, out_dir: str | Path, plots: bool = True) -> dict[str, Path]:
    """Write ``results.json``, ``report.md`` and (with ``plots``) the PNG plots; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results.json": out / "results.json", "report.md": out / "report.md"}
    paths["results.json"].write_text(
        json.dumps(result.to_dict(), indent=1, ensure_ascii=False, default=repr) + "\n", encoding="utf-8"
    )
    paths["report.md"].write_text(markdown_report(result), encoding="utf-8")
    if plots:
        paths["accuracy_by_category.png"] = plot_by_category(result, out / "accuracy_by_category.png")
        paths["accuracy_vs_length.png"] = plot_vs_length(result, out / "accuracy_vs_length.png")
    return paths


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_by_category(result: BenchResult, path: str | Path) -> Path:
    """Grouped bars: the primary metric per QA category (and overall), one bar per policy."""
    plt = _pyplot()
    main = primary_metric(result)
    summary = {n: s for n, s in result.summary().items() if not s["skipped"]}
    groups = [*result.categories(), "overall"]
    fig, ax = plt.subplots(figsize=(min(11.0, 3.0 + 0.25 * len(groups) * max(1, len(summary))), 4.2))
    width = 0.8 / max(1, len(summary))
    for i, (name, s) in enumerate(summary.items()):
        values = [
            s["overall"].get(main) if g == "overall" else s["by_category"].get(g, {}).get(main)
            for g in groups
        ]
        xs = [j + (i - (len(summary) - 1) / 2) * width for j in range(len(groups))]
        ax.bar(xs, [100 * (v or 0.0) for v in values], width, label=name)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(f"{METRIC_LABELS.get(main, main)} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{result.config['env_id']}: accuracy by category")
    ax.legend(
        fontsize="small", ncols=min(6, max(1, len(summary))), loc="upper center", bbox_to_anchor=(0.5, -0.1)
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def length_bins(result: BenchResult, n_bins: int = 5) -> list[tuple[float, float]]:
    """Bin edges (low, high] over the conversation tokens read before each question, by quantiles
    (shared by all policies: they answer the same questions)."""
    import numpy as np

    reads = sorted({q["tokens_read"] for p in result.policies for q in p.questions()})
    if not reads:
        return []
    edges = np.unique(np.quantile(reads, np.linspace(0, 1, n_bins + 1)))
    if len(edges) == 1:
        return [(edges[0] - 1, edges[0])]
    return [(edges[0] - 1 if i == 0 else edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def accuracy_by_length(result: BenchResult, n_bins: int = 5) -> dict[str, list[tuple[float, float, int]]]:
    """Policy -> [(mean tokens read, mean primary metric, questions)] per bin of :func:`length_bins`."""
    main, bins, out = primary_metric(result), length_bins(result, n_bins), {}
    for p in result.policies:
        if p.skipped:
            continue
        points = []
        for low, high in bins:
            rows = [q for q in p.questions() if low < q["tokens_read"] <= high and q.get(main) is not None]
            if rows:
                points.append(
                    (
                        sum(q["tokens_read"] for q in rows) / len(rows),
                        sum(q[main] for q in rows) / len(rows),
                        len(rows),
                    )
                )
        out[p.name] = points
    return out


def plot_vs_length(result: BenchResult, path: str | Path, n_bins: int = 5) -> Path:
    """Lines: the primary metric against the conversation length read before the question."""
    plt = _pyplot()
    main = primary_metric(result)
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for name, points in accuracy_by_length(result, n_bins).items():
        ax.plot([x for x, _, _ in points], [100 * y for _, y, _ in points], marker="o", label=name)
    ax.set_xlabel("conversation tokens read before the question (binned)")
    ax.set_ylabel(f"{METRIC_LABELS.get(main, main)} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{result.config['env_id']}: accuracy against conversation length")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
