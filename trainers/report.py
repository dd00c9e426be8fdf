"""The final report of a run: learning curves (PNG) and a before/after table against the baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from memgym.trainers.logging_utils import read_metrics


def plot_learning_curves(metrics: Sequence[Mapping[str, Any]], out_png: str | Path, title: str = "") -> Path:
    """Training reward (with its components), held-out reward, and loss/KL against the step."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    out_png = Path(out_png)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    train = [m for m in metrics if "reward" in m]
    evals = [m for m in metrics if "eval/qa" in m]
    ax = axes[0]
    if train:
        steps = [m["step"] for m in train]
        ax.plot(steps, [m["reward"] for m in train], label="reward (train rollouts)", linewidth=2)
        components = sorted(
            {
                k
                for m in train
                for k in m
                if k.startswith("reward/") and k != "reward/total" and not k.startswith("reward_weighted/")
            }
        )
        for key in components:
            ax.plot(steps, [m.get(key, float("nan")) for m in train], label=key, alpha=0.6)
    ax.set(xlabel="step", ylabel="return per episode", title="training rollouts")
    _legend(ax)
    ax = axes[1]
    if evals:
        ax.plot(
            [m["step"] for m in evals],
            [m["eval/qa"] for m in evals],
            marker="o",
            linewidth=2,
            label="QA, all questions",
        )
        for key in sorted({k for m in evals for k in m if k.startswith("eval/qa/")}):
            ax.plot(
                [m["step"] for m in evals],
                [m.get(key, float("nan")) for m in evals],
                marker=".",
                alpha=0.6,
                label=key.removeprefix("eval/qa/"),
            )
    ax.set(xlabel="step", ylabel="QA score", title="held-out episodes (greedy, bench harness)")
    _legend(ax)
    ax = axes[2]
    for key in ("train/loss", "train/policy_loss", "train/value_loss", "train/kl", "train/approx_kl"):
        points = [(m["step"], m[key]) for m in metrics if key in m]
        if points:
            ax.plot(*zip(*points, strict=True), label=key)
    ax.set(xlabel="step", title="losses")
    _legend(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of ``{"policy": name, metric: value, ...}`` as a Markdown table (numbers to 3 decimals)."""
    if not rows:
        return ""
    columns = list(columns) if columns else ["policy", *[k for k in rows[0] if k != "policy"]]

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_report(
    run_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "memgym training report",
    notes: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> Path:
    """Write ``report.md`` (the table, the notes, the learning-curve image) and ``learning_curves.png``."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir / "metrics.jsonl")
    png = plot_learning_curves(metrics, run_dir / "learning_curves.png", title=run_dir.name)
    text = [
        f"# {title}",
        "",
        f"Run: `{run_dir}`",
        "",
        "## Held-out episodes",
        "",
        markdown_table(rows, columns),
        "",
    ]
    if notes:
        text += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    text += ["## Learning curves", "", f"![learning curves]({png.name})", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(text), encoding="utf-8")
    return path
