"""Memory-R1's answer format ("memory distillation"), in one place: the prompt, its parser, its grammar.

Memory-R1's Answer Agent (arXiv 2508.19828, §3.2) gets a question and the memories retrieved for it,
first selects the ones that matter, then answers. The prompt here asks for exactly that: a line listing
the relevant memory ids, optionally a line of reasoning, then the answer after a fixed marker::

    Relevant: [m2, m5]
    Mei moved to Oslo in June, after Lyon.
    **Answer:** Oslo

Two readers share it, so a trained answerer is evaluated on the prompt it was trained on:
:class:`memgym.policies.answer_agents.llm.LLMAnswerAgent` (the frozen answer agent of every environment,
lenient: :func:`parse_answer`) and ``memgym/AnswerAgent-v0``
(:class:`memgym.envs.answer_agent_env.AnswerAgentEnv`, the environment that trains one; strict:
:func:`parse_distillation` refuses an action without the selection line or the marker).

Example:
    >>> parse_answer("Relevant: [m2]\\nMei moved in June.\\n**Answer:** \\"Oslo\\"")
    'Oslo'
    >>> parse_distillation("Relevant: [m2, m5]\\n**Answer:** Oslo", shown=["m2", "m5", "m7"])
    Distillation(selected=('m2', 'm5'), answer='Oslo', error=None)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memgym.envs.action_parser import ParseError
from memgym.envs.episode import ABSTAIN_ANSWER, Question
from memgym.envs.memory_bank import MemoryEntry
from memgym.envs.units import action_error

#: The marker the answer follows.
ANSWER_MARKER = "**Answer:**"
#: The label of the selection line.
SELECTION_LABEL = "Relevant:"

ANSWER_SYSTEM = f"""\
You answer a question about a long conversation using only the memories retrieved for it. Each memory \
shows its id, when it was written, and its text.
1. Select the memories relevant to the question and list their ids.
2. Think briefly: when memories disagree, the most recent one holds; turn relative dates ("last week") \
into dates using the time the memory was written.
3. Give a short answer (a name, a value, a date or a number; no full sentence).
If the memories do not contain the answer, the answer is "{ABSTAIN_ANSWER}".
Reply in this form:
Relevant: [ids]
<one or two sentences of reasoning>
{ANSWER_MARKER} <answer>"""

ANSWER_USER = """\
Memories:
{memories}

