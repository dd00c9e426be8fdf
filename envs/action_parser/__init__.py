"""Turn what a memory-manager policy wrote into typed operations, never raising into the environment.

Two action formats are understood:

- **Mem0 / Memory-R1 JSON**: ``{"memory": [{"id", "text", "event", "old_memory"}, ...]}`` or a bare
  list of such items (or one item alone). ``event`` is ADD, UPDATE, DELETE, NONE or NOOP, in any case;
  NONE and NOOP mean the same. An ADD item's ``id`` is ignored: the bank assigns ids. An item may name
  a ``tier``. An empty ``memory`` list means "change nothing" and parses to one NOOP, without error.
- **Tool calls** to the tools of :mod:`memgym.envs.memory_tools`: Hermes/Qwen
  ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (one or many; an unclosed last
  block is read too), a bare ``{"name": ..., "arguments": ...}`` object (or a list of them, or several in
  a row), or OpenAI's ``{"tool_calls": [{"function": {"name": ..., "arguments": "<json>"}}]}``.
  ``arguments`` may be an object or a JSON string; Llama's ``parameters`` key is read as ``arguments``.
  The aliases in :data:`~memgym.envs.memory_tools.TOOL_ALIASES` name the same tools, Mem-α's
  ``memory_type: "semantic_memory"`` names the tier ``semantic``, and ``id``/``text``/``data`` stand
  for ``memory_id``/``content``.

The JSON may sit in prose or in ``` fences: the first well-formed JSON value that matches a format is
used. JSON is parsed strictly (no trailing commas, no single quotes): a malformed action is reported
with the line, column and text where parsing stopped, which is the signal a policy learns from.

**Partial validity.** When some items are valid and others are not, the valid ones become ``ops`` and
``error`` describes every invalid one (code of the first). The environment decides the penalty;
``n_items`` and ``n_invalid`` give it the tool-call success rate Mem-α rewards.

The parser checks structure only (is there an id, is the text a string). What depends on the bank
(does the id exist, is the tier known, is the text empty) is checked by
:meth:`memgym.envs.memory_bank.MemoryBank.apply`, which reports it in its results.

Hand-written rather than built on TRL's ``parse_response``: that works on token ids of one known chat
template and falls back to plain text on malformed calls, whereas the environment needs typed errors
with positions, for several formats, from text.

Modules: :mod:`~memgym.envs.action_parser.result` (the result types and error codes),
:mod:`~memgym.envs.action_parser.json_scan` (finding JSON in text), :mod:`~memgym.envs.action_parser.mem0`
(Mem0 items), :mod:`~memgym.envs.action_parser.tool_calls` (tool calls and ``<tool_call>`` tags) and
:mod:`~memgym.envs.action_parser.fields` (ids, tiers and argument aliases).

Example:
    >>> action = parse_action('{"memory": [{"id": "0", "text": "Likes tea", "event": "ADD"}]}')
    >>> action.format, action.ops[0].kind, action.ops[0].text, action.error
    ('mem0_json', 'ADD', 'Likes tea', None)
    >>> parse_action('{"memory": [{"event": "UPDATE", "text": "x"}]}').error.message
    "item 1 of 'memory': UPDATE needs 'id'"
"""

from __future__ import annotations

from memgym.envs.action_parser.json_scan import _JSONISH, _json_candidates
from memgym.envs.action_parser.mem0 import _mem0
from memgym.envs.action_parser.result import (
    ActionFormat,
    ParsedAction,
    ParseError,
    ParseErrorCode,
    SearchRequest,
    _fail,
    _short,
    _type_name,
    _with_problems,
)
from memgym.envs.action_parser.tool_calls import (
    _TOOL_CALL_TAG,
    _is_tool_call,
    _parse_tool_call_tags,
    _tool_calls,
)
from memgym.envs.operations import clean_text

__all__ = ["ActionFormat", "ParseError", "ParseErrorCode", "ParsedAction", "SearchRequest", "parse_action"]


