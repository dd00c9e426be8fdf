"""A whole training run from a config: evaluate the start, warm-start, train, evaluate, report.

``memgym train`` and ``memgym quickstart`` call :func:`run_training`. The run folder holds
``config.yaml`` (the resolved config), ``metrics.jsonl`` (+ TensorBoard events), ``checkpoints/``,
``evaluations.json`` (the rows of the before/after table), ``final/`` (the trained policy, loadable with
``from_pretrained``), ``learning_curves.png`` and ``report.md``. Re-running the same command with the same
``run_name`` resumes from the last checkpoint (``train.resume=auto``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from memgym.trainers.config import TrainConfig
from memgym.trainers.results import (
    TABLE_COLUMNS,
    RunResult,
    baseline_rows,
    load_rows,
    save_rows,
    table_row,
    verdict,
)


def run_training(cfg: TrainConfig, *, run_dir: str | Path | None = None, **trainer_kwargs: Any) -> RunResult:
    """Run ``cfg`` end to end (GRPO or PPO, with the optional SFT warm start, or SFT alone)."""
    from memgym.trainers.preflight import check_targets

    check_targets(cfg)  # what the config names exists, before any model is loaded
    if cfg.algorithm == "rllib_ppo":
        from memgym.trainers.rllib_ppo import train_rllib_ppo

        return train_rllib_ppo(cfg, run_dir=run_dir)
    from memgym.trainers.grpo import GRPOTrainer
    from memgym.trainers.ppo import PPOTrainer

    started = time.perf_counter()
    clock = PhaseClock()
    trainer_cls = PPOTrainer if cfg.algorithm == "ppo" else GRPOTrainer
    with clock("load"):
        trainer = trainer_cls(cfg, run_dir=run_dir, **trainer_kwargs)
    out = trainer.run_dir
    trainer.open_logger()
    rows = load_rows(out)
    _train_phases(trainer, rows, clock)
    return finish_run(
        trainer, rows, clock, started,
        title=f"memgym {cfg.algorithm} run",
        setting=f"algorithm: {cfg.algorithm}; model: {cfg.model.name_or_path}; env: {cfg.env.id} {cfg.env.kwargs}",
        extra_notes=[f"held-out episodes: {cfg.eval.num_episodes} (env.eval_kwargs={cfg.env.eval_kwargs})"],
        load_average=True,
    )


def finish_run(trainer: Any, rows: dict[str, dict[str, Any]], clock: PhaseClock, started: float, *, title: str,
               setting: str, extra_notes: Sequence[str] = (), load_average: bool = False) -> RunResult:
    """The end of a run, one process or rank 0 of several: baselines, the table, ``final/``, timings, report."""
    from memgym.trainers.report import write_report

    cfg, out = trainer.config, trainer.run_dir
    with clock("baselines"):
        rows.update(baseline_rows(cfg, trainer.eval_env_kwargs))
    save_rows(out, rows)
    save_final_model(trainer, out / "final")
    trainer.open_logger().close()
    seconds = time.perf_counter() - started
    load = f"; CPU load average at the end: {_load_average()}" if load_average else ""
    notes = [
        verdict(rows),
        setting,
        f"wall-clock time of this invocation: {seconds:.0f} s ({clock.describe()}){load}",
        *extra_notes,
    ]
    (out / "timings.json").write_text(json.dumps(clock.seconds, indent=1), encoding="utf-8")
    report = write_report(out, list(rows.values()), title=title, notes=notes, columns=list(TABLE_COLUMNS))
    return RunResult(
        out, list(rows.values()), report, seconds, {"verdict": verdict(rows), "timings": clock.seconds}
    )


def _train_phases(trainer: Any, rows: dict[str, dict[str, Any]], clock: PhaseClock) -> None:
    """Evaluate the start, warm-start, evaluate, train, evaluate: each phase once, even across resumes.

    A re-run first restores the run's last checkpoint (``train.resume``), so it never redoes or overwrites
    finished work: a finished phase is skipped, and its row of the table is kept.
    """
    from memgym.trainers.evaluation import evaluate_policy
    from memgym.trainers.sft import drop_sft_checkpoints

    cfg, out = trainer.config, trainer.run_dir
    resumed = trainer.maybe_resume()  # the trained weights, step and data order of a previous invocation
    evaluate = cfg.eval.num_episodes > 0
    sft = cfg.sft.enabled or cfg.algorithm == "sft"
    if not resumed and cfg.eval.before and evaluate and "start" not in rows:
        with clock("evaluate start"):
            metrics = _logged(trainer, evaluate_policy(trainer), "start")
        rows["start"] = table_row(f"start ({Path(cfg.model.name_or_path).name})", metrics)
        save_rows(out, rows)
    if sft and not resumed:
        with clock("SFT warm start"):
            warm_start(trainer)  # continues from its own last checkpoint after a kill (sft.save_steps)
        trainer.save_checkpoint()  # a resumed run starts after the warm start, not before it
        drop_sft_checkpoints(out / "sft")
    if sft and trainer.global_step == 0 and evaluate and (cfg.eval.after_sft or cfg.algorithm == "sft") \
            and "sft" not in rows:
        with clock("evaluate after SFT"):
            rows["sft"] = table_row("after SFT warm start", _logged(trainer, evaluate_policy(trainer), "sft"))
        save_rows(out, rows)
    trained = cfg.algorithm != "sft" and trainer.global_step < cfg.train.max_steps
    if trained:
        with clock(
            f"{cfg.algorithm.upper()} ({cfg.train.max_steps - trainer.global_step} steps + final eval)"
        ):
            trainer.train(evaluate_start=False)  # the start was evaluated above
    if evaluate and not (cfg.algorithm == "sft" and "sft" in rows) and (trained or "final" not in rows):
        final = trainer.final_eval
        if not final:
            with clock("evaluate final"):
                final = _logged(trainer, evaluate_policy(trainer), "final")
        label = (
            f"after SFT + {cfg.algorithm.upper()}" if cfg.sft.enabled else f"after {cfg.algorithm.upper()}"
        )
        rows["final"] = table_row("after SFT" if cfg.algorithm == "sft" else label, final)


def _logged(trainer: Any, metrics: dict[str, Any], phase: str) -> dict[str, Any]:
    """Log an evaluation with the phase it measured (the report's held-out panel labels it)."""
    trainer.open_logger().log({**metrics, "eval/phase": phase}, step=trainer.global_step)
    return metrics


class PhaseClock:
    """Times the phases of a run and says what it is doing (stderr), so a long CPU run is not silent."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        print(f"[memgym] {phase} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(time.perf_counter() - start, 1)
            print(f"[memgym] {phase}: {self.seconds[phase]:.0f} s", file=sys.stderr, flush=True)

    def describe(self) -> str:
        return ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())


def _load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def warm_start(trainer: Any) -> dict[str, float]:
    """Memory-SFT on the teacher's trajectories (``sft.teacher``) of the first ``sft.num_episodes``
    training episodes, or on the examples of a JSONL file."""
    from memgym.trainers.sft import balance_operations, collect_examples, load_examples, make_teacher, run_sft

    cfg = trainer.config
    n = min(cfg.sft.num_episodes, trainer.sampler.num_episodes)
    make_env = trainer.make_env
    if cfg.sft.env_kwargs:
        from memgym.trainers.base import deep_merge, make_env_factory

        make_env = make_env_factory(cfg.env.id, deep_merge(trainer.env_kwargs, cfg.sft.env_kwargs))
    if cfg.sft.teacher.endswith(".jsonl"):
        examples = load_examples(cfg.sft.teacher)
    else:
        examples = collect_examples(
            make_env,
            list(range(n)),
            make_teacher(cfg.sft.teacher),
            seed=cfg.seed,
            prompt_format=trainer.prompt_format,
            compact_actions=cfg.sft.compact_actions,
        )
    examples = balance_operations(examples, cfg.sft.op_balance, seed=cfg.seed)
    metrics = run_sft(
        trainer.model,
        trainer.tokenizer,
        examples,
        cfg.sft,
        trainer.run_dir / "sft",
        seed=cfg.seed,
        dtype=cfg.model.dtype,
    )
    trainer.backend.sync_weights()  # a rollout copy of the policy (bfloat16) learns what SFT changed
    logger = trainer.open_logger()
    for sft_step, loss in metrics.pop("sft/history"):
        logger.log({"sft/step": sft_step, "sft/loss": loss}, step=0)
    logger.log(metrics, step=0)
    if cfg.train.beta > 0 and not cfg.model.use_peft:
        trainer.ref_model = trainer._make_reference()  # KL to the warm-started policy, as in RLHF
    return metrics


def save_final_model(trainer: Any, folder: Path) -> Path:
    """Save the trained policy as a plain model directory (LoRA adapters merged into a copy)."""
    import copy

    model = trainer.model
    if trainer.config.model.use_peft:
        model = copy.deepcopy(model).merge_and_unload()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    trainer.tokenizer.save_pretrained(folder)
    if hasattr(trainer, "value_head"):
        from safetensors.torch import save_file

        save_file(trainer.value_head.state_dict(), str(folder / "value_head.safetensors"))
    return folder
