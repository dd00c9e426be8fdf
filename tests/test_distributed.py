"""Data-parallel training on two CPU processes (accelerate, gloo): the same step as one process, and resume.

The two processes run ``tests/dp_worker.py`` once (``accelerate launch --multi_gpu --num_processes 2``;
without a GPU, accelerate starts local processes that talk over gloo); this file checks what it found.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memgym.errors import ConfigError
from memgym.trainers.distributed import shard

WORKER = Path(__file__).with_name("dp_worker.py")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), str(WORKER), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads((out / "results.json").read_text())


def test_two_processes_were_used(results):
    assert results["world"] == 2


@pytest.mark.parametrize("case", ["dapo", "grpo_batch", "ppo"])
def test_a_two_process_step_equals_the_one_process_step(results, case):
    r = results[case]
    assert r["rows_per_rank"][0] != r["rows_per_rank"][1]  # unequal shares: the weighting matters
    assert r["grads"]["same_keys"] and r["grads"]["abs"] <= 1e-5 * max(r["grads"]["scale"], 1.0)
    assert r["moved"] > 1e-4  # the step changed the weights ...
    # ... and both runs changed them alike. Adam's first step is about lr * sign(g): where a gradient is ~0,
    # float rounding can flip its sign, so a few weights may differ by up to 2 * lr (lr = 1e-3 here)
    assert r["weights"]["close"] >= 0.999 and r["weights"]["abs"] <= 2e-3
    assert r["ranks_agree"]  # the processes hold the same weights after the step
    assert r["reward_two"] == pytest.approx(r["reward_one"])  # the logged reward covers both processes


def test_a_resumed_two_process_run_continues_as_the_straight_one(results):
    r = results["resume"]
    assert r["global_step"] == 2 and r["samplers_agree"]
    assert r["weights"]["abs"] <= 1e-6
    assert r["checkpoint_ranks"] == 2  # every process's episode order is in the checkpoint
    assert r["log_lines"] == 2  # one writer: one line per step


def test_the_command_line_entry_runs_a_whole_data_parallel_run(results):
    assert results["cli"] == {"status": 0, "final": True, "report": True}


def test_groups_are_dealt_round_robin():
    assert shard(5, 0, 2) == [0, 2, 4] and shard(5, 1, 2) == [1, 3] and shard(1, 1, 2) == []


def test_one_process_is_a_clear_error(tmp_path, monkeypatch):
    from memgym.trainers.config import load_config
    from memgym.trainers.distributed import DataParallelGRPOTrainer

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = load_config(None, ["model.name_or_path=tiny", f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="accelerate launch"):
        DataParallelGRPOTrainer(cfg)