def parse_action(text: object, *, default_tier: str | None = None) -> ParsedAction:
    """Parse a policy's action; any input gives a :class:`ParsedAction`, never an exception.

    Args:
        text: what the policy wrote. An already decoded JSON object or list (for example the message
            TRL's ``parse_response`` returns) is accepted too; bytes are decoded as UTF-8.
        default_tier: the tier of inserts that name none (``None``: the bank's default tier).

    Returns:
        The operations and searches found, with an error describing anything unusable.
    """
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        if isinstance(text, str):
            return _parse_text(clean_text(text), default_tier)  # lone surrogates become U+FFFD
        if isinstance(text, (dict, list)):
            fmt = _classify(text)
            if fmt is None:
                return _fail("unknown_format", _unknown_format_message(text, None))
            return _interpret(fmt, [text], default_tier)
        return _fail("invalid_input", f"expected the policy's text (str), got {type(text).__name__}")
    except Exception as exc:  # the environment must survive any policy output; tests assert none reach here
        return _fail("internal_error", f"the parser failed on this input ({type(exc).__name__}: {exc})")


# ---------------------------------------------------------------------------------------------- text


def _parse_text(text: str, default_tier: str | None) -> ParsedAction:
    tag, first_json = _TOOL_CALL_TAG.search(text), _JSONISH.search(text)
    if tag is not None and (first_json is None or tag.start() < first_json.start()):
        return _parse_tool_call_tags(text, default_tier)  # (a tag inside a JSON string does not count)
    first_error: ParseError | None = None
    first_unknown: tuple[int, object] | None = None
    matched: list[object] = []
    fmt: str | None = None
    later_errors: list[tuple[str, str]] = []
    for pos, value, error in _json_candidates(text):
        if error is not None:
            if fmt == "tool_calls":  # a broken call among bare ones counts as an invalid call
                later_errors.append(("invalid_json", error.message))
            elif fmt is None and first_error is None:
                first_error = error
            continue
        kind = _classify(value)
        if fmt is None and kind is not None:
            fmt, matched = kind, [value]
            if kind != "tool_calls":
                break
        elif fmt == "tool_calls" and kind == "tool_calls":
            matched.append(value)
        elif fmt is None and first_unknown is None:
            first_unknown = (pos, value)
    if fmt is not None:
        result = _interpret(fmt, matched, default_tier)
        return _with_problems(result, later_errors) if later_errors else result
    if first_error is not None:
        return ParsedAction(error=first_error)
    if first_unknown is not None:
        return _fail("unknown_format", _unknown_format_message(first_unknown[1], first_unknown[0]))
    return _fail("no_json", 'no JSON found: write a Mem0 {"memory": [...]} object or tool calls')


def _classify(value: object) -> str | None:
    """Which format a decoded JSON value is in, or ``None`` for neither."""
    if isinstance(value, dict):
        if "memory" in value:
            return "mem0_json"
        if "tool_calls" in value or _is_tool_call(value):
            return "tool_calls"
        return "mem0_json" if "event" in value else None
    if isinstance(value, list):
        if not value:
            return "mem0_json"
        for item in value:
            if isinstance(item, dict) and "event" in item:
                return "mem0_json"
            if _is_tool_call(item):
                return "tool_calls"
    return None


def _interpret(fmt: str, values: list[object], default_tier: str | None) -> ParsedAction:
    if fmt == "mem0_json":
        return _mem0(values[0], default_tier)
    calls: list[object] = []
    for value in values:
        if isinstance(value, dict) and "tool_calls" in value:
            inner = value["tool_calls"]
            if inner is None:
                continue
            if not isinstance(inner, list):
                return _fail(
                    "invalid_item", f"'tool_calls' must be a list, got {_type_name(inner)}", fmt="tool_calls"
                )
            calls.extend(inner)
        elif isinstance(value, list):
            calls.extend(value)
        else:
            calls.append(value)
    return _tool_calls(calls, default_tier)


def _unknown_format_message(value: object, pos: int | None) -> str:
    if isinstance(value, dict):
        keys = ", ".join(_short(k, 20) for k in list(value)[:6]) or "none"
        what = f"an object with keys {keys}"
    else:
        what = _type_name(value) if not isinstance(value, list) else f"a list of {len(value)} item(s)"
    at = f" at char {pos}" if pos is not None else ""
    return (
        f'found JSON{at} ({what}), but it is neither Mem0\'s {{"memory": [...]}} nor a tool call '
        f'{{"name": ..., "arguments": {{...}}}}'
    )
