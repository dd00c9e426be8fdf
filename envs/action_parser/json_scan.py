"""Finding JSON values in free text: the JSON may sit in prose or in ``` fences.

JSON is parsed strictly (no trailing commas, no single quotes); a malformed value is reported with the
line, column and text where parsing stopped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from memgym.envs.action_parser.result import ParseError

_JSON_START = re.compile(r"[\[{]")
# A bracket followed by something a JSON value could start with (every JSON array or object matches):
# prose such as "[see above]" is not an attempt at JSON.
_JSONISH = re.compile(r"[\[{]\s*(?:[\"'\[{\]}\-\d]|true|false|null)")
_BRACKET_OR_STRING = re.compile(r'"(?:\\.|[^"\\])*"|[\[\]{}]')


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
        except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
            yield start, None, ParseError("invalid_json", f"JSON at char {start} cannot be read: {exc}")
            pos = _end_of_broken_value(text, start)
            continue
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


def _json_error_message(text: str, exc: json.JSONDecodeError) -> str:
    near = text[max(exc.pos - 15, 0) : exc.pos + 15]
    return f"invalid JSON at line {exc.lineno}, column {exc.colno} (char {exc.pos}): {exc.msg}, near {near!r}"
