"""The final report of a run: learning curves (PNG) and a before/after table against the baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from memgym.trainers.logging_utils import read_metrics


def plot_learning_curves(metrics: Sequence[Mapping[str, Any]], out_png: str | Path, title: str = "") -> Path:
    """Warm-start loss, training reward (with its components), held-out QA and RL losses."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    out_png = Path(out_png)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    sft = [m for m in metrics if "sft/step" in m]
    if sft:
        axes[0].plot([m["sft/step"] for m in sft], [m["sft/loss"] for m in sft], marker=".")
    axes[0].set(xlabel="SFT optimizer step", ylabel="loss", title="warm start (SFT on oracle trajectories)")
    _training_panel(axes[1], [m for m in metrics if "reward" in m])
    _held_out_panel(axes[2], [m for m in metrics if "eval/qa" in m])
    ax = axes[3]
    for key in ("train/loss", "train/policy_loss", "train/value_loss", "train/kl", "train/approx_kl"):
        points = [(m["step"], m[key]) for m in metrics if key in m]
        if points:
            ax.plot(*zip(*points, strict=True), marker=".", label=key)
    ax.set(xlabel="RL step", title="RL losses")
    _legend(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def _training_panel(ax: Any, train: list[Mapping[str, Any]]) -> None:
    if train:
        steps = [m["step"] for m in train]
        ax.plot(steps, [m["reward"] for m in train], marker="o", label="reward (train rollouts)", linewidth=2)
        components = sorted({k for m in train for k in m if k.startswith("reward_weighted/")})
        for key in components:
            ax.plot(steps, [m.get(key, float("nan")) for m in train], alpha=0.6, label=key)
    ax.set(xlabel="RL step", ylabel="return per trajectory", title="training rollouts (weighted components)")
    _legend(ax)


def _held_out_panel(ax: Any, evals: list[Mapping[str, Any]]) -> None:
    """QA over all held-out questions per evaluation, in order, labelled by phase (start, sft, ...)."""
    if evals:
        xs = list(range(len(evals)))
        ax.plot(xs, [m["eval/qa"] for m in evals], marker="o", linewidth=2, label="QA, all questions")
        for key in sorted({k for m in evals for k in m if k.startswith("eval/qa/")}):
            ax.plot(
                xs,
                [m.get(key, float("nan")) for m in evals],
                marker=".",
                alpha=0.5,
                label=key.removeprefix("eval/qa/"),
            )
        labels = [f"{m.get('eval/phase', 'eval')}\n(step {m['step']})" for m in evals]
        ax.set_xticks(xs, labels, fontsize=7)
    ax.set(ylabel="QA score", title="held-out episodes (greedy, bench harness)")
    _legend(ax)


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
