"""Data-parallel GRPO and PPO over several processes: ``accelerate launch`` or ``torchrun``, gloo on CPU, NCCL on GPUs.

::

    accelerate launch --multi_gpu --num_processes 2 -m memgym.trainers.distributed --config C key=value ...
    torchrun --nproc_per_node 2 -m memgym.trainers.distributed --config C key=value ...

(``--multi_gpu`` is accelerate's name for "several local processes"; without a GPU they talk over gloo.)
The arguments are those of ``memgym train``. What each process does:

- it holds a whole copy of the policy (reference, value head and optimizer too), starting from rank 0's
  weights, on its own GPU (``cuda:LOCAL_RANK``) or on the CPU;
- it rolls out its share of the step's groups: of the ``train.episodes_per_step`` groups, group ``g``
  goes to process ``g % world``. With ``env.group_by=episode`` every process draws the same episode list
  from the shared, resumable order and keeps its share; with ``env.group_by=state`` each process walks
  its own drivers over its own episodes (episode ``i`` belongs to process ``i % world``). A group never
  spans processes, so GRPO's group statistics are local; ``grpo.scale_rewards=batch`` and PPO's
  advantage whitening are computed over all processes' figures;
- it sums its gradients with the others' before clipping, each weighted by its share of the minibatch's
  loss normaliser (loss tokens for ``dapo``/``bnpo`` and PPO's policy loss, rows for ``grpo``/``dr_grpo``
  and the value head), so one optimizer step equals the single-process step over all the groups
  (``tests/test_distributed.py`` checks gradients and weights). PPO's value loss also reaches the shared
  trunk through the hidden state; that part is weighted by the token share, which is exact while the
  value head is zero (the first step) or the processes' tokens-per-row are equal;
- rank 0 alone writes metrics, checkpoints, evaluations, ``final/`` and the report; the others wait for
  it. A checkpoint also holds every process's episode order and RNG state, so a resumed run continues
  as the killed one would have.

Not covered: the SFT warm start (run it once in one process, ``algorithm=sft``, then point
``model.name_or_path`` at its ``final/``), ``algorithm=rllib_ppo`` (Ray has its own workers), vLLM server
mode (TRL's client gathers equal prompt lists from every process in lockstep; memgym's processes step
episodes of different lengths), ``train.num_minibatches > 1`` exactness (each process splits its own
rows into minibatches: the same update in expectation, not row for row), and FSDP: every process holds the
whole model. For models whose AdamW state does not fit one device, use LoRA (``model.use_peft``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memgym.errors import ConfigError
from memgym.trainers.data_parallel import (
    DataParallel,
    DataParallelGRPOTrainer,
    DataParallelPPOTrainer,
    ProcessGroup,
    init_process_group,
    shard,
    trainer_class,
)

__all__ = [
    "DataParallel",
    "DataParallelGRPOTrainer",
    "DataParallelPPOTrainer",
    "ProcessGroup",
    "init_process_group",
    "main",
    "run_data_parallel",
    "shard",
]


# ---------------------------------------------------------------------------------------------- a whole run
def run_data_parallel(cfg: Any, *, run_dir: str | Path | None = None, group: ProcessGroup | None = None,
                      **trainer_kwargs: Any) -> Any:
    """:func:`memgym.trainers.pipeline.run_training` on several processes: evaluate the start, train,
    evaluate, compare with the baselines, report (everything but the training on rank 0 alone)."""
    import contextlib
    import time

    from memgym.trainers.pipeline import PhaseClock, finish_run
    from memgym.trainers.preflight import check_targets
    from memgym.trainers.results import load_rows, save_rows, table_row

    check_targets(cfg)
    cls = trainer_class(cfg.algorithm)
    if cfg.sft.enabled:
        raise ConfigError(
            "the SFT warm start does not run data-parallel: run it once in one process (algorithm=sft), then "
            "start RL from its final/ folder (model.name_or_path=RUN/final sft.enabled=false)"
        )
    started = time.perf_counter()
    trainer = cls(cfg, run_dir=run_dir, group=group, **trainer_kwargs)
    dp, out = trainer.dp, trainer.run_dir
    clock = PhaseClock()
    phase = clock if dp.is_main else (lambda name: contextlib.nullcontext())
    rows = dp.broadcast(load_rows(out) if dp.is_main else None)
    logger = trainer.open_logger()
    resumed = trainer.maybe_resume()
    evaluate = cfg.eval.num_episodes > 0
    if not resumed and cfg.eval.before and evaluate and "start" not in rows:
        with phase("evaluate start"):
            metrics = trainer.evaluate()
        if dp.is_main:
            logger.log({**metrics, "eval/phase": "start"}, step=trainer.global_step)
            rows["start"] = table_row(f"start ({Path(cfg.model.name_or_path).name})", metrics)
            save_rows(out, rows)
    trained = trainer.global_step < cfg.train.max_steps
    if trained:
        with phase(f"{cfg.algorithm.upper()} on {dp.world} processes ({cfg.train.max_steps - trainer.global_step} steps)"):
            trainer.train(evaluate_start=False)
    if evaluate and (trained or "final" not in rows):
        final = trainer.final_eval if trained else trainer.evaluate()
        if dp.is_main:
            rows["final"] = table_row(f"after {cfg.algorithm.upper()}", final)
    result = None
    if dp.is_main:
        result = finish_run(
            trainer, rows, clock, started, title=f"memgym {cfg.algorithm} run (data-parallel)",
            setting=f"algorithm: {cfg.algorithm} on {dp.world} processes; model: {cfg.model.name_or_path}; "
                    f"env: {cfg.env.id}",
        )
    dp.barrier()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``memgym train``'s arguments, run data-parallel (see the module's docstring for the launch line)."""
    from memgym.trainers.cli import _guarded, _resolve_config_path
    from memgym.trainers.config import load_config

    parser = argparse.ArgumentParser(prog="memgym.trainers.distributed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", "-c", help="YAML config (a path, or the name of a shipped config)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = parser.parse_args(argv)

    def run() -> int:
        from memgym.trainers.report import markdown_table
        from memgym.trainers.results import TABLE_COLUMNS

        result = run_data_parallel(load_config(_resolve_config_path(args.config), args.overrides))
        if result is not None:
            print(markdown_table(result.rows, list(TABLE_COLUMNS)))
            print(f"\nrun folder: {result.run_dir}  (report: {result.report}; {result.seconds:.0f} s)")
        return 0

    return _guarded("memgym train (data-parallel)", run)


if __name__ == "__main__":
    sys.exit(main())
