"""Prompt templates of the environments' text observations, and renderers of actions in each format.

Every text observation is a fresh ``[system, user]`` chat built here from the memory and the step's input
(no growing history, as in Mem-α). What a policy wrote (memories, search queries) and what a file holds
(turns, dates) is data: it is rendered through :func:`~memgym.envs.memory_bank.prompt_text`, so it can
never be read as the prompt's structure (a forged ``[m9]`` memory line, a closed ``</semantic>`` tag). The ``format_*`` functions do the inverse of
:func:`memgym.envs.action_parser.parse_action`: they write operations as the text a policy is asked to
produce, which is what an oracle policy, a supervised warm start or a benchmark feeds the environment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from memgym.envs.memory_bank import MemoryBank, MemoryEntry, prompt_text
from memgym.envs.operations import Operation

# ----------------------------------------------------------------------------- MemoryManager (Memory-R1)
MANAGER_SYSTEM = """\
You manage the long-term memory of a conversation. Each time, you see one new message and the stored \
memories most related to it, each with its id in brackets. Decide how the memory must change:
- ADD a new memory when the message states something not stored yet;
- UPDATE a memory (same id, full new text) when the message changes or refines what it says;
- DELETE a memory that the message shows is no longer true;
- NONE when nothing changes (small talk, a fact restated, a question).
Write each memory as one short, self-contained fact that names the person it is about.
Reply with JSON only, in this form:
{"memory": [{"id": "<id, or new>", "text": "<memory text>", "event": "ADD|UPDATE|DELETE|NONE", \
"old_memory": "<previous text, for UPDATE>"}]}
An empty list, {"memory": []}, changes nothing."""

MANAGER_USER = """\
Related memories:
{memories}

