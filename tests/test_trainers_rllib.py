"""RLlib PPO on the structured action mode of a tiny MemoryManager environment (a local Ray instance)."""

import re
import sys

import pytest

from memgym.errors import DependencyNotInstalled
from memgym.trainers.config import load_config

DATA = {
    "n_episodes": 4,
    "seed": 0,
    "config": {"n_entities": 1, "facts_per_entity": 2, "n_sessions": 1, "turns_per_session": 10},
}


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_rllib_ppo_improves_on_a_tiny_structured_env(tmp_path, ray_local):
    from memgym.trainers.rllib_ppo import train_rllib_ppo

    cfg = load_config(
        None,
        [
            "algorithm=rllib_ppo",
            f"env.kwargs={{episode_kwargs: {DATA}, top_k: 2, n_candidates: 2, feature_dim: 16}}",
            "env.skip_speakers=[Assistant]",
            "rllib.iterations=4",
            "rllib.train_batch_size=256",
            "rllib.minibatch_size=64",
            "rllib.num_epochs=4",
            "rllib.learning_rate=1e-3",
            "eval.num_episodes=4",
            "eval.baselines=[noop]",
            "logging.report_to=none",
            f"output_dir={tmp_path}",
            "run_name=rl",
            "seed=0",
        ],
    )
    result = train_rllib_ppo(cfg)
    before, after = result.rows[0], result.rows[1]
    assert before["policy"].startswith("start") and after["policy"] == "after RLlib PPO"
    # the untrained MLP's greedy choice is a fixed, mostly invalid action; PPO learns to store facts
    assert after["qa"] > before["qa"] + 0.2, result.rows
    assert after["invalid_rate"] < before["invalid_rate"]
    assert (tmp_path / "rl" / "rllib_checkpoint").is_dir()
    assert "after RLlib PPO" in (tmp_path / "rl" / "report.md").read_text()
    assert any(r["policy"] == "baseline: noop" for r in result.rows)


def test_without_ray_the_error_names_the_extra(monkeypatch):
    from memgym.trainers.rllib_ppo import build_algorithm

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(DependencyNotInstalled, match=re.escape("pip install 'memgym[ray]'")):
        build_algorithm(load_config(None, ["algorithm=rllib_ppo"]))
