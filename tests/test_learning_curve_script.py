"""``experiments/learning_curve.py --from-scratch``: RL from the untrained model, with no warm-start phase."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_from_scratch_runs_rl_from_the_configs_model_without_a_warm_start(tmp_path, load_experiment):
    data = "{n_episodes: 2, seed: 0, config: {n_entities: 1, facts_per_entity: 2, n_sessions: 1, turns_per_session: 4}}"
    overrides = [
        "model.name_or_path=tiny",
        "model.trainable_layers=1",
        f"env.kwargs={{top_k: 2, episode_kwargs: {data}}}",
        "env.eval_kwargs={episode_kwargs: {n_episodes: 1, seed: 5}}",
        "train.episodes_per_step=1",
        "train.num_generations=2",
        "generation.max_new_tokens=4",
        "eval.num_episodes=1",
        "logging.report_to=none",
    ]
    script = load_experiment("learning_curve")
    assert script.main(["--out", str(tmp_path), "--from-scratch", "--steps", "1", "--eval-every", "1",
                        "--algorithms", "grpo", "--", *overrides]) == 0
    assert not (tmp_path / "sft").exists()  # no warm-start phase ran
    report = (tmp_path / "report.md").read_text()
    assert "from the untrained model" in report and "`tiny`, no warm start" in report
    assert "| 0 | " in report and "| 1 | " in report  # the start and step 1 on the curve
    assert (tmp_path / "learning_curve.png").stat().st_size > 5_000