New message ({when}), {speaker}:
{text}"""


def manager_messages(
    text: str,
    speaker: str,
    when: str | None,
    related: Sequence[MemoryEntry],
    bank: MemoryBank,
    options: Sequence[str] = (),
    words: int | None = None,
) -> list[dict[str, str]]:
    """The Memory-R1 manager prompt: one new message (or extracted fact) and its related memories;
    ``options``, when given, are listed numbered (``#1 ...``) for actions that name them; ``words``, when
    given, is said last (the message's length); under a capacity limit the prompt says how full the bank
    is (a full bank refuses an ADD)."""
    user = MANAGER_USER.format(
        memories=bank.render(entries=related, by_tier=False),
        when=prompt_text(when or "time unknown"),
        speaker=prompt_text(speaker),
        text=prompt_text(text, one_line=False),
    )
    if bank.max_entries is not None:
        full = " (full: DELETE one to ADD)" if len(bank) >= bank.max_entries else ""
        user += f"\n\nMemory: {len(bank)} of {bank.max_entries} entries{full}."
    if options:
        listed = "\n".join(f"#{k} {prompt_text(o)}" for k, o in enumerate(options, 1))
        user += f"\n\nOptions (an ADD or UPDATE text may be just #k):\n{listed}"
    if words is not None:  # last, next to the decision
        user += f"\n\nThe new message has {words} words."
    return [{"role": "system", "content": MANAGER_SYSTEM}, {"role": "user", "content": user}]


# ----------------------------------------------------------------------------- MemoryConstruct (Mem-α)
CONSTRUCT_SYSTEM = """\
You build the memory of a long conversation that arrives in chunks; later, questions about the \
conversation will be answered from this memory alone. The memory has three parts:
- core: one short block with the most important, lasting facts (rewrite it with memory_update, \
tier "core", no memory_id);
- semantic: general facts, preferences and relations, one per entry;
- episodic: events with their date, one per entry.
Each time you see the current memory and the next chunk. Keep the memory accurate and compact: insert \
new facts, update changed ones, delete ones that are no longer true. Write each call as
<tool_call>{{"name": "<tool>", "arguments": {{...}}}}</tool_call>
using these tools:
{tools}
When nothing needs to change, reply with an empty list: []"""

CONSTRUCT_USER = """\
<memory>
{memory}
</memory>

<chunk when="{when}">
{chunk}
</chunk>{searches}"""


def construct_messages(
    chunk: str, when: str | None, bank: MemoryBank, tools: Sequence[dict], search_results: str = ""
) -> list[dict[str, str]]:
    """The Mem-α prompt, rendered fresh from the whole memory and the chunk."""
    tools_text = "\n".join(json.dumps(t["function"], ensure_ascii=False) for t in tools)
    searches = f"\n\nResults of your searches:\n{search_results}" if search_results else ""
    user = CONSTRUCT_USER.format(
        memory=bank.render(by_tier=True),
        when=prompt_text(when or "time unknown").replace('"', "'"),
        chunk=prompt_text(chunk, one_line=False),
        searches=searches,
    )
    return [
        {"role": "system", "content": CONSTRUCT_SYSTEM.format(tools=tools_text)},
        {"role": "user", "content": user},
    ]


# ----------------------------------------------------------------------------- MemoryOverwrite (MemAgent)
OVERWRITE_SYSTEM = """\
You read a long conversation one chunk at a time and keep a memory of at most {budget} words; later, \
questions about the conversation will be answered from this memory alone. After each chunk, rewrite the \
memory so it keeps what may be asked later (people, facts with their latest values, dates) and drops \
what is outdated. Reply with the whole new memory between <memory> and </memory>."""

OVERWRITE_USER = """\
Current memory:
<memory>
{memory}
</memory>

New chunk ({when}):
{chunk}"""


def overwrite_messages(chunk: str, when: str | None, memory: str, budget: int) -> list[dict[str, str]]:
    """The MemAgent prompt: the previous memory text (its lines kept, inside ``<memory>`` tags it cannot
    close) and the new chunk."""
    user = OVERWRITE_USER.format(
        memory=prompt_text(memory, one_line=False) or "(empty)",
        when=prompt_text(when or "time unknown"),
        chunk=prompt_text(chunk, one_line=False),
    )
    return [
        {"role": "system", "content": OVERWRITE_SYSTEM.format(budget=budget)},
        {"role": "user", "content": user},
    ]


FINAL_USER = "The conversation has ended; the memory is final.\n\n{memory}"


def final_messages(system: str, bank: MemoryBank) -> list[dict[str, str]]:
    """The observation after the last step (nothing left to decide; shows the final memory)."""
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": FINAL_USER.format(memory=bank.render())},
    ]


# ----------------------------------------------------------------------------- actions as text
def format_mem0_action(ops: Sequence[Operation], bank: MemoryBank | None = None) -> str:
    """Operations as Mem0 / Memory-R1 JSON (``{"memory": [...]}``); NOOPs are left out.

    With ``bank``, UPDATE and DELETE items carry the current text (``old_memory`` / ``text``) the way
    Mem0's update prompt writes them.
    """
    items = []
    for op in ops:
        old = bank.get(op.id).text if bank is not None and op.id and bank.get(op.id) else None
        if op.kind == "ADD":
            items.append({"id": "new", "text": op.text, "event": "ADD"})
        elif op.kind == "UPDATE":
            item = {"id": op.id, "text": op.text, "event": "UPDATE"}
            if old is not None:
                item["old_memory"] = old
            items.append(item)
        elif op.kind == "DELETE":
            items.append({"id": op.id, "text": old or "", "event": "DELETE"})
    return json.dumps({"memory": items}, ensure_ascii=False)


def format_tool_calls(ops: Sequence[Operation]) -> str:
    """Operations as Hermes-style ``<tool_call>`` blocks (Mem-α's tools); ``[]`` when nothing changes."""
    calls = []
    for op in ops:
        if op.kind == "ADD":
            args: dict = {"content": op.text}
        elif op.kind == "UPDATE":
            args = {"new_content": op.text} if op.id is None else {"memory_id": op.id, "new_content": op.text}
        elif op.kind == "DELETE":
            args = {} if op.id is None else {"memory_id": op.id}
        else:
            continue
        if op.tier is not None:
            args["tier"] = op.tier
        name = {"ADD": "memory_insert", "UPDATE": "memory_update", "DELETE": "memory_delete"}[op.kind]
        calls.append(
            f"<tool_call>{json.dumps({'name': name, 'arguments': args}, ensure_ascii=False)}</tool_call>"
        )
    return "\n".join(calls) if calls else "[]"


def format_memory(text: str) -> str:
    """A MemAgent action: the whole new memory between ``<memory>`` tags."""
    return f"<memory>\n{text}\n</memory>"
