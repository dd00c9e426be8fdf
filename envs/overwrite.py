"""``memgym/MemoryOverwrite-v0``: MemAgent / MEM1 style, a fixed-budget memory text rewritten per chunk.

MemAgent reads a long document chunk by chunk and, after each, overwrites a memory of fixed length;
the final answer comes from that memory alone. GRPO's advantage is computed per trajectory and copied
to each of its steps (the trainers do this).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from memgym.envs.action_parser import ParsedAction, ParseError
from memgym.envs.base import MemoryEnv
from memgym.envs.episode import Episode, Question
from memgym.envs.memory_bank import MemoryEntry
from memgym.envs.operations import Operation
from memgym.envs.oracle import memory_lines
from memgym.envs.spaces import STRUCTURED_OPS
from memgym.envs.units import Unit, action_error, check_choice, chunk_units
from memgym.errors import ConfigError

OVERFLOWS: tuple[str, ...] = ("truncate", "refuse")
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_BLOCK = re.compile(r"<memory>(.*?)</memory>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<memory>", re.IGNORECASE)


class MemoryOverwriteEnv(MemoryEnv):
    """MemAgent style: each step shows the previous memory text and the next chunk; the policy rewrites it.

    **Description.** The memory is one block of at most ``memory_budget`` whitespace tokens. The action
    is the whole new memory between ``<memory>`` and ``</memory>`` (without tags, the whole text, after
    dropping ``<think>`` blocks, is the memory; an empty ``<memory></memory>`` clears it). A longer memory
    is cut at the budget (``overflow="truncate"``, noted as ``info["memory_truncated"]``) or refused by
    the bank (``overflow="refuse"``: the step's operation fails and the memory stays as it was).

    **Action Space / Observation Space / Rewards / info.** See :class:`~memgym.envs.base.MemoryEnv`.
    In structured mode the memory is a list of lines: ``target`` indexes them, ADD appends a candidate
    line (dropping the oldest lines past the budget), UPDATE replaces a line, DELETE removes one. The
    answer agent reads the whole memory.

    **Starting State.** An empty memory. **Episode End.** After the last chunk.

    Args:
        episodes: the episode source (see :class:`~memgym.envs.base.MemoryEnv`).
        memory_budget: the memory's size limit in whitespace tokens.
        overflow: ``"truncate"`` or ``"refuse"`` a memory over the budget.
        chunk_by: ``"session"``, ``"tokens"`` or ``"turn"``.
        chunk_tokens: the chunk budget (needed for ``"tokens"``).
        tokenizer: counts chunk tokens (``None``: whitespace words).
        **kwargs: the base class's arguments (``max_tokens`` is ``memory_budget``).

    Version History:
        v0: initial version.
    """

    tiers = ("memory",)
    single_slot_tiers = ("memory",)
    memory_kind = "text"
    final_system_prompt = "You keep a fixed-size memory of a long conversation (MemAgent)."

    def __init__(
        self,
        episodes: Any = "synthetic",
        *,
        memory_budget: int = 1024,
        overflow: str = "truncate",
        chunk_by: str = "session",
        chunk_tokens: int | None = None,
        tokenizer: Any = None,
        **kwargs: Any,
    ) -> None:
        from memgym.envs.data.chunking import CHUNK_BY

        check_choice("overflow", overflow, OVERFLOWS)
        check_choice("chunk_by", chunk_by, CHUNK_BY)
        if kwargs.pop("max_tokens", None) is not None or kwargs.pop("max_entries", None) is not None:
            raise ConfigError("MemoryOverwrite's memory is one block; set its size with memory_budget")
        if int(memory_budget) < 1:
            raise ConfigError(f"memory_budget must be at least 1, got {memory_budget}")
        self.memory_budget, self.overflow = int(memory_budget), overflow
        self.chunk_by, self.chunk_tokens, self.tokenizer = chunk_by, chunk_tokens, tokenizer
        super().__init__(episodes, max_tokens=self.memory_budget, **kwargs)

    @property
    def memory_text(self) -> str:
        """The current memory ("" when empty)."""
        block = self.bank.entries("memory")
        return block[0].text if block else ""

    def _lines(self) -> list[str]:
        return [ln for ln in self.memory_text.splitlines() if ln.strip()]

    # ------------------------------------------------------------------ steps
    def build_units(self, episode: Episode) -> list[Unit]:
        return chunk_units(episode, self.chunk_by, self.chunk_tokens, self.tokenizer)

    def shown_memories(self, unit: Unit) -> list[MemoryEntry]:
        return self.bank.entries("memory")

    def build_messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        from memgym.envs.prompts import overwrite_messages

        return overwrite_messages(unit.text, unit.date_time, self.memory_text, self.memory_budget)

    def answer_memories(self, question: Question) -> list[MemoryEntry]:
        return self.bank.entries("memory")

    # ------------------------------------------------------------------ actions
    def parse_text(self, text: Any, unit: Unit) -> ParsedAction:
        if not isinstance(text, str):
            return _refuse("invalid_input", f"expected the new memory as text, got {type(text).__name__}")
        body = _THINK.sub("", text)
        if _OPEN.search(body):
            block = _BLOCK.search(body)
            if block is None:
                return _refuse("unclosed_memory", "the <memory> block is not closed with </memory>")
            content = block.group(1).strip()
        else:
            content = body.strip()
            if not content:
                return _refuse(
                    "empty_action",
                    "write the new memory between <memory> and </memory> (an empty <memory></memory> clears it)",
                )
        return ParsedAction(ops=self._rewrite(self._fit(content, keep="start")), format="memory_text")  # type: ignore[arg-type]

    def _fit(self, content: str, keep: str) -> str:
        """Cut ``content`` to the budget (``truncate``), keeping its start (text) or its end (structured)."""
        if self.overflow != "truncate" or len(content.split()) <= self.memory_budget:
            return content
        self.note("memory_truncated", True)
        lines = content.splitlines()
        if keep == "end":
            lines.reverse()
        kept, used = [], 0
        for line in lines:
            words = line.split()
            if used + len(words) > self.memory_budget:
                if keep == "start":
                    kept.append(" ".join(words[: self.memory_budget - used]))
                break
            kept.append(line)
            used += len(words)
        if keep == "end":
            kept.reverse()
        return "\n".join(kept).strip()

    def _rewrite(self, content: str) -> list[Operation]:
        if content == self.memory_text:
            return [Operation.noop()]
        if not content:
            return [Operation("DELETE", tier="memory")]
        return [Operation.update(None, content, tier="memory")]

    def target_texts(self, shown: list[MemoryEntry]) -> list[str]:
        return self._lines()

    def n_targets(self) -> int:
        return len(self._lines())

    def decode_structured(self, action: dict, unit: Unit) -> tuple[list[Operation], ParseError | None]:
        kind = STRUCTURED_OPS[int(action["op"])]
        if kind == "NOOP":
            return [Operation.noop()], None
        lines, target, content = self._lines(), int(action["target"]), int(action["content"])
        candidates = self.candidates(unit)
        if kind in ("ADD", "UPDATE") and content >= len(candidates):
            return [], action_error(
                "invalid_content",
                f"content {content} is empty: this step has {len(candidates)} candidate text(s)",
            )
        if kind in ("UPDATE", "DELETE") and target >= len(lines):
            return [], action_error(
                "invalid_target", f"target {target} is empty: the memory has {len(lines)} line(s)"
            )
        if kind == "ADD":
            lines.append(candidates[content])
        elif kind == "UPDATE":
            lines[target] = candidates[content]
        else:
            del lines[target]
        return self._rewrite(self._fit("\n".join(lines), keep="end")), None

    def action_grammar(self, style: str = "format", max_tokens: int = 256) -> str | None:
        """The ``<memory>`` block as :meth:`render_action` writes it, its body capped to fit ``max_tokens``."""
        from memgym.envs.grammars import memory_text_grammar

        return memory_text_grammar(max_tokens=max_tokens)

    def render_action(self, ops: Sequence[Operation]) -> str:
        """The new memory text: the last UPDATE's text (a rewrite), empty after a DELETE, else unchanged."""
        from memgym.envs.prompts import format_memory

        text = self.memory_text
        for op in ops:
            if op.kind == "UPDATE":
                text = op.text or ""
            elif op.kind == "DELETE":
                text = ""
        return format_memory(text)

    def oracle_ops(self) -> list[Operation]:
        """Rewrite the memory to the oracle's: every fact slot's latest oracle text, one per line,
        dropping the oldest lines past the budget."""
        p = self._require_active()
        if not p.oracle:
            raise ConfigError(f"episode {self.episode.id!r} has no oracle labels (synthetic data has them)")  # type: ignore[union-attr]
        state = p.extra.get("oracle_memory")
        if state is None or state["cursor"] > p.cursor:
            state = {"cursor": 0, "slots": {}}
        for unit in p.units[state["cursor"] : p.cursor + 1]:
            memory_lines(state["slots"], self.unit_labels(unit))
        state["cursor"] = p.cursor + 1
        p.extra["oracle_memory"] = state
        return self._rewrite(self._fit("\n".join(state["slots"].values()), keep="end"))

    def malformed_actions(self) -> list[Any]:
        if self.action_mode == "structured":
            return super().malformed_actions()
        return ["", "  \n ", "<memory>never closed", None, 42, "<think>only thinking</think>"]


def _refuse(code: str, message: str) -> ParsedAction:
    return ParsedAction(error=action_error(code, message))
