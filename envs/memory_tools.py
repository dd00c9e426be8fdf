"""The memory tools as OpenAI-style function schemas, for chat templates and TRL's tool calling.

Mem-α gives its agent four tools over a tiered memory (insert, update, delete, search); memgym names
them ``memory_insert``, ``memory_update``, ``memory_delete`` and ``memory_search`` and lets the ``tier``
argument pick ``core``, ``semantic`` or ``episodic``. The schemas are the JSON that
``tokenizer.apply_chat_template(messages, tools=...)`` and TRL's ``tools=`` take; the tool calls a model
writes back are turned into :class:`~memgym.envs.operations.Operation` values by
:func:`memgym.envs.action_parser.parse_action`, which uses the names and aliases defined here.

Example:
    >>> from memgym.envs.memory_tools import tool_schemas
    >>> [s["function"]["name"] for s in tool_schemas(["memory"])]
    ['memory_insert', 'memory_update', 'memory_delete', 'memory_search']
    >>> tool_schemas(["core", "semantic"], single_slot_tiers=["core"])[0]["function"]["parameters"][
    ...     "properties"]["tier"]["enum"]
    ['semantic']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memgym.envs.memory_bank import MEM_ALPHA_TIERS, MemoryBank

#: The most memories one ``memory_search`` call returns (bounds the next prompt).
MAX_SEARCH_RESULTS = 50
#: The most ``memory_search`` calls one action may make; later ones are not run (the prompt says so).
MAX_SEARCHES_PER_ACTION = 8
#: The most characters the search results of one action add to the next prompt (longer results are cut).
MAX_SEARCH_CHARS = 16_000

INSERT, UPDATE, DELETE, SEARCH = "memory_insert", "memory_update", "memory_delete", "memory_search"
#: The canonical tool names, in the order the schemas list them.
TOOL_NAMES: tuple[str, ...] = (INSERT, UPDATE, DELETE, SEARCH)

#: Other names for the same tools that :func:`parse_action` accepts, so that outputs of models prompted
#: with the reference systems' tool sets parse too: Mem-α's own names (``new_memory_insert``,
#: ``search_memory``) and mem0's function-calling names (``add_memory``, ``update_memory``,
#: ``delete_memory``), plus ``memory_add``, which models often write for ``memory_insert``.
TOOL_ALIASES: dict[str, str] = {
    "new_memory_insert": INSERT,
    "memory_add": INSERT,
    "add_memory": INSERT,
    "update_memory": UPDATE,
    "delete_memory": DELETE,
    "search_memory": SEARCH,
}

#: Mem-α calls the tier argument ``memory_type`` and its values ``core_memory`` etc.; the parser reads
#: that spelling too (dropping the ``_memory`` suffix).
TIER_ARGUMENT_ALIASES: tuple[str, ...] = ("memory_type",)


def canonical_tool_name(name: str) -> str | None:
    """The canonical name for a tool name or alias (case-insensitive), or ``None`` when unknown."""
    key = name.strip().lower()
    if key in TOOL_NAMES:
        return key
    return TOOL_ALIASES.get(key)


def _function(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


def _tier_property(tiers: Sequence[str], what: str) -> dict:
    return {"type": "string", "enum": list(tiers), "description": f"The memory tier {what}."}


def tool_schemas(
    tiers: Sequence[str], *, single_slot_tiers: Sequence[str] = (), search: bool = True
) -> list[dict]:
    """Build the tool schemas for a bank with these tiers.

    With one ordinary tier the ``tier`` argument is left out (nothing to choose); otherwise it is
    required except by search (which then searches every tier). Single-slot tiers (Mem-α's ``core``
    block) cannot be inserted into, so they are missing from ``memory_insert``'s enum, and ``memory_id``
    becomes optional for update and delete, which rewrite or clear such a block when they name its tier
    without an id.

    Args:
        tiers: the bank's tiers (``MemoryBank.tiers``).
        single_slot_tiers: the bank's single-slot tiers (``MemoryBank.single_slot_tiers``).
        search: include ``memory_search`` (leave it out where the environment offers no retrieval).

    Returns:
        A fresh list of ``{"type": "function", "function": {...}}`` dicts, safe to mutate.
    """
    tiers = list(dict.fromkeys(tiers))
    slots = [t for t in single_slot_tiers if t in tiers]
    tiered = len(tiers) > 1 or bool(slots)  # a lone single-slot tier is still named, to rewrite it
    insertable = [t for t in tiers if t not in slots] or tiers
    id_property = {"type": "string", "description": "The id of the memory, as shown in brackets, e.g. m3."}
    blocks = " or ".join(slots)
    update_note = f" To rewrite the {blocks} block, give its tier and no memory_id." if slots else ""
    delete_note = f" To clear the {blocks} block, give its tier and no memory_id." if slots else ""

    insert_props: dict = {
        "content": {"type": "string", "description": "One self-contained fact to remember."}
    }
    update_props: dict = {
        "memory_id": id_property,
        "new_content": {"type": "string", "description": "The full new text that replaces the memory."},
    }
    delete_props: dict = {"memory_id": id_property}
    search_props: dict = {
        "query": {"type": "string", "description": "What to look for."},
        "top_k": {"type": "integer", "minimum": 1, "description": "How many memories to return."},
    }
    if tiered:
        insert_props["tier"] = _tier_property(insertable, "to insert into")
        update_props["tier"] = _tier_property(tiers, "the memory is in")
        delete_props["tier"] = _tier_property(tiers, "the memory is in")
        search_props["tier"] = _tier_property(tiers, "to search (all tiers when left out)")
    # Like Mem-α, a tiered bank's tools always name the tier; the id may then be left out only for
    # single-slot tiers. So every call the schema allows names an id or a tier, as the parser needs.
    target_required = (["tier"] if tiered else []) + ([] if slots else ["memory_id"])

    schemas = [
        _function(
            INSERT,
            "Store a new memory; the bank assigns its id.",
            insert_props,
            ["content", "tier"] if tiered else ["content"],
        ),
        _function(
            UPDATE,
            "Replace the text of an existing memory, keeping its id." + update_note,
            update_props,
            [*target_required, "new_content"],
        ),
        _function(
            DELETE,
            "Delete a memory that is wrong or no longer true." + delete_note,
            delete_props,
            target_required,
        ),
    ]
    if search:
        schemas.append(_function(SEARCH, "Find stored memories related to a query.", search_props, ["query"]))
    return schemas


#: The Mem-α tool set: tiers core (one block), semantic and episodic, with search.
MEMORY_TOOL_SCHEMAS: list[dict] = tool_schemas(MEM_ALPHA_TIERS, single_slot_tiers=("core",))


def run_searches(bank: MemoryBank, retriever: Any, searches: Sequence[Any], default_k: int) -> str:
    """Answer ``memory_search`` calls as text for the next prompt.

    At most :data:`MAX_SEARCHES_PER_ACTION` calls run, each returning at most :data:`MAX_SEARCH_RESULTS`
    memories, and the text is cut at :data:`MAX_SEARCH_CHARS`: however many searches a policy writes,
    the next prompt stays bounded. Memories are rendered by :meth:`MemoryBank.render` (one escaped line
    each) and queries by their short ``repr``, so nothing found can forge the prompt's structure.
    """
    from memgym.envs.action_parser.result import safe_repr
    from memgym.envs.memory_bank import prompt_text
    from memgym.envs.operations import clean_text

    lines = []
    for s in searches[:MAX_SEARCHES_PER_ACTION]:
        query = prompt_text(safe_repr(clean_text(s.query), 120))
        if s.tier is not None and s.tier not in bank.tiers:
            lines.append(f"search {query}: unknown tier {safe_repr(s.tier, 40)}; tiers are {list(bank.tiers)}")
            continue
        k = min(s.top_k or default_k, MAX_SEARCH_RESULTS)
        found = retriever.retrieve(clean_text(s.query), k, [s.tier] if s.tier else None)
        lines.append(f"search {query}:\n" + bank.render(entries=found, by_tier=False))
    if len(searches) > MAX_SEARCHES_PER_ACTION:
        lines.append(f"({len(searches) - MAX_SEARCHES_PER_ACTION} more searches were not run: at most "
                     f"{MAX_SEARCHES_PER_ACTION} per action)")
    text = "\n".join(lines)
    if len(text) > MAX_SEARCH_CHARS:
        text = text[:MAX_SEARCH_CHARS] + f"\n(the search results were cut at {MAX_SEARCH_CHARS:,} characters)"
    return text
