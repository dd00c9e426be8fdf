"""Reading the fields of an item or a tool call's arguments: ids, tiers, ``top_k`` and their aliases."""

from __future__ import annotations

from memgym.envs.action_parser.result import _short, _type_name

_ARGUMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "content": ("content", "text", "data"),
    "new_content": ("new_content", "content", "text", "data"),
    "memory_id": ("memory_id", "id"),
    "tier": ("tier", "memory_type"),
}


def _argument(args: dict, aliases: tuple[str, ...]) -> object:
    return next((args[key] for key in aliases if args.get(key) is not None), None)


def _entry_id(d: dict, *keys: str) -> str | None | tuple[str, str]:
    """A memory id: strings and integers are accepted (models often write ``"id": 3``)."""
    value = next((d[k] for k in keys if d.get(k) is not None), None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "invalid_item", f"'{keys[0]}' must be a string, got {_type_name(value)}"
    if isinstance(value, int) and value.bit_length() > 64:
        return "invalid_item", f"'{keys[0]}' {_short(value)} is no memory id (too large)"
    return str(value).strip() or None


def _tier(d: dict) -> str | None | tuple[str, str]:
    for key in _ARGUMENT_ALIASES["tier"]:
        value = d.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            return "invalid_item", f"'{key}' must be a string, got {_type_name(value)}"
        value = value.strip()
        if key == "memory_type":  # Mem-α writes "semantic_memory" for the tier "semantic"
            value = value.removesuffix("_memory")
        return value or None
    return None


def _top_k(value: object) -> int | None | tuple[str, str]:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 10:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "invalid_item", f"'top_k' must be a positive integer, got {_short(value)}"
    return value
