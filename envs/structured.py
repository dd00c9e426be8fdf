"""The structured action mode, in one module: compact integer actions and numeric observations.

``action_mode="structured"`` (for RLlib and other non-LLM learners) replaces the policy's text with a
``Dict`` of four ``Discrete`` entries (:func:`~memgym.envs.spaces.structured_action_space`: op, target,
content, tier) and the prompt with a ``Box`` of hashed text features
(:func:`~memgym.envs.spaces.featurize`). An environment's hooks say what ``target`` and ``content``
index (:meth:`~memgym.envs.base.MemoryEnv.target_texts`, :meth:`~memgym.envs.base.MemoryEnv.candidates`);
the functions here turn an action into operations against them, draw random well-formed actions, and
build the spaces and observations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from memgym.envs.action_parser import ParseError
from memgym.envs.action_parser.result import safe_repr
from memgym.envs.operations import Operation
from memgym.envs.spaces import STRUCTURED_OPS, featurize
from memgym.envs.units import action_error

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv
    from memgym.envs.memory_bank import MemoryEntry
    from memgym.envs.units import Unit

#: Actions that every structured environment must refuse (the checker tries them).
MALFORMED_STRUCTURED: tuple[Any, ...] = ({"op": 99, "target": 0, "content": 0, "tier": 0}, {}, "not a dict", None)


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters (safe for any value: see :func:`safe_repr`)."""
    return safe_repr(value, limit)


def in_space(space: Any, action: Any) -> bool:
    """``space.contains(action)``, false instead of raising for values Gymnasium cannot compare
    (integers of 2**63 and more raise ``OverflowError`` in ``Discrete.contains``)."""
    try:
        return bool(space.contains(action))
    except (OverflowError, ValueError, TypeError, RecursionError):
        return False


def decode_action(env: MemoryEnv, action: Any, unit: Unit) -> tuple[list[Operation], ParseError | None]:
    """A structured action -> operations, or the reason it cannot be used (nothing is applied then)."""
    if not in_space(env.action_space, action):
        return [], action_error(
            "invalid_action", f"{short_repr(action)} is not in the action space {env.action_space}"
        )
    return env.decode_structured(action, unit)


def decode_default(env: MemoryEnv, action: dict, unit: Unit) -> tuple[list[Operation], ParseError | None]:
    """The default meaning of a structured action: one op on a shown memory with a candidate text."""
    op = STRUCTURED_OPS[int(action["op"])]
    if op == "NOOP":
        return [Operation.noop()], None
    if op in ("ADD", "UPDATE"):
        content = int(action["content"])
        candidates = env.candidates(unit)
        if content >= len(candidates):
            return [], action_error(
                "invalid_content",
                f"content {content} is empty: this step has {len(candidates)} candidate text(s)",
            )
        text = candidates[content]
    tier = env.tiers[min(int(action["tier"]), len(env.tiers) - 1)]
    if op == "ADD":
        if tier in env.single_slot_tiers:
            return [Operation.update(None, text, tier=tier)], None
        return [Operation.add(text, tier=tier)], None
    shown = env.progress.shown
    target = int(action["target"])
    if target >= len(shown):
        return [], action_error(
            "invalid_target", f"target {target} is empty: the observation showed {len(shown)} memorie(s)"
        )
    if op == "UPDATE":
        return [Operation.update(shown[target], text)], None
    return [Operation.delete(shown[target])], None


def random_action(env: MemoryEnv, rng: np.random.Generator) -> Any:
    """A random well-formed action for the current step: a random policy's choice.

    A random op (NOOP / ADD / UPDATE / DELETE) on a random shown memory with a random candidate text;
    UPDATE / DELETE fall back to ADD when nothing is shown, ADD / UPDATE to NOOP without candidates. In
    text mode the structured choice is rendered as the text the environment's prompt asks for.
    """
    unit = env.current_unit
    n_targets = env.n_targets()
    candidates = env.candidates(unit)  # type: ignore[arg-type]
    op = int(rng.integers(len(STRUCTURED_OPS)))
    if STRUCTURED_OPS[op] in ("UPDATE", "DELETE") and n_targets == 0:
        op = STRUCTURED_OPS.index("ADD")
    if STRUCTURED_OPS[op] in ("ADD", "UPDATE") and not candidates:
        op = 0
    action = {
        "op": op,
        "target": int(rng.integers(max(1, min(n_targets, env.top_k)))),
        "content": int(rng.integers(max(1, len(candidates)))),
        "tier": int(rng.integers(len(env.tiers))),
    }
    if env.action_mode == "structured":
        return action
    ops, _ = env.decode_structured(action, unit)  # type: ignore[arg-type]
    return env.render_action(ops)


def observe(env: MemoryEnv, unit: Unit | None, shown: list[MemoryEntry]) -> np.ndarray:
    """The structured observation: the step's candidates and the targets it offers (none at the end)."""
    if unit is None:
        candidates, targets = [], []
    else:
        candidates, targets = list(env.candidates(unit)), env.target_texts(shown)
    bank = env.bank
    if env.max_entries:
        fill = len(bank) / env.max_entries
    elif env.max_tokens:
        fill = bank.total_tokens / env.max_tokens
    else:
        fill = 1.0 - 1.0 / (1.0 + len(bank) / 100.0)
    p = env.progress
    return featurize(
        candidates,
        targets,
        n_candidates=env.n_candidates,
        n_targets=env.top_k,
        dim=env.feature_dim,
        fill=fill,
        progress=p.cursor / len(p.units),
    )
