"""Held-out QA per RL step, GRPO against PPO from the same start (the analogue of Memory-R1's Figure 7).

    .venv/bin/python experiments/learning_curve.py --out runs/learning_curve        # ~45-60 min on 2 cores
    .venv/bin/python experiments/learning_curve.py --out runs/lc_scratch --from-scratch  # no warm start

1. One warm start (Memory-SFT on the oracle's trajectories, ``configs/learning_curve.yaml`` with
   ``algorithm=sft``), saved as a plain model directory; ``--from-scratch`` skips it and starts RL from
   the untrained model (the quickstart's setting: RL's gain from the QA reward alone);
2. GRPO and PPO from that model with the same config, data order and seed, each evaluated on the same
   held-out conversations before training and every ``--eval-every`` steps (the bench harness, greedy,
   constrained decoding);
3. a Markdown table (held-out QA per step for both) and a PNG of the two curves, with the heuristic
   baselines on the same conversations as horizontal lines.

Every phase is a run folder under ``--out`` with a fixed name: running the command again resumes a
killed run and skips finished phases. Extra ``key=value`` arguments override the config for all phases.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from memgym.trainers.config import load_config
from memgym.trainers.logging_utils import read_metrics
from memgym.trainers.pipeline import run_training
from memgym.trainers.results import baseline_rows

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "learning_curve.yaml"


def _run(out: Path, name: str, overrides: list[str]) -> Path:
    run_dir = out / name
    if (run_dir / "report.md").exists():
        print(f"[learning_curve] {name}: done already ({run_dir})", file=sys.stderr)
        return run_dir
    cfg = load_config(CONFIG, [f"output_dir={out}", f"run_name={name}", *overrides])
    run_training(cfg)
    return run_dir


def _curve(run_dir: Path) -> list[tuple[int, float]]:
    return [(int(m["step"]), float(m["eval/qa"])) for m in read_metrics(run_dir / "metrics.jsonl") if "eval/qa" in m]


def _plot(curves: dict[str, list[tuple[int, float]]], baselines: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in curves.items():
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=name.upper())
    for name, qa in sorted(baselines.items(), key=lambda kv: -kv[1])[:3]:
        ax.axhline(qa, linestyle="--", linewidth=1, color="grey")
        ax.text(0, qa, f" {name}", va="bottom", fontsize=8, color="grey")
    ax.set(xlabel="RL step", ylabel="held-out QA (exact match)", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/learning_curve")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--algorithms", nargs="+", default=["grpo", "ppo"], choices=["grpo", "ppo"])
    parser.add_argument("--from-scratch", action="store_true", help="no warm start: RL from the config's model")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every phase")
    args = parser.parse_args(argv)
    out = Path(args.out)
    started = time.perf_counter()
    cfg = load_config(CONFIG, args.overrides)
    if args.from_scratch:
        sft, start = None, []
    else:
        sft = _run(out, "sft", ["algorithm=sft", "eval.baselines=[]", *args.overrides])
        start = [f"model.name_or_path={(sft / 'final').resolve()}"]
    rl = [*start, "sft.enabled=false", "eval.after_sft=false", f"train.max_steps={args.steps}",
          f"eval.eval_steps={args.eval_every}", "eval.baselines=[]", *args.overrides]
    curves = {algo: _curve(_run(out, algo, [f"algorithm={algo}", *rl])) for algo in args.algorithms}
    from memgym.trainers.base import deep_merge, env_kwargs

    baselines = {k.removeprefix("baseline:"): r["qa"] for k, r in
                 baseline_rows(cfg, deep_merge(env_kwargs(cfg.env), cfg.env.eval_kwargs)).items() if "qa" in r}
    steps = sorted({s for c in curves.values() for s, _ in c})
    by_step = {algo: dict(c) for algo, c in curves.items()}
    lines = [
        "# Learning curves: " + " vs ".join(a.upper() for a in args.algorithms)
        + (" from the untrained model" if sft is None else " from the same warm start"),
        "",
        f"Config `{CONFIG.name}` (overrides: {' '.join(args.overrides) or 'none'}); start model: "
        + (f"`{cfg.model.name_or_path}`, no warm start" if sft is None else f"the SFT run `{sft}`") + "; RL steps: "
        + ", ".join(f"{algo.upper()} {max((s for s, _ in c), default=0)}" for algo, c in curves.items())
        + f"; held-out QA (exact match, bench harness) every {args.eval_every} steps on {cfg.eval.num_episodes} "
        f"held-out conversations. Wall time of this invocation {time.perf_counter() - started:.0f} s (finished "
        "phases are reused, not rerun).",
        "",
        "| RL step | " + " | ".join(a.upper() for a in args.algorithms) + " |",
        "|---:|" + "---:|" * len(args.algorithms),
        *(f"| {s} | " + " | ".join(_fmt(by_step[a].get(s)) for a in args.algorithms) + " |" for s in steps),
        "",
        "Baselines on the same conversations: "
        + ", ".join(f"{k} {v:.3f}" for k, v in sorted(baselines.items(), key=lambda kv: -kv[1])),
        "",
        "![curves](learning_curve.png)",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _plot(curves, baselines, out / "learning_curve.png", "held-out QA per RL step")
    print("\n".join(lines))
    return 0


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
