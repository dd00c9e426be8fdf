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

Example:
    >>> action = parse_action('{"memory": [{"id": "0", "text": "Likes tea", "event": "ADD"}]}')
    >>> action.format, action.ops[0].kind, action.ops[0].text, action.error
    ('mem0_json', 'ADD', 'Likes tea', None)
    >>> parse_action('{"memory": [{"event": "UPDATE", "text": "x"}]}').error.message
    "item 1 of 'memory': UPDATE needs 'id'"
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from memgym.envs.memory_tools import DELETE, INSERT, SEARCH, TOOL_NAMES, canonical_tool_name
from memgym.envs.operations import OP_KINDS, Operation

ActionFormat = Literal["mem0_json", "tool_calls", "none"]

#: Stable error codes: trainers count them and tests match them.
ParseErrorCode = Literal[
    "invalid_input",  # not text (nor an already decoded JSON object or list)
    "no_json",  # no JSON anywhere in the text
    "invalid_json",  # JSON was attempted but is malformed (with its position)
    "unknown_format",  # well-formed JSON that is neither format
    "invalid_item",  # an item or tool call lacks a field or has one of the wrong type
    "unknown_tool",  # a tool call names a tool that does not exist
    "internal_error",  # a parser bug; reported rather than raised (tests assert it never happens)
]

_MAX_LISTED_PROBLEMS = 5
_JSON_START = re.compile(r"[\[{]")
# A bracket followed by something a JSON value could start with (every JSON array or object matches):
# prose such as "[see above]" is not an attempt at JSON.
_JSONISH = re.compile(r"[\[{]\s*(?:[\"'\[{\]}\-\d]|true|false|null)")
_BRACKET_OR_STRING = re.compile(r'"(?:\\.|[^"\\])*"|[\[\]{}]')
_TOOL_CALL_TAG = re.compile(r"<tool_call>")
_TOOL_CALL_END = re.compile(r"</tool_call>|<tool_call>")
_ARGUMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "content": ("content", "text", "data"),
    "new_content": ("new_content", "content", "text", "data"),
    "memory_id": ("memory_id", "id"),
    "tier": ("tier", "memory_type"),
}


@dataclass(frozen=True)
class ParseError:
    """Why (part of) an action could not be used; ``message`` says what was wrong and where."""

    code: ParseErrorCode
    message: str


@dataclass(frozen=True)
class SearchRequest:
    """A ``memory_search`` call: the environment answers it with retrieved memories."""

    query: str
    tier: str | None = None
    top_k: int | None = None


@dataclass
class ParsedAction:
    """The result of :func:`parse_action`.

    Attributes:
        ops: the valid operations, in the order written.
        searches: the valid search requests, in the order written.
        error: what was wrong, or ``None`` when everything parsed.
        format: which format was recognised ("none" when none was).
        n_items: how many items or tool calls the action listed, valid or not.
        n_invalid: how many of them were invalid.
    """

    ops: list[Operation] = field(default_factory=list)
    searches: list[SearchRequest] = field(default_factory=list)
    error: ParseError | None = None
    format: ActionFormat = "none"
    n_items: int = 0
    n_invalid: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


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
            return _parse_text(text, default_tier)
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


def _json_candidates(text: str) -> Iterator[tuple[int, object, ParseError | None]]:
    """Yield each top-level JSON value in ``text`` (position, value, None), or a JSON-looking failure.

    After a value, scanning resumes behind it: values nested inside it are not candidates. After a
    JSON-looking failure, it resumes behind the brackets that close the broken value, so a fragment of
    a broken action (one of its items, its empty list) is never mistaken for the action.
    """
    decoder = json.JSONDecoder()
    pos = 0
    while (match := _JSON_START.search(text, pos)) is not None:
        start = match.start()
        if not _JSONISH.match(text, start):  # prose such as "[see above]"; every JSON value matches
            pos = start + 1
            continue
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            yield start, None, ParseError("invalid_json", _json_error_message(text, exc))
            pos = _end_of_broken_value(text, start)
            continue
        except RecursionError:
            yield start, None, ParseError("invalid_json", f"JSON at char {start} is nested too deeply")
            return
        yield start, value, None
        pos = end


def _end_of_broken_value(text: str, start: int) -> int:
    """Where the brackets opened at ``start`` close (skipping strings), or the end of an unbalanced text."""
    depth = 0
    for token in _BRACKET_OR_STRING.finditer(text, start):
        char = token.group()
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return token.end()
    return len(text)


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
        calls.extend(value if isinstance(value, list) else [value])
    result = _tool_calls(calls, default_tier)
    return _with_problems(result, problems) if problems else result


def _json_error_message(text: str, exc: json.JSONDecodeError) -> str:
    near = text[max(exc.pos - 15, 0) : exc.pos + 15]
    return f"invalid JSON at line {exc.lineno}, column {exc.colno} (char {exc.pos}): {exc.msg}, near {near!r}"


# ------------------------------------------------------------------------------------- interpretation


def _is_tool_call(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("function"), dict):
        return True
    name = value.get("name")
    return isinstance(name, str) and (
        "arguments" in value or "parameters" in value or canonical_tool_name(name) is not None
    )


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


def _with_problems(result: ParsedAction, problems: list[tuple[str, str]]) -> ParsedAction:
    """Add problems found outside the items (broken JSON blocks) to a result's error."""
    messages = [m for _, m in problems]
    if result.error is not None:
        messages.append(result.error.message)
    result.n_items += len(problems)
    result.n_invalid += len(problems)
    result.error = ParseError(problems[0][0], _join(messages))  # type: ignore[arg-type]
    return result


def _join(messages: list[str]) -> str:
    shown = messages[:_MAX_LISTED_PROBLEMS]
    more = len(messages) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


def _collect(
    fmt: ActionFormat,
    items: list[object],
    where: Callable[[int, object], str],
    convert: Callable[[object], Operation | SearchRequest | tuple[str, str]],
) -> ParsedAction:
    """Convert each item; keep the valid results and describe the invalid ones (partial validity)."""
    result = ParsedAction(format=fmt, n_items=len(items))
    problems: list[tuple[str, str]] = []
    for number, item in enumerate(items, start=1):
        out = convert(item)
        if isinstance(out, Operation):
            result.ops.append(out)
        elif isinstance(out, SearchRequest):
            result.searches.append(out)
        else:
            code, message = out
            problems.append((code, f"{where(number, item)}: {message}"))
    if problems:
        result.n_invalid = len(problems)
        result.error = ParseError(problems[0][0], _join([m for _, m in problems]))  # type: ignore[arg-type]
    return result


# ---------------------------------------------------------------------------------------------- Mem0


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


# ---------------------------------------------------------------------------------------- tool calls


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


# ------------------------------------------------------------------------------------------- fields


def _argument(args: dict, aliases: tuple[str, ...]) -> object:
    return next((args[key] for key in aliases if args.get(key) is not None), None)


def _entry_id(d: dict, *keys: str) -> str | None | tuple[str, str]:
    """A memory id: strings and integers are accepted (models often write ``"id": 3``)."""
    value = next((d[k] for k in keys if d.get(k) is not None), None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "invalid_item", f"'{keys[0]}' must be a string, got {_type_name(value)}"
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
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "invalid_item", f"'top_k' must be a positive integer, got {_short(value)}"
    return value


# ------------------------------------------------------------------------------------------ helpers


def _fail(code: ParseErrorCode, message: str, fmt: ActionFormat = "none") -> ParsedAction:
    return ParsedAction(error=ParseError(code, message), format=fmt)


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
