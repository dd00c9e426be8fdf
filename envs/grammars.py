"""The grammars of valid actions, as Lark text (llguidance's dialect) for constrained decoding.

An environment says what a valid action looks like at the current step
(:meth:`memgym.envs.base.MemoryEnv.action_grammar`); a generation backend that supports grammars
(:mod:`memgym.policies.backends.grammar`) then samples only actions that parse. Two styles:

- ``"format"``: the action's syntax, with its free texts capped in tokens so the whole action fits the
  completion budget; ids are ones the bank holds (or ``new``), so the bank cannot refuse them either. The policy still writes its own memory texts.
- ``"choices"``: the texts are the step's candidate texts (the turn and its sentences), so an action is a
  choice of operation, target and candidate: the text analogue of the structured mode, what a model that
  cannot yet write good memories can learn to choose among from the reward alone.

Every grammar spells actions exactly as the environment's own renderer writes them (``json.dumps``
separators, the field order of :func:`memgym.envs.prompts.format_mem0_action` without the fields the
parser ignores), so the warm start's targets and constrained samples agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

#: Styles an environment's :meth:`~memgym.envs.base.MemoryEnv.action_grammar` accepts.
GRAMMAR_STYLES: tuple[str, ...] = ("format", "choices")
#: Token cost of one Mem0 item's fixed parts (braces, keys, event, the separator) under canonical
#: tokenization, with a margin: SmolLM2's tokenizer spends 16 to 18.
_MEM0_ITEM_OVERHEAD = 20


def lit(text: str) -> str:
    """A Lark string literal that matches ``text`` exactly."""
    return json.dumps(text, ensure_ascii=False)


def _alternatives(texts: Sequence[str]) -> str:
    return " | ".join(lit(t) for t in dict.fromkeys(texts))


def _text_budget(max_tokens: int, max_items: int, overhead: int) -> int:
    return max(3, (max_tokens - 6 - max_items * overhead) // max(max_items, 1))


def mem0_grammar(
    shown_ids: Sequence[str],
    *,
    candidates: Sequence[str] = (),
    max_items: int = 1,
    max_tokens: int = 72,
) -> str:
    """Mem0 / Memory-R1 JSON: ``{"memory": [item, ...]}`` with at most ``max_items`` items, each
    ``{"id": "new", "text": T, "event": "ADD"}``, ``{"id": I, "text": T, "event": "UPDATE"}`` or
    ``{"id": I, "event": "DELETE"}``, ``I`` one of ``shown_ids`` (ids the bank holds). With ``candidates``, ``T`` is one of
    them (the ``choices`` style); otherwise free text of at most the tokens that fit ``max_tokens``.
    """
    if candidates:
        text_rule = "text: " + _alternatives([json.dumps(c, ensure_ascii=False) for c in candidates])
    else:
        budget = _text_budget(max_tokens, max_items, _MEM0_ITEM_OVERHEAD)
        text_rule = f'text: "\\"" body "\\""\nbody[max_tokens={budget}]: /([^"\\\\\\x00-\\x1f]|\\\\["\\\\nt])+/'
    # Lexemes that compete at one position must start there: every item opens with the same literal.
    add = '"\\"new\\", \\"text\\": " text ", \\"event\\": \\"ADD\\"}"'
    change = 'id (", \\"text\\": " text ", \\"event\\": \\"UPDATE\\"}" | ", \\"event\\": \\"DELETE\\"}")'
    more = f' (", " item){{0,{max_items - 1}}}' if max_items > 1 else ""
    lines = [
        f'start: "{{\\"memory\\": [" (item{more})? "]}}"',
        f'item: "{{\\"id\\": " ({add} | {change})' if shown_ids else f'item: "{{\\"id\\": " {add}',
        text_rule,
    ]
    if shown_ids:
        lines.append("id: " + _alternatives([json.dumps(i) for i in shown_ids]))
    return "\n".join(lines) + "\n"


def tool_call_grammar(
    tools: Sequence[dict], *, max_calls: int = 3, max_chars: int = 300, optional: Sequence[str] = ("tier",)
) -> str:
    """Hermes tool calls as :func:`memgym.envs.prompts.format_tool_calls` writes them
    (``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` lines), or ``[]`` for nothing.

    Each call's JSON follows its tool's schema (``tools``: OpenAI-style schemas), with the arguments in
    ``optional`` not required (the parser defaults them); strings are capped at ``max_chars`` characters.
    """
    variants = []
    for tool in tools:
        fn = tool["function"]
        props = {}
        for key, prop in fn["parameters"]["properties"].items():
            prop = {k: v for k, v in prop.items() if k != "description"}
            if prop.get("type") == "string" and "enum" not in prop:
                prop.update(minLength=1, maxLength=max_chars)
            props[key] = prop
        required = [r for r in fn["parameters"].get("required", []) if r not in optional]
        args = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
        variants.append({"type": "object", "properties": {"name": {"const": fn["name"]}, "arguments": args},
                         "required": ["name", "arguments"], "additionalProperties": False})
    schema = {"anyOf": variants,
              "x-guidance": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}}
    more = f' ("\\n" call){{0,{max_calls - 1}}}' if max_calls > 1 else ""
    return (f'start: calls | "[]"\ncalls: call{more}\ncall: "<tool_call>" body "</tool_call>"\n'
            f"body: %json {json.dumps(schema, ensure_ascii=False)}\n")


def memory_text_grammar(*, max_tokens: int = 256) -> str:
    """MemAgent's ``<memory>`` block as :func:`memgym.envs.prompts.format_memory` writes it: words
    separated by one space or newline, no ``<`` inside, the body capped at ``max_tokens - 8`` tokens."""
    body = max(4, max_tokens - 8)
    return (f'start: "<memory>\\n" body "</memory>"\nbody[max_tokens={body}]: BODY\n'
            "BODY: /\\n|([^\\s<]{1,40}[ \\n])*/\n")
