"""Mem0 / Memory-R1 JSON: ``{"memory": [{"id", "text", "event", "old_memory"}, ...]}`` items to operations."""

from __future__ import annotations

from memgym.envs.action_parser.fields import _entry_id, _tier
from memgym.envs.action_parser.result import ParsedAction, _collect, _fail, _short, _type_name
from memgym.envs.operations import OP_KINDS, Operation


def _mem0(value: object, default_tier: str | None) -> ParsedAction:
    if isinstance(value, dict) and "memory" in value:
        items, label = value["memory"], "'memory'"
    elif isinstance(value, dict):
        items, label = [value], "the action"
    else:
        items, label = value, "the list"
    if not isinstance(items, list):
        return _fail(
            "invalid_item", f"'memory' must be a list of items, got {_type_name(items)}", fmt="mem0_json"
        )
    if not items:
        return ParsedAction(ops=[Operation.noop()], format="mem0_json")
    return _collect(
        "mem0_json", items, lambda n, _: f"item {n} of {label}", lambda item: _mem0_item(item, default_tier)
    )


def _mem0_item(item: object, default_tier: str | None) -> Operation | tuple[str, str]:
    if not isinstance(item, dict):
        return "invalid_item", f"expected an object, got {_type_name(item)}"
    event = item.get("event")
    if not isinstance(event, str):
        return "invalid_item", "needs an 'event': ADD, UPDATE, DELETE or NONE"
    kind = event.strip().upper()
    kind = "NOOP" if kind == "NONE" else kind
    if kind not in OP_KINDS:
        return "invalid_item", f"unknown event {_short(event)}; use ADD, UPDATE, DELETE or NONE"
    tier = _tier(item)
    if isinstance(tier, tuple):
        return tier
    if kind == "NOOP":
        entry_id = _entry_id(item, "id")
        return Operation("NOOP", id=entry_id if isinstance(entry_id, str) else None)
    text = item.get("text")
    if kind in ("ADD", "UPDATE") and not isinstance(text, str):
        return "invalid_item", f"{kind} needs 'text' (a string)"
    if kind == "ADD":
        return Operation.add(text, tier=tier or default_tier)  # type: ignore[arg-type]
    entry_id = _entry_id(item, "id")
    if isinstance(entry_id, tuple):
        return entry_id
    if entry_id is None and tier is None:
        return "invalid_item", f"{kind} needs 'id'"
    return Operation(kind, id=entry_id, text=text if kind == "UPDATE" else None, tier=tier)  # type: ignore[arg-type]
