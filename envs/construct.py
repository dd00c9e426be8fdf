"""``memgym/MemoryConstruct-v0``: Mem-α's memory construction, one step per chunk, tiered memory, tools.

Mem-α (wangyu-ustc/Mem-alpha) gives its agent a memory of three parts, core (one block), semantic and
episodic (lists of entries with short ids), and the tools insert / update / delete / search; the agent
reads the conversation one chunk at a time, each with a fresh prompt of the memory and the chunk. Its
reward adds QA accuracy, 0.05 x compression and the tool-call success rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from memgym.envs.base import MemoryEnv
from memgym.envs.episode import Episode, Question
from memgym.envs.memory_bank import MEM_ALPHA_TIERS, MemoryEntry
from memgym.envs.operations import Operation
from memgym.envs.units import Unit, check_choice, chunk_units


class MemoryConstructEnv(MemoryEnv):
    """Mem-α style: each step shows the whole memory and the next chunk; the policy calls memory tools.

    **Description.** The memory has the tiers ``core`` (a single block, rewritten with
    ``memory_update`` and ``tier="core"``), ``semantic`` and ``episodic``. The action is a set of tool
    calls (Hermes ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks, or any format
    :func:`~memgym.envs.action_parser.parse_action` reads; ``[]`` changes nothing); the schemas are in
    :attr:`tools` and in the system prompt. ``memory_search`` calls are answered in the next prompt, which
    shows the same chunk again (once, ``search_rounds``) so the policy can act on what it found.

    **Rewards.** Defaults follow Mem-α: ``qa`` and ``qa_episode`` 1.0, ``compression`` 0.05 and
    ``tool_success_episode`` 1.0 at the last step, ``format_penalty`` 0.1. The answer agent gets the core
    block plus the ``answer_top_k`` semantic and episodic memories retrieved for the question.

    **Action Space / Observation Space / info.** See :class:`~memgym.envs.base.MemoryEnv`; the structured
    ``tier`` indexes ``("core", "semantic", "episodic")`` (an ADD into ``core`` rewrites the block).

    **Starting State.** An empty memory. **Episode End.** After the last chunk.

    Args:
        episodes: the episode source (see :class:`~memgym.envs.base.MemoryEnv`).
        chunk_by: ``"session"``, ``"tokens"`` or ``"turn"`` (see :func:`memgym.envs.data.chunking.chunk_episode`).
        chunk_tokens: the chunk budget (needed for ``"tokens"``; splits long sessions for ``"session"``).
        tokenizer: counts chunk tokens (``None``: whitespace words).
        **kwargs: the base class's arguments.

    Version History:
        v0: initial version.
    """

    tiers = MEM_ALPHA_TIERS
    single_slot_tiers = ("core",)
    default_reward_weights = {
        "qa": 1.0,
        "qa_episode": 1.0,
        "format_penalty": 0.1,
        "compression": 0.05,
        "tool_success_episode": 1.0,
    }
    search_rounds = 1
    final_system_prompt = "You build the memory of a long conversation (Mem-α memory construction)."

    def __init__(
        self,
        episodes: Any = "synthetic",
        *,
        chunk_by: str = "session",
        chunk_tokens: int | None = None,
        tokenizer: Any = None,
        **kwargs: Any,
    ) -> None:
        from memgym.envs.data.chunking import CHUNK_BY
        from memgym.envs.memory_tools import tool_schemas

        check_choice("chunk_by", chunk_by, CHUNK_BY)
        self.chunk_by, self.chunk_tokens, self.tokenizer = chunk_by, chunk_tokens, tokenizer
        super().__init__(episodes, **kwargs)
        #: The OpenAI-style schemas of the memory tools (also in the system prompt).
        self.tools: list[dict] = tool_schemas(self.tiers, single_slot_tiers=self.single_slot_tiers)

    def build_units(self, episode: Episode) -> list[Unit]:
        return chunk_units(episode, self.chunk_by, self.chunk_tokens, self.tokenizer)

    def build_messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        from memgym.envs.prompts import construct_messages

        return construct_messages(
            unit.text, unit.date_time, self.bank, self.tools, self._progress.search_results
        )  # type: ignore[union-attr]

    def answer_memories(self, question: Question) -> list[MemoryEntry]:
        core = self.bank.entries("core")
        return core + self.retriever.retrieve(question.question, self.answer_top_k, ("semantic", "episodic"))

    def oracle_ops(self) -> list[Operation]:
        """The oracle's operations, with the tier every insert must name (the default, ``semantic``)."""
        return [
            replace(op, tier=op.tier or self.bank.default_tier) if op.kind == "ADD" else op
            for op in super().oracle_ops()
        ]

    def action_grammar(self, style: str = "format", max_tokens: int = 256) -> str | None:
        """Tool calls as :meth:`render_action` writes them (both styles: a chunk has too many texts to
        list); strings are capped so that about three calls fit ``max_tokens``."""
        from memgym.envs.grammars import tool_call_grammar

        return tool_call_grammar(self.tools, max_calls=3, max_chars=max(40, max_tokens))

    def render_action(self, ops: Sequence[Operation]) -> str:
        from memgym.envs.prompts import format_tool_calls

        return format_tool_calls(ops)

