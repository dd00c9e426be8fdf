"""Learning, shown: a tiny model's QA reward rises under GRPO and PPO from the reward alone.

The task is learnable only from the QA reward: Memory-R1 single-step tuples on an empty bank, where a
turn states a fact that a question asks about. Under the ``choices`` grammar an action is ``{"memory": []}``
(keep nothing) or an ADD of one of the turn's candidate texts, and only an ADD of a text that holds the
fact answers the question (exact match through the model-free extractive answer agent). No labels, no
warm start: a random tiny model keeps the fact about half the time; a learner must get well above that.
A trainer with its advantage's sign flipped fails these tests (its reward falls instead).
"""

from __future__ import annotations

import pytest

from memgym.trainers.config import load_config
from memgym.trainers.grpo import GRPOTrainer
from memgym.trainers.ppo import PPOTrainer

DATA = {
    "n_episodes": 8,
    "seed": 0,
    "config": {
        "n_entities": 2,
        "facts_per_entity": 2,
        "n_sessions": 2,
        "turns_per_session": 6,
        "max_updates": 0,
        "questions_per_category": {"single-hop": 3},
    },
}
STEPS = 8


def learning_config(tmp_path, algorithm: str, *extra: str):
    return load_config(
        None,
        [
            f"algorithm={algorithm}",
            "model.name_or_path=tiny",
            "logging.report_to=[none]",
            f"train.max_steps={STEPS}",
            "train.episodes_per_step=8",
            "train.num_generations=4",
            "train.learning_rate=5e-4",
            "train.micro_batch_size=16",
            "env.group_by=state",
            "env.kwargs.mode=single_step",
            "env.kwargs.builder=empty",
            "env.kwargs.top_k=1",
            f"env.kwargs.episode_kwargs={DATA}",
            "generation.constrained=choices",
            "generation.max_new_tokens=48",
            "generation.temperature=1.0",
            "eval.num_episodes=0",
            "eval.baselines=[]",
            f"output_dir={tmp_path}",
            "run_name=learn",
            "seed=0",
            *extra,
        ],
    )


def qa_curve(trainer) -> list[float]:
    return [trainer.train_step()["reward/qa"] for _ in range(STEPS)]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_the_qa_reward_rises_from_the_reward_alone(tmp_path, algorithm):
    cls = GRPOTrainer if algorithm == "grpo" else PPOTrainer
    extra = ("ppo.whiten_advantages=true",) if algorithm == "ppo" else ()
    curve = qa_curve(cls(learning_config(tmp_path, algorithm, *extra)))
    start, end = curve[0], sum(curve[-2:]) / 2  # step 1's rollouts come from the untrained policy
    assert end >= start + 0.2 and end >= 0.85, f"{algorithm} QA reward per step: {[round(x, 2) for x in curve]}"
