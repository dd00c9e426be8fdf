"""``memgym/AnswerAgent-v0``: Memory-R1's Answer Agent as the policy, one step per question.

Memory-R1 (arXiv 2508.19828, §3.2 and Alg. 2) trains two agents with outcome-driven RL. The Memory
Manager is :class:`~memgym.envs.manager.MemoryManagerEnv`; this environment trains the other one, the
**Answer Agent**: it gets a question and the memories retrieved for it (60 in the paper), selects the
relevant ones ("memory distillation") and answers; the reward is the answer's exact match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from memgym.envs.action_parser import ParsedAction, ParseError
from memgym.envs.answer_memories import BuiltMemory, answer_tuples, build_answer_memories
from memgym.envs.answering.distill import (
    answer_options,
    distill_grammar,
    distill_messages,
    format_distillation,
    parse_distillation,
)
from memgym.envs.base import MemoryEnv
from memgym.envs.episode import ABSTAIN_ANSWER, Episode, Question
from memgym.envs.memory_bank import BankState, MemoryBank, MemoryEntry
from memgym.envs.operations import Operation
from memgym.envs.progress import Progress
from memgym.envs.units import Unit, action_error, check_choice
from memgym.errors import ConfigError

MODES: tuple[str, ...] = ("episode", "single_step")
#: The id of the memory that carries the policy's answer to the echo answer agent.
_ANSWER_ID = "answer"


class _ActionAnswer:
    """The answer agent of this environment: the policy's own answer, handed over as the one memory
    :meth:`AnswerAgentEnv.answer_memories` gives (stateless, so batching, clones and caches agree)."""

    name = "memgym-action-answer"

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]:
        return [ms[0].text if ms and ms[0].id == _ANSWER_ID else "" for ms in memories]


class AnswerAgentEnv(MemoryEnv):
    """Memory-R1's Answer Agent: read the memories retrieved for a question, select, answer.

    **Description.** A memory manager (``manager``) first builds each conversation's memory
    (:func:`memgym.envs.answer_memories.build_answer_memories`, once per process, optionally saved to
    ``memory_cache``). Each step then shows one question, with the ``answer_top_k`` memories that were
    retrieved for it when it was asked; the policy replies in the distillation format of
    :mod:`memgym.envs.answering.distill` (``Relevant: [ids]``, optional reasoning, ``**Answer:** ...``),
    the prompt :class:`~memgym.policies.answer_agents.llm.LLMAnswerAgent` writes, so a trained answerer
    plugs into any environment as its ``answer_agent="llm"``.

    **Episode modes.** ``mode="episode"``: one step per question of the conversation, in the order
    they are asked. ``mode="single_step"``: Memory-R1's tuples: reset picks one question
    (``options={"question_id": ...}`` or sampled with ``self.np_random``) and the episode is that step.

    **Action Space.** Text: the distillation format, parsed strictly (:func:`parse_distillation`): the
    selection line must name only memories shown, and an answer must follow the marker; otherwise
    ``info["error"]`` (codes ``invalid_input``, ``no_answer``, ``no_selection``, ``unknown_memory``) and
    the answer is empty. Structured: ``content`` indexes the answer options (:meth:`candidates`: the
    question's candidate values, synthetic data only, and the abstention answer), ``target`` the one
    memory selected.

    **Observation Space.** As :class:`~memgym.envs.base.MemoryEnv`; ``unit`` is the question id.

    **The bank.** It holds the manager's memory at the end of the conversation, restored at reset and
    never written: an answer agent reads memory, it does not change it. ``check_env`` therefore checks
    what matters here: that every action, valid or not, leaves the memory as the manager built it, that
    malformed answers are refused, and that the prompts (the memories shown) are deterministic. Each
    question reads the memories retrieved for it *when it was asked*, which for a question asked in the
    middle of the conversation can differ from the final bank.

    **Rewards.** ``qa``: the answer's score under ``qa_metric`` (``em`` by default, as Memory-R1;
    ``f1``, ``locomo_f1``...; the LLM judge through a registered component); ``format_penalty``: -1
    for an action not in the format. ``info["selected"]`` lists the ids the answer selected, and
    ``info["evidence_recall"]`` says whether they cover the question's evidence turns.

    Args:
        episodes: the conversations (anything :class:`~memgym.envs.base.MemoryEnv` takes).
        mode: ``"episode"`` or ``"single_step"``.
        manager: who builds the memory: a registered policy name, a policy object, a callable
            observation -> action, or a saved bank ``.json`` (see :mod:`memgym.envs.answer_memories`).
        manager_kwargs: arguments of a named policy (``{"backend": "hf", "model": PATH}`` for ``llm``).
        manager_env: the environment the manager steps through.
        manager_env_kwargs: its arguments (capacity, ``extractor``...; ``retriever`` defaults to this
            environment's, which retrieves each question's memories).
        memory_cache: a JSON file to save the built memories to and reload them from.
        question_time: show when the question is asked (its session's time). Off by default: the prompt
            is then exactly the one :class:`~memgym.policies.answer_agents.llm.LLMAnswerAgent` writes.
        max_selected: most ids the ``choices`` / ``format`` grammars let an answer select.
        **kwargs: the base class's arguments (``answer_top_k`` = memories per question, default 60;
            ``qa_metric``; ``reward_weights``). ``answer_agent`` is accepted and unused: the answers are
            the actions.

    Version History:
        v0: initial version.
    """

    default_reward_weights = {"qa": 1.0, "qa_episode": 0.0, "format_penalty": 0.2}
    final_system_prompt = "You answer questions about a conversation from its memories (Memory-R1 answer agent)."

    def __init__(
        self,
        episodes: Any = "synthetic",
        *,
        mode: str = "episode",
        manager: Any = "mem0_heuristic",
        manager_kwargs: dict | None = None,
        manager_env: str = "memgym/MemoryManager-v0",
        manager_env_kwargs: dict | None = None,
        memory_cache: str | None = None,
        question_time: bool = False,
        max_selected: int = 4,
        **kwargs: Any,
    ) -> None:
        check_choice("mode", mode, MODES)
        if kwargs.get("answer_context", "retrieved") != "retrieved":
            raise ConfigError("AnswerAgentEnv shows the retrieved memories; answer_context must be 'retrieved'")
        kwargs.setdefault("answer_top_k", 60)
        kwargs.setdefault("n_candidates", 16)
        kwargs.pop("answer_agent", None)
        kwargs.pop("answer_cache", None)
        self.mode, self.manager, self.manager_kwargs = mode, manager, dict(manager_kwargs or {})
        self.manager_env, self.manager_env_kwargs = manager_env, dict(manager_env_kwargs or {})
        self.memory_cache, self.question_time, self.max_selected = memory_cache, bool(question_time), int(max_selected)
        super().__init__(episodes, **kwargs)
        self.answer_agent = _ActionAnswer()
        self._built: dict[str, BuiltMemory] | None = None
        self._banks: dict[int, BankState] = {}
        self._answer = MemoryEntry(_ANSWER_ID, "", "memory")

    # ------------------------------------------------------------------ the memories answered from
    def built_memories(self) -> dict[str, BuiltMemory]:
        """Every episode's built memory (built on first use, shared by the process; see the module)."""
        if self._built is None:
            self._built = build_answer_memories(
                self.episodes, self.manager, manager_kwargs=self.manager_kwargs, manager_env=self.manager_env,
                manager_env_kwargs={"retriever": self.retriever_name, **self.manager_env_kwargs},
                answer_top_k=self.answer_top_k,
                retriever=self.retriever_name, cache_path=self.memory_cache,
            )
        return self._built

    def answer_tuples(self) -> list[dict]:
        """Memory-R1's answer-agent tuples (question, retrieved memories, gold) of every episode."""
        return answer_tuples(self.episodes, self.built_memories())

    # ------------------------------------------------------------------ steps
    def build_units(self, episode: Episode) -> list[Unit]:
        order = {t.id: i for i, t in enumerate(episode.turns())}
        sessions = episode.session_of()
        last = episode.sessions[-1].date_time if episode.sessions else None
        asked = sorted(episode.questions, key=lambda q: order.get(q.asked_after, len(order)))  # type: ignore[arg-type]
        return [
            Unit(index=i, id=q.id, turns=(), text=q.question, n_tokens=len(q.question.split()),
                 date_time=sessions[q.asked_after].date_time if q.asked_after in sessions else last)
            for i, q in enumerate(asked)
        ]

    def start_episode(self, index: int, options: dict) -> None:
        question_id = options.pop("question_id", None)
        if options:
            raise ConfigError(f"unknown reset option(s) {sorted(options)}; known: episode_index, question_id")
        episode, units = self.episodes[index], self.units_for(index)
        if not units:
            raise ConfigError(f"episode {episode.id!r} has no questions to answer")
        questions = {q.id: q for q in episode.questions}
        if self.mode == "single_step" or question_id is not None:
            if question_id is None:
                question_id = units[int(self.np_random.integers(len(units)))].id
            elif question_id not in questions:
                raise ConfigError(f"episode {episode.id!r} has no question {question_id!r}")
            units = [Unit(0, u.id, u.turns, u.text, u.date_time, u.n_tokens) for u in units if u.id == question_id]
        self.bank.restore(self._bank_state(index))
        self._progress = Progress(index, units, {u.index: [questions[u.id]] for u in units}, None)

    def _bank_state(self, index: int) -> BankState:
        if index not in self._banks:
            bank = MemoryBank.from_dict(self.built_memories()[self.episodes[index].id].bank)
            self._banks[index] = bank.snapshot()
        return self._banks[index]

    def question(self, unit: Unit) -> Question:
        """The question a unit asks."""
        return self.progress.points[unit.index][0]

    def shown_memories(self, unit: Unit) -> list[MemoryEntry]:
        """The memories retrieved for the question when it was asked (at most ``answer_top_k``)."""
        built = self.built_memories()[self.episodes[self.progress.episode_index].id]
        return built.entries(unit.id)[: self.answer_top_k]

    def build_messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        return distill_messages(self.question(unit), shown, unit.date_time if self.question_time else None)

    def _shown(self, unit: Unit) -> list[MemoryEntry]:
        shown = {m.id: m for m in self.shown_memories(unit)}
        return [shown[i] for i in self.progress.shown if i in shown]

    # ------------------------------------------------------------------ the action is the answer
    def parse_text(self, text: Any, unit: Unit) -> ParsedAction:
        parsed = parse_distillation(text, self.progress.shown)
        self._hand_over(unit, parsed.selected, parsed.answer)
        return ParsedAction(error=parsed.error, format="distillation")  # type: ignore[arg-type]

    def decode_structured(self, action: dict, unit: Unit) -> tuple[list[Operation], ParseError | None]:
        options, shown = self.candidates(unit), self.progress.shown
        content, target = int(action["content"]), int(action["target"])
        if content >= len(options):
            self._hand_over(unit, (), "")
            return [], action_error("invalid_content", f"content {content} is empty: {len(options)} answer option(s)")
        self._hand_over(unit, (shown[target],) if target < len(shown) else (), options[content])
        return [], None

    def _hand_over(self, unit: Unit, selected: Sequence[str], answer: str) -> None:
        """Keep the answer for :meth:`answer_memories`, with the provenance of the memories selected."""
        chosen = {m.id: m for m in self._shown(unit)}
        provenance = tuple(dict.fromkeys(t for i in selected if i in chosen for t in chosen[i].provenance))
        self._answer = MemoryEntry(_ANSWER_ID, answer, "memory", provenance=provenance)
        self.note("selected", list(selected))

    def answer_memories(self, question: Question) -> list[MemoryEntry]:
        """The policy's answer, as the one memory the echo answer agent reads (see :class:`_ActionAnswer`);
        taken once, so an action refused before decoding answers nothing rather than the last answer."""
        answer, self._answer = self._answer, MemoryEntry(_ANSWER_ID, "", "memory")
        return [answer]

    def candidates(self, unit: Unit) -> tuple[str, ...]:
        """The answer options: the question's candidate values (synthetic data; for "How many" questions
        the counts 1..n of them), then the abstention answer."""
        return answer_options(self.question(unit))[: self.n_candidates]

    def action_grammar(self, style: str = "format", max_tokens: int = 72) -> str | None:
        """The distillation format on the shown ids; ``choices``: the answer is one of :meth:`candidates`
        (falls back to ``format`` for questions without candidate values)."""
        from memgym.envs.grammars import GRAMMAR_STYLES

        check_choice("style", style, GRAMMAR_STYLES)
        unit = self._require_active().units[self.progress.cursor]
        choices = self.candidates(unit) if style == "choices" and self.question(unit).candidates else ()
        return distill_grammar(self.progress.shown, choices=choices, max_selected=self.max_selected,
                               max_tokens=max_tokens)

    def render_action(self, ops: Sequence[Operation]) -> str:
        """Baselines write memory operations; here they mean nothing: select none, abstain."""
        return format_distillation([], ABSTAIN_ANSWER)

    def oracle_action(self) -> str:
        """The gold answer, selecting the shown memories that hold the question's evidence (the warm start's
        teacher; works on any dataset with gold answers)."""
        unit = self._require_active().units[self.progress.cursor]
        q = self.question(unit)
        evidence = set(q.evidence)
        selected = [m.id for m in self._shown(unit) if evidence & set(m.provenance)]
        return format_distillation(selected, q.answers[0] if q.answers else ABSTAIN_ANSWER)

    def random_action(self, rng: np.random.Generator | None = None) -> Any:
        """A well-formed random answer: random shown memories and a random answer option."""
        unit = self._require_active().units[self.progress.cursor]
        rng = rng if rng is not None else self.action_space.np_random
        shown, options = self.progress.shown, self.candidates(unit)
        if self.action_mode == "structured":
            return {"op": 0, "target": int(rng.integers(max(1, min(len(shown), self.top_k)))),
                    "content": int(rng.integers(len(options))), "tier": 0}
        k = int(rng.integers(min(len(shown), self.max_selected) + 1))
        picked = [shown[i] for i in sorted(rng.choice(len(shown), size=k, replace=False))] if k else []
        return format_distillation(picked, options[int(rng.integers(len(options)))])

    def malformed_actions(self) -> list[Any]:
        if self.action_mode == "structured":
            return super().malformed_actions()
        return ["", None, 42, "Oslo", "Relevant: [m1]\nno marker here", "**Answer:** Oslo",
                "Relevant: [no-such-memory]\n**Answer:** Oslo", "Relevant: []\n**Answer:**  "]


__all__ = ["MODES", "AnswerAgentEnv"]
