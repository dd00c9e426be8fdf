"""What a training run records: the rows of its before/after table, their file, and the verdict line.

Shared by the LLM pipeline (:mod:`memgym.trainers.pipeline`) and RLlib PPO
(:mod:`memgym.trainers.rllib_ppo`), so both write the same ``evaluations.json`` and table columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memgym.trainers.config import TrainConfig

#: The file in the run folder holding the table's rows (a mapping: row key -> row).
EVALUATIONS = "evaluations.json"
#: Columns of the before/after table (``qa``: the bench's QA score over all held-out questions).
TABLE_COLUMNS = ("policy", "qa", "questions", "op_accuracy", "invalid_rate", "memory_entries")


@dataclass
class RunResult:
    """A finished run: its folder, the table rows, the report file, the wall-clock time, and extras."""

    run_dir: Path
    rows: list[dict[str, Any]]
    report: Path | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def table_row(name: str, metrics: dict[str, Any], prefix: str = "eval/") -> dict[str, Any]:
    """One line of the before/after table from evaluation metrics.

    >>> table_row("start", {"eval/qa": 0.5, "eval/seconds": 3.0})
    {'policy': 'start', 'qa': 0.5}
    """
    row: dict[str, Any] = {"policy": name}
    for key in TABLE_COLUMNS[1:]:
        if f"{prefix}{key}" in metrics:
            row[key] = float(metrics[f"{prefix}{key}"])
    return row


def load_rows(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The rows saved in ``run_dir`` (empty when the run has none yet)."""
    path = run_dir / EVALUATIONS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save_rows(run_dir: Path, rows: dict[str, dict[str, Any]]) -> None:
    """Write the rows to ``run_dir/evaluations.json`` (atomically: a kill mid-write keeps the old file)."""
    tmp = run_dir / f"{EVALUATIONS}.tmp"
    tmp.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    tmp.replace(run_dir / EVALUATIONS)


def baseline_rows(cfg: TrainConfig, eval_env_kwargs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The heuristic baselines on the same held-out episodes, through the bench harness."""
    if not cfg.eval.baselines or cfg.eval.num_episodes <= 0:
        return {}
    from memgym.trainers.evaluation import evaluate_baselines

    return {
        f"baseline:{name}": table_row(f"baseline: {name}", metrics)
        for name, metrics in evaluate_baselines(cfg, eval_env_kwargs, cfg.eval.baselines).items()
    }


def verdict(rows: dict[str, dict[str, Any]]) -> str:
    """One line saying, measured, whether the trained policy beat its start and the best heuristic.

    >>> verdict({"start": {"policy": "start", "qa": 0.2}, "final": {"policy": "after GRPO", "qa": 0.5}})
    "trained policy QA 0.500; RL changed it by +30.0 points from the start's 0.200; beats its start (0.200)"
    """
    final, start = rows.get("final") or rows.get("sft"), rows.get("start")
    baselines = {k: r for k, r in rows.items() if k.startswith("baseline:") and k != "baseline:oracle"}
    if not final or "qa" not in final:
        return "no held-out evaluation of the trained policy"
    parts = [f"trained policy QA {final['qa']:.3f}"]
    sft = rows.get("sft")
    # RL's change is measured from the warm start when there is one, else from the start; a final row of an
    # SFT-only run (labelled "after SFT") had no RL
    base_name, base = ("the warm start's", sft) if sft and "qa" in sft else ("the start's", start)
    if rows.get("final") and final.get("policy") != "after SFT" and base and "qa" in base:
        n = f" on {int(final['questions'])} held-out questions" if "questions" in final else ""
        parts.append(f"RL changed it by {100 * (final['qa'] - base['qa']):+.1f} points from {base_name} "
                     f"{base['qa']:.3f}{n}")
    if start and "qa" in start:
        parts.append(
            f"{'beats' if final['qa'] > start['qa'] else 'does NOT beat'} its start ({start['qa']:.3f})"
        )
    if baselines:
        best_key = max(baselines, key=lambda k: baselines[k].get("qa", 0.0))
        best = baselines[best_key]
        word = "beats" if final["qa"] > best.get("qa", 0.0) else "does NOT beat"
        parts.append(
            f"{word} the best heuristic baseline, {best['policy'].removeprefix('baseline: ')} "
            f"({best.get('qa', 0.0):.3f})"
        )
    return "; ".join(parts)