Question: {question}"""

# The marker as models actually write it: any case, with or without bold, "Final answer", a colon.
_MARKER = re.compile(r"\**\s*(?:final\s+)?answer\s*\**\s*:\s*\**", re.IGNORECASE)
_SELECTION = re.compile(r"^\W*relevant(?:\s+memories)?\s*\**\s*:\s*\**\s*\[([^\]\n]*)\]", re.IGNORECASE | re.MULTILINE)
_QUOTES = "\"'`“”‘’*_ "
_HOW_MANY = re.compile(r"^\s*how many\b", re.IGNORECASE)
#: Error codes of :func:`parse_distillation` (``info["error"].code``).
DISTILL_ERRORS: tuple[str, ...] = ("invalid_input", "no_answer", "no_selection", "unknown_memory")


def render_memories(memories: Sequence[MemoryEntry]) -> str:
    """``[id] (time) text`` lines, best first; the time is left out when unknown."""
    from memgym.envs.memory_bank import prompt_text

    if not memories:
        return "(no memories)"
    return "\n".join(  # texts escaped: a memory can never forge another line of the prompt
        f"[{m.id}] ({m.timestamp}) {prompt_text(m.text)}" if m.timestamp else f"[{m.id}] {prompt_text(m.text)}"
        for m in memories
    )


def distill_messages(
    question: Question, memories: Sequence[MemoryEntry], asked_at: str | None = None
) -> list[dict[str, str]]:
    """The distillation prompt for one question (``asked_at``: when it is asked, shown when given)."""
    text = question.question if asked_at is None else f"{question.question} (asked {asked_at})"
    user = ANSWER_USER.format(memories=render_memories(list(memories)), question=text)
    return [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}]


def parse_answer(text: str, marker: re.Pattern[str] = _MARKER) -> str:
    """The answer in a completion: the text after the LAST marker, else the last non-empty line.

    Only the first non-empty line after the marker counts (models often add an explanation below);
    surrounding quotes, bold markers and whitespace are stripped. Returns ``""`` for an empty completion.
    """
    text = text or ""
    found = list(marker.finditer(text))
    if found:
        tail = text[found[-1].end() :]
        lines = [ln.strip() for ln in tail.splitlines() if ln.strip().strip(_QUOTES)]
        answer = lines[0] if lines else ""
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip().strip(_QUOTES)]
        answer = lines[-1] if lines else ""
    return answer.strip().strip(_QUOTES).strip()


@dataclass(frozen=True)
class Distillation:
    """A parsed answer-agent action: the memory ids it selected, its answer, and what was wrong."""

    selected: tuple[str, ...]
    answer: str
    error: ParseError | None


def parse_distillation(text: Any, shown: Sequence[str]) -> Distillation:
    """Read an action in the distillation format strictly; ``shown``: the ids the prompt showed.

    Valid: a ``Relevant: [ids]`` line whose ids were all shown (``[]`` selects none), and an answer after
    the LAST ``**Answer:**`` marker (case and bold are lenient, as in :func:`parse_answer`). Anything
    else gives an error with one of :data:`DISTILL_ERRORS` and an empty answer.
    """
    if not isinstance(text, str):
        return Distillation((), "", action_error("invalid_input", f"an answer must be text, got {type(text).__name__}"))
    if not list(_MARKER.finditer(text)) or not parse_answer(text):
        return Distillation((), "", action_error("no_answer", f"no answer after a {ANSWER_MARKER} marker"))
    found = _SELECTION.search(text)
    if found is None:
        return Distillation((), "", action_error("no_selection", f"no '{SELECTION_LABEL} [ids]' line"))
    ids = tuple(dict.fromkeys(i.strip(_QUOTES + "[]") for i in re.split(r"[,\s]+", found.group(1)) if i.strip(_QUOTES)))
    unknown = [i for i in ids if i not in set(shown)]
    if unknown:
        return Distillation((), "", action_error("unknown_memory", f"selected memories not shown: {unknown[:5]}"))
    return Distillation(ids, parse_answer(text), None)


def format_distillation(selected: Sequence[str], answer: str, reasoning: str = "") -> str:
    """The action text for a selection and an answer (what the oracle and the warm start write)."""
    reason = f"{reasoning.strip()}\n" if reasoning.strip() else ""
    return f"{SELECTION_LABEL} [{', '.join(selected)}]\n{reason}{ANSWER_MARKER} {answer}"


def answer_options(question: Question) -> tuple[str, ...]:
    """The answers a ``choices`` grammar offers: the question's candidate values (synthetic data; for
    "How many" questions the counts 1..n of them), then the abstention answer."""
    values = list(question.candidates)
    if values and _HOW_MANY.search(question.question):
        values = [str(n) for n in range(1, len(values) + 1)]
    return tuple(dict.fromkeys([*values, ABSTAIN_ANSWER]))


def distill_grammar(
    shown_ids: Sequence[str], *, choices: Sequence[str] = (), max_selected: int = 4, max_tokens: int = 64
) -> str:
    """The grammar of :func:`format_distillation` (Lark, for constrained decoding; see
    :mod:`memgym.envs.grammars`): up to ``max_selected`` distinct-or-not ids of ``shown_ids``, then with
    ``choices`` the answer is one of them (no reasoning line), else a line of reasoning and a free answer,
    both capped so the action fits ``max_tokens``."""
    from memgym.envs.grammars import lit

    ids = list(dict.fromkeys(shown_ids))
    k = max(0, min(max_selected, len(ids)))
    more = f' (", " id){{0,{k - 1}}}' if k > 1 else ""
    lines = [f'start: {lit(SELECTION_LABEL + " [")} ({"id" + more})? "]\\n" body'] if k else [
        f'start: {lit(SELECTION_LABEL + " []")} "\\n" body'
    ]
    if k:
        lines.append("id: " + " | ".join(lit(i) for i in ids))
    if choices:
        lines.append(f"body: {lit(ANSWER_MARKER + ' ')} answer")
        lines.append("answer: " + " | ".join(lit(c) for c in dict.fromkeys(choices)))
    else:
        left = max(8, max_tokens - 6 - 3 * k)
        reason, answer = max(3, left // 2), max(3, left - left // 2)
        lines.append(f'body: (reason "\\n")? {lit(ANSWER_MARKER + " ")} answer')
        lines.append(f"reason[max_tokens={reason}]: /[^\\n*]+/")
        lines.append(f"answer[max_tokens={answer}]: /[^\\n*]+/")
    return "\n".join(lines) + "\n"


__all__ = [
    "ANSWER_MARKER",
    "ANSWER_SYSTEM",
    "ANSWER_USER",
    "DISTILL_ERRORS",
    "SELECTION_LABEL",
    "Distillation",
    "answer_options",
    "distill_grammar",
    "distill_messages",
    "format_distillation",
    "parse_answer",
    "parse_distillation",
    "render_memories",
]
