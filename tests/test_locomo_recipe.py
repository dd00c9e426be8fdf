"""The LoCoMo CPU recipe (``configs/locomo_cpu.yaml``, ``experiments/locomo_recipe.py``): what it pays for.

The recipe's reward is meant to teach *which* turns to keep: from one state, an ADD of an evidence turn
pays ``1 - w`` more than doing nothing and any other ADD ``w`` less (``w``: the memory_cost weight), where
the bank has room; every manager is compared at one budget (``env.eval_kwargs``). Skipped without the
LoCoMo dev data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "locomo-dev"
ADD_FIRST = '{"memory": [{"id": "new", "text": "#1", "event": "ADD"}]}'
NOTHING = '{"memory": []}'


def test_recipe_evaluates_at_the_evaluation_budget(load_experiment):
    from memgym.trainers.config import load_config

    recipe = load_experiment("locomo_recipe")
    cfg = load_config(recipe.CONFIG)
    shown = {k: recipe._eval_env_kwargs(cfg)[k] for k in ("max_entries", "top_k", "numbered_candidates")}
    assert shown == {"max_entries": 40, "top_k": 3, "numbered_candidates": True}
    for flag in (True, False):  # the trained manager is evaluated on the prompt it was trained on
        told = load_config(recipe.CONFIG, [f"env.kwargs.word_counts={str(flag).lower()}"])
        assert recipe._eval_env_kwargs(told)["word_counts"] is flag
    unbudgeted_training = load_config(recipe.CONFIG, ["env.kwargs.max_entries=null"])
    assert recipe._eval_env_kwargs(unbudgeted_training)["max_entries"] == 40
    overridden = load_config(recipe.CONFIG, ["env.eval_kwargs.max_entries=20"])
    assert recipe._eval_env_kwargs(overridden)["max_entries"] == 20


def test_recipe_warm_starts_then_trains_from_the_warm_start_and_reuses_finished_phases(load_experiment, tmp_path,
                                                                                        monkeypatch):
    import memgym.trainers.pipeline as pipeline

    recipe = load_experiment("locomo_recipe")
    runs = []

    def fake_training(cfg):  # records what each phase would train, and leaves its final model behind
        runs.append(cfg)
        final = Path(cfg.output_dir) / cfg.run_name / "final"
        final.mkdir(parents=True)
        (final / "config.json").write_text("{}")

    monkeypatch.setattr(pipeline, "run_training", fake_training)
    warm_start = ["sft.enabled=true", "sft.teacher=evidence_oracle"]
    warm, trained = recipe.train(DATA, tmp_path, warm_start)
    assert [(c.run_name, c.algorithm, c.sft.enabled) for c in runs] == [("warm", "sft", True), ("train", "grpo", False)]
    assert runs[0].sft.teacher == "evidence_oracle" and runs[0].env.kwargs["episodes"] == str(DATA / "26.json")
    assert runs[1].model.name_or_path == str(warm) and trained == tmp_path / "train" / "final"
    assert recipe.train(DATA, tmp_path, warm_start) == (warm, trained) and len(runs) == 2  # nothing trained again
    runs.clear()
    assert recipe.train(DATA, tmp_path / "cold", ["sft.enabled=false"])[0] is None
    assert [c.model.name_or_path for c in runs] == ["smollm2-135m"]


def test_recipe_budgets_are_a_comma_separated_list(load_experiment):
    import argparse

    recipe = load_experiment("locomo_recipe")
    assert recipe._budgets("120,40") == [120, 40]
    for bad in ("forty", "0", ","):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(bad)):
            recipe._budgets(bad)


@pytest.mark.skipif(not (DATA / "26.json").is_file(), reason="LoCoMo dev data not present")
def test_recipe_reward_pays_evidence_adds_and_charges_the_others(load_experiment, ):
    from memgym.envs.progress import restore, snapshot
    from memgym.trainers.base import env_kwargs, make_env_factory
    from memgym.trainers.config import load_config

    # no budget, so that no state's bank is full (there an ADD is refused and ties with doing nothing)
    cfg = load_config(load_experiment("locomo_recipe").CONFIG,
                      [f"env.kwargs.episodes={DATA / '26.json'}", "env.kwargs.max_entries=null"])
    weight = cfg.env.kwargs["reward_weights"]["memory_cost"]
    env = make_env_factory(cfg.env.id, env_kwargs(cfg.env))()
    gains: dict[bool, float] = {}
    for seed in range(40):
        env.reset(seed=seed)
        inner = env.unwrapped
        turn = inner.current_unit.turns[0].id
        evidence = any(turn in q.evidence for q in inner.episode.questions)
        if evidence in gains or len(inner.bank) == 0:
            continue
        state = snapshot(inner)
        _, added, *_ = env.step(ADD_FIRST)
        restore(inner, state)
        _, nothing, *_ = env.step(NOTHING)
        gains[evidence] = added - nothing
        if len(gains) == 2:
            break
    assert set(gains) == {True, False}, "40 states hold an evidence turn and a non-evidence turn"
    assert gains[True] == pytest.approx(1.0 - weight)
    assert gains[False] == pytest.approx(-weight)
