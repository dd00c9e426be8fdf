"""Checks of what a training config names, run before any model is loaded.

:func:`memgym.trainers.config.load_config` checks each value's type and range; :func:`check_targets`
checks that what the values *name* exists: the environment id and its arguments, the baselines of the
report, the QA metric, the model directory, the checkpoint to resume from and the warm start's teacher.
A mistake in any of them therefore fails in a second, with the config key in the message, instead of
after a model was loaded or a whole training run finished (``eval.baselines`` is read only at the end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memgym.errors import ConfigError
from memgym.trainers.config import TrainConfig

#: Model names :func:`memgym.trainers.modeling.load_policy` resolves itself (not directories).
MODEL_ALIASES: tuple[str, ...] = ("tiny", "smollm2-135m", "default")


def check_targets(cfg: TrainConfig) -> None:
    """Raise a :class:`~memgym.errors.ConfigError` (or ``UnknownNameError``) naming the config key whose
    value names nothing: an unknown ``env.id``, an argument the environment does not take, an unknown
    baseline or metric, a missing model directory, a ``train.resume`` path that is no checkpoint, or an
    unknown ``sft.teacher``."""
    from memgym.envs.registration import check_env_kwargs

    _named("env.id", lambda: check_env_kwargs(cfg.env.id, {}))
    for key, extra in (("env.kwargs", {}), ("env.eval_kwargs", cfg.env.eval_kwargs),
                       ("sft.env_kwargs", cfg.sft.env_kwargs)):
        kwargs = {**cfg.env.kwargs, **extra}
        _named(key, lambda kw=kwargs: check_env_kwargs(cfg.env.id, kw))
    _check_baselines(cfg.eval.baselines)
    from memgym.rewards.metrics import METRICS

    if cfg.eval.metric not in METRICS:
        raise ConfigError(f"eval.metric: {cfg.eval.metric!r} is not one of {', '.join(sorted(METRICS))}")
    if cfg.algorithm == "rllib_ppo":  # no language model, no warm start
        return
    _check_model(cfg.model.name_or_path)
    _check_resume(cfg.train.resume)
    _check_teacher(cfg.sft.teacher, cfg.sft.enabled or cfg.algorithm == "sft")


def _named(key: str, check: Any) -> None:
    """Run ``check``; prefix its error with the config key it is about."""
    from memgym.errors import MemgymError

    try:
        check()
    except MemgymError as err:
        raise type(err)(f"{key}: {err}") from err


def _check_baselines(names: list[str]) -> None:
    from memgym.policies.managers import POLICIES, expand_policy_names

    for name in expand_policy_names(names):
        if name not in POLICIES:
            _named("eval.baselines", lambda n=name: POLICIES.get(n))


def _check_model(name: str) -> None:
    if name in MODEL_ALIASES:
        return
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.name_or_path: {name} is a folder but holds no model (no config.json)")
        return
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~")) and not path.exists()
    if not looks_like_hub_id:
        raise ConfigError(
            f"model.name_or_path: no model directory {name!r}; give {', '.join(MODEL_ALIASES[:2])}, a local "
            "model directory (e.g. a run's final/ folder) or a Hugging Face id (owner/name)"
        )


def _check_resume(how: str) -> None:
    from memgym.trainers.checkpoint import STATE_FILE

    if how in ("auto", "never"):
        return
    path = Path(how)
    if not (path / STATE_FILE).is_file():
        what = "does not exist" if not path.exists() else f"is no checkpoint (no {STATE_FILE})"
        raise ConfigError(
            f"train.resume: {how!r} {what}; give auto, never, or a checkpoint folder such as "
            "runs/<run>/checkpoints/step-000010"
        )


def _check_teacher(teacher: str, used: bool) -> None:
    if not used or teacher == "oracle":
        return
    if teacher.endswith(".jsonl"):
        if not Path(teacher).is_file():
            raise ConfigError(f"sft.teacher: the examples file {teacher!r} does not exist")
        return
    from memgym.policies.managers import POLICIES

    _named("sft.teacher", lambda: POLICIES.get(teacher))
