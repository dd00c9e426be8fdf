"""Composition of named, weighted reward components, every one of them logged.

An environment computes the registered components (:mod:`memgym.rewards.components`) into a mapping
``{name: value}``; a :class:`RewardComposer` built from the config's weights turns it into the scalar
reward plus a log dict that goes into ``info["reward_components"]`` and the trainers' logs.

Mem-α's reward, for example, is ``RewardComposer({"qa": 1.0, "compression": 0.05, "tool_success": 1.0})``.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping

from memgym.errors import ConfigError, MemgymError

__all__ = ["RewardComposer"]

def _is_finite_number(value: object) -> bool:
    """A real number (numpy scalars included) that is neither a bool nor NaN/inf."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _unknown(names: Iterable[str], known: Iterable[str], what: str) -> str:
    known = sorted(known)
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=2)
        parts.append(f"{name!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
    return f"{what} {', '.join(parts)}; known: {', '.join(known) or '(none)'}"


class RewardComposer:
    """Weighted sum of named components, returning the total and every component for the logs.

    Args:
        weights: ``{component name: weight}``; only these components enter the total.
        known: The component names the caller can compute. When given, a weight naming anything else
            is an error at construction; otherwise it is one at the first call that lacks it.

    Calling it with ``{name: value}`` returns ``(total, log)`` where ``log`` holds
    ``"reward/<name>"`` for every component passed (weighted or not), ``"reward_weighted/<name>"`` =
    weight x value for the weighted ones, and ``"reward/total"``. A value of ``None`` means "not
    computed this step" (TRL's convention): it adds nothing and is left out of the log.

    >>> total, log = RewardComposer({"em": 1.0, "compression": 0.05})({"em": 1.0, "compression": 0.5, "f1": 0.8})
    >>> total, log["reward/f1"], log["reward_weighted/compression"]
    (1.025, 0.8, 0.025)

    Raises:
        ConfigError: no weights, a weight that is not a finite number, or a name outside ``known``.
    """

    def __init__(self, weights: Mapping[str, float], known: Iterable[str] | None = None) -> None:
        if not weights:
            raise ConfigError("reward weights are empty; name at least one component, e.g. {'em': 1.0}")
        bad = {k: v for k, v in weights.items() if not _is_finite_number(v)}
        if bad:
            raise ConfigError(f"reward weights must be finite numbers, got {bad}")
        self.weights = {str(k): float(v) for k, v in weights.items()}
        self.known = None if known is None else frozenset(known)
        if self.known is not None:
            unknown = [k for k in self.weights if k not in self.known]
            if unknown:
                raise ConfigError(_unknown(unknown, self.known, "unknown reward component(s)"))

    def __call__(self, components: Mapping[str, float | None]) -> tuple[float, dict[str, float]]:
        """Combine ``components`` into ``(total, log)``.

        Raises:
            ConfigError: a weighted component is missing from ``components`` (lists those present).
            MemgymError: a component value is not a finite number.
        """
        if "total" in components:
            raise ConfigError(
                "a reward component cannot be named 'total' (the log's 'reward/total' is the sum)"
            )
        missing = [k for k in self.weights if k not in components]
        if missing:
            raise ConfigError(_unknown(missing, components, "reward weights name component(s) not computed:"))
        log: dict[str, float] = {}
        for name, value in components.items():
            if value is None:
                continue
            if not _is_finite_number(value):
                raise MemgymError(f"reward component {name!r} is {value!r}, not a finite number")
            log[f"reward/{name}"] = float(value)
        total = 0.0
        for name, weight in self.weights.items():
            if f"reward/{name}" in log:
                contribution = weight * log[f"reward/{name}"]
                log[f"reward_weighted/{name}"] = contribution
                total += contribution
        log["reward/total"] = total
        return total, log

    def __repr__(self) -> str:
        return f"RewardComposer({self.weights!r})"
