"""Tool calls to the memory tools: ``<tool_call>`` blocks, bare calls and OpenAI ``tool_calls``."""

from __future__ import annotations

import difflib
import json
import re

from memgym.envs.action_parser.fields import _ARGUMENT_ALIASES, _argument, _entry_id, _tier, _top_k
from memgym.envs.action_parser.json_scan import _JSON_START, _json_error_message
from memgym.envs.action_parser.result import (
    ParsedAction,
    SearchRequest,
    _collect,
    _short,
    _type_name,
    _with_problems,
)
from memgym.envs.memory_tools import DELETE, INSERT, SEARCH, TOOL_NAMES, canonical_tool_name
from memgym.envs.operations import Operation

_TOOL_CALL_TAG = re.compile(r"<tool_call>")
_TOOL_CALL_END = re.compile(r"</tool_call>|<tool_call>")


def _parse_tool_call_tags(text: str, default_tier: str | None) -> ParsedAction:
    """Hermes/Qwen ``<tool_call>`` blocks: every block is one call (or a list of calls)."""
    decoder = json.JSONDecoder()
    calls: list[object] = []
    problems: list[tuple[str, str]] = []
    number, resume = 0, 0
    for tag in _TOOL_CALL_TAG.finditer(text):
        if tag.start() < resume:  # the tag is text inside the previous call's JSON
            continue
        number += 1
        body_end = _TOOL_CALL_END.search(text, tag.end())
        stop = body_end.start() if body_end else len(text)
        start_match = _JSON_START.search(text, tag.end(), stop)
        if start_match is None:
            problems.append(("invalid_json", f"<tool_call> block {number}: no JSON object inside"))
            continue
        try:
            value, resume = decoder.raw_decode(text, start_match.start())
        except json.JSONDecodeError as exc:
            problems.append(("invalid_json", f"<tool_call> block {number}: {_json_error_message(text, exc)}"))
            continue
        except RecursionError:
            problems.append(("invalid_json", f"<tool_call> block {number}: JSON nested too deeply"))
            continue
        except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
            problems.append(("invalid_json", f"<tool_call> block {number}: cannot be read ({exc})"))
            continue
        calls.extend(value if isinstance(value, list) else [value])
    result = _tool_calls(calls, default_tier)
    return _with_problems(result, problems) if problems else result


def _is_tool_call(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("function"), dict):
        return True
    name = value.get("name")
    return isinstance(name, str) and (
        "arguments" in value or "parameters" in value or canonical_tool_name(name) is not None
    )


def _tool_calls(calls: list[object], default_tier: str | None) -> ParsedAction:
    return _collect(
        "tool_calls",
        calls,
        lambda n, item: f"tool call {n}{_call_label(item)}",
        lambda call: _tool_call(call, default_tier),
    )


def _call_label(call: object) -> str:
    if isinstance(call, dict):
        fn = call["function"] if isinstance(call.get("function"), dict) else call
        name = fn.get("name")
        if isinstance(name, str):
            return f" ({name.strip()})" if canonical_tool_name(name) else f" ({_short(name)})"
    return ""


def _tool_call(call: object, default_tier: str | None) -> Operation | SearchRequest | tuple[str, str]:
    if not isinstance(call, dict):
        return "invalid_item", f"expected an object, got {_type_name(call)}"
    fn = call["function"] if isinstance(call.get("function"), dict) else call
    name = fn.get("name")
    if not isinstance(name, str):
        return "invalid_item", "needs the tool's 'name'"
    tool = canonical_tool_name(name)
    if tool is None:
        close = difflib.get_close_matches(name, TOOL_NAMES, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        return "unknown_tool", f"unknown tool {_short(name)}.{hint} Tools: {', '.join(TOOL_NAMES)}"
    args = fn.get("arguments", fn.get("parameters"))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return "invalid_json", f"its arguments are not valid JSON: {exc.msg} at char {exc.pos}"
        except RecursionError:
            return "invalid_json", "its arguments are nested too deeply"
        except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
            return "invalid_json", f"its arguments cannot be read ({exc})"
    args = {} if args is None else args
    if not isinstance(args, dict):
        return "invalid_item", f"'arguments' must be an object, got {_type_name(args)}"
    return _tool_operation(tool, args, default_tier)


def _tool_operation(tool: str, args: dict, default_tier: str | None) -> Operation | SearchRequest | tuple:
    tier = _tier(args)
    if isinstance(tier, tuple):
        return tier
    if tool == SEARCH:
        query = _argument(args, ("query",))
        if not isinstance(query, str):
            return "invalid_item", "needs 'query' (a string)"
        top_k = _top_k(args.get("top_k"))
        return top_k if isinstance(top_k, tuple) else SearchRequest(query, tier, top_k)
    if tool == INSERT:
        content = _argument(args, _ARGUMENT_ALIASES["content"])
        if not isinstance(content, str):
            return "invalid_item", "needs 'content' (a string)"
        return Operation.add(content, tier=tier or default_tier)
    entry_id = _entry_id(args, *_ARGUMENT_ALIASES["memory_id"])
    if isinstance(entry_id, tuple):
        return entry_id
    if entry_id is None and tier is None:
        return "invalid_item", "needs 'memory_id'"
    if tool == DELETE:
        return Operation("DELETE", id=entry_id, tier=tier)
    content = _argument(args, _ARGUMENT_ALIASES["new_content"])
    if not isinstance(content, str):
        return "invalid_item", "needs 'new_content' (a string)"
    return Operation.update(entry_id, content, tier=tier)
