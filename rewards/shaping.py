"""Shaping terms: format validity, memory compression, tool-call success, agreement with oracle labels.

Each is a pure function returning a float in [0, 1], to be weighted by
:class:`~memgym.rewards.compose.RewardComposer` (Mem-α weighs compression 0.05 and tool success 1.0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from memgym.envs.episode import OpLabel
from memgym.envs.operations import Operation, OpResult
from memgym.errors import ConfigError

__all__ = ["compression", "format_validity", "oracle_op_agreement", "tool_call_success_rate"]


def format_validity(parse_ok: bool) -> float:
    """1.0 when the policy's action parsed into operations, else 0.0.

    >>> format_validity(True), format_validity(False)
    (1.0, 0.0)
    """
    return 1.0 if parse_ok else 0.0


def compression(memory_tokens: int, chunk_tokens: int, *, clip: bool = True) -> float:
    """Mem-α's compression term ``1 - memory_tokens / chunk_tokens``, clipped to [0, 1] by default.

    Clipping is a choice: unclipped, a memory larger than the text it stores (likely with short chunks)
    gives an unbounded negative term that can outweigh the QA reward; clipped, any memory at least as
    long as the input scores 0.0. Pass ``clip=False`` for the raw ratio. ``chunk_tokens == 0`` (nothing
    read yet) scores 0.0.

    >>> compression(25, 100)  # 1 - 25/100
    0.75

    Raises:
        ConfigError: a token count is negative.
    """
    if memory_tokens < 0 or chunk_tokens < 0:
        raise ConfigError(f"token counts must be >= 0, got memory={memory_tokens}, chunk={chunk_tokens}")
    if chunk_tokens == 0:
        return 0.0
    value = 1.0 - memory_tokens / chunk_tokens
    return min(1.0, max(0.0, value)) if clip else value


def tool_call_success_rate(results: Sequence[OpResult], *, empty: float = 1.0) -> float:
    """The share of the step's operations (tool calls) the bank accepted, NOOPs included.

    A step with no calls scores ``empty``, 1.0 by default: the term measures whether the calls made were
    valid, and a policy that rightly does nothing made no invalid call. Pass ``empty=0.0`` to push a
    policy to act; do not rely on it to reward doing nothing (that is the QA reward's job).

    >>> from memgym.envs.operations import Operation, OpResult
    >>> tool_call_success_rate([OpResult(Operation.add("x"), ok=True),
    ...                         OpResult(Operation.delete("m9"), ok=False, error="unknown_id")])
    0.5
    """
    if not results:
        return float(empty)
    return sum(1 for r in results if r.ok) / len(results)


def _kind(item: Operation | OpResult | OpLabel | str) -> str:
    if isinstance(item, OpResult):
        item = item.op
    kind = str(item if isinstance(item, str) else item.kind).strip().upper()
    # Mem0 says NONE for NOOP. Any other unknown kind is kept: it matches no label, so a policy's
    # malformed op lowers the score instead of raising.
    return "NOOP" if kind == "NONE" else kind


def oracle_op_agreement(ops: Sequence[Operation | OpResult | str], labels: Sequence[OpLabel | str]) -> float:
    """Dense shaping against synthetic oracle labels: how well the step's op kinds match the labels'.

    The kinds are compared as multisets with NOOP left out (an empty step and an explicit NOOP mean the
    same): ``matched / max(#ops, #labels)``, where ``matched`` counts each kind up to the smaller of its
    two counts. Dividing by the larger count penalises extra operations as much as missing ones, so
    emitting every kind cannot score 1.0. Both empty (after dropping NOOPs) scores 1.0. Only kinds are
    compared; whether the text is right is the QA reward's job.

    >>> oracle_op_agreement([Operation.add("a"), Operation.add("b")], ["ADD", "UPDATE"])  # 1 / max(2, 2)
    0.5
    """
    got = Counter(k for k in map(_kind, ops) if k != "NOOP")
    want = Counter(k for k in map(_kind, labels) if k != "NOOP")
    denominator = max(sum(got.values()), sum(want.values()))
    if denominator == 0:
        return 1.0
    return sum((got & want).values()) / denominator
