"""What :func:`~memgym.envs.action_parser.parse_action` returns, its error codes, and how results are built.

:class:`ParsedAction` holds the valid operations and searches; :class:`ParseError` says what was wrong
(``code`` is one of :data:`ParseErrorCode`). :func:`_collect` converts items one by one with partial
validity: the valid ones are kept and every invalid one is described in the error.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from memgym.envs.operations import Operation

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


# ------------------------------------------------------------------------------------------ helpers


def _fail(code: ParseErrorCode, message: str, fmt: ActionFormat = "none") -> ParsedAction:
    return ParsedAction(error=ParseError(code, message), format=fmt)


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _short(value: object, limit: int = 40) -> str:
    return safe_repr(value, limit)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxtuple, _REPR.maxset = 3, 6, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 80, 80, 80


def safe_repr(value: object, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters, for any value a policy may send: deeply nested or
    huge containers and integers of any size are described without recursing or converting them whole."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        text = f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    else:
        try:
            text = _REPR.repr(value) if isinstance(value, (dict, list, tuple, set, frozenset)) else repr(value)
        except Exception:  # RecursionError, ValueError (huge ints), a broken __repr__
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
