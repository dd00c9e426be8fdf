"""``memgym train`` / ``memgym quickstart``: config handling, and a whole (tiny) run with its report."""

import json
import re

import pytest
import yaml

from memgym.cli import build_parser, main


def test_train_and_quickstart_are_subcommands():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert "train" in choices and "quickstart" in choices


def test_help_config_lists_documented_fields(capsys):
    assert main(["train", "--help-config"]) == 0
    out = capsys.readouterr().out
    assert "grpo.epsilon = 0.2" in out and "Lower clip range" in out
    assert "ppo.lam = 0.95" in out and "sft.enabled = False" in out


def test_bad_override_is_a_clear_error(capsys):
    assert main(["train", "--config", "quickstart", "train.max_stesp=3"]) == 2
    assert "unknown key 'max_stesp' in section 'train'. Did you mean: max_steps" in capsys.readouterr().err


def test_dry_run_resolves_the_shipped_quickstart(capsys):
    assert main(["train", "--config", "quickstart", "--dry-run", "train.max_steps=5", "algorithm=ppo"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^algorithm: ppo$", out, re.M) and re.search(r"^  max_steps: 5$", out, re.M)


@pytest.mark.slow
def test_a_tiny_run_writes_checkpoints_curves_and_the_table(tmp_path, capsys):
    data = (
        "{n_episodes: 3, seed: 0, config: {n_entities: 1, facts_per_entity: 2, n_sessions: 1, "
        "turns_per_session: 6}}"
    )
    overrides = [
        "model.name_or_path=tiny",
        "model.trainable_layers=1",  # the quickstart trains its top blocks only; the tiny model has two
        f"env.kwargs={{top_k: 2, episode_kwargs: {data}}}",
        "env.eval_kwargs={episode_kwargs: {n_episodes: 2, seed: 5}}",
        "train.max_steps=1",
        "train.num_generations=2",
        "generation.max_new_tokens=6",
        "generation.batch_size=4",
        "sft.num_episodes=2",
        "sft.batch_size=4",
        "sft.learning_rate=1e-3",
        "eval.num_episodes=2",
        "eval.baselines=[noop, store_all]",
        "sft.enabled=true",
        "eval.after_sft=true",
        f"output_dir={tmp_path}",
        "run_name=tiny",
        "logging.report_to=[tensorboard]",
    ]
    assert main(["train", "--config", "quickstart", *overrides]) == 0
    run = tmp_path / "tiny"
    rows = json.loads((run / "evaluations.json").read_text())
    assert list(rows) == ["start", "sft", "final", "baseline:noop", "baseline:store_all"]
    for row in rows.values():
        assert 0.0 <= row["qa"] <= 1.0 and 0.0 <= row["invalid_rate"] <= 1.0
    assert rows["baseline:noop"]["invalid_rate"] == 0.0  # a baseline writes valid (empty) actions
    report = (run / "report.md").read_text()
    assert "| after SFT + GRPO |" in report and "| baseline: store_all |" in report
    assert (run / "learning_curves.png").stat().st_size > 10_000
    assert (run / "final" / "config.json").exists() and (run / "checkpoints" / "step-000001").is_dir()
    assert "after SFT + GRPO" in capsys.readouterr().out  # the table is printed too


@pytest.mark.slow
def test_a_run_saves_the_config_as_given_and_evaluates_the_start_once(tmp_path):
    data = "{n_episodes: 2, seed: 0, config: {n_entities: 1, facts_per_entity: 2, n_sessions: 1, turns_per_session: 4}}"
    overrides = [
        "model.name_or_path=tiny",
        f"env.kwargs={{top_k: 2, episode_kwargs: {data}}}",
        "env.eval_kwargs={episode_kwargs: {n_episodes: 1, seed: 5}}",
        "train.max_steps=1",
        "train.episodes_per_step=1",
        "train.num_generations=2",
        "generation.max_new_tokens=4",
        "sft.enabled=false",
        "eval.num_episodes=1",
        "eval.baselines=[]",
        f"output_dir={tmp_path}",
        "run_name=tiny",
        "logging.report_to=none",
    ]
    assert main(["train", "--config", "quickstart", *overrides]) == 0
    config = yaml.safe_load((tmp_path / "tiny" / "config.yaml").read_text())
    assert config["eval"]["before"] is True  # the pipeline evaluated the start itself, the config is untouched
    records = [json.loads(line) for line in (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval/phase"] for r in records if "eval/phase" in r] == ["start", "final"]
