"""The base class of memgym's environments: an episode streamed step by step into a memory bank.

**The contract a plugin author implements** (``tests/plugin_example/`` is a complete example): subclass
:class:`MemoryEnv`, set the class attributes under "subclasses set these", implement the required hooks
:meth:`MemoryEnv.build_units` (what one step shows) and :meth:`MemoryEnv.build_messages` (its prompt),
override optional hooks where the defaults do not fit, register it (:func:`memgym.envs.register`) and run
:func:`memgym.envs.check_env` on it. The base class does the rest: episodes, the bank, retrieval,
answering, rewards (:mod:`memgym.rewards.components`), the structured mode (:mod:`memgym.envs.structured`),
the oracle (:mod:`memgym.envs.oracle`), state for G rollouts, and the two halves of a step that
:func:`memgym.envs.stepping.step_envs` batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from memgym.envs import structured
from memgym.envs.action_parser import ParsedAction, ParseError
from memgym.envs.answering import (
    AnswerAgent,
    AnswerCache,
    AnswerRequest,
    make_answer_agent,
    pending_points,
    question_points,
)
from memgym.envs.answering.scoring import score_step_answers
from memgym.envs.episode import Episode, Question
from memgym.envs.memory_bank import FLAT_TIERS, MemoryBank, MemoryEntry
from memgym.envs.memory_tools import run_searches
from memgym.envs.operations import Operation, OpResult
from memgym.envs.oracle import OracleActions, OracleIndex, track_slots
from memgym.envs.progress import Draft, EnvState, Progress, clone, op_counts, restore, snapshot
from memgym.envs.spaces import env_spaces, text_observation
from memgym.envs.units import Unit, check_choice, sentence_candidates
from memgym.errors import ConfigError, MemgymError

REWARD_TIMINGS: tuple[str, ...] = ("questions", "end", "both")
ACTION_MODES: tuple[str, ...] = ("text", "structured")
ANSWER_CONTEXTS: tuple[str, ...] = ("retrieved", "all")
#: How many synthetic episodes ``episodes="synthetic"`` gives when ``episode_kwargs`` is not set.
DEFAULT_SYNTHETIC_EPISODES = 8
#: Text actions every environment that parses Mem0 JSON or tool calls must refuse (the checker tries them).
MALFORMED_TEXT: tuple[Any, ...] = (
    "", "{not json", '{"memory": [{"event": "UPDATE", "text": "x"}]}', None, 42, "\udcff\x00 <tool_call>{",
    '{"memory": [{"event": "ADD", "text": "ok"}, {"event": "FLY"}]}',
)


class MemoryEnv(OracleActions, gym.Env):
    """A conversation streamed step by step; a policy manages a memory bank; QA accuracy is the reward.

    **Episode.** ``reset(seed=..., options={"episode_index": i})`` starts episode ``i`` of the source
    (sampled with ``self.np_random`` when not given). Each step shows one :class:`~memgym.envs.units.Unit`
    (a turn, fact or chunk, by subclass); the action changes the bank; after the step that completes a
    question's ``asked_after`` turn (or the last step, for questions asked at the end) the answer agent
    answers it from the memories retrieved for the question, and the answers are scored.

    **Action space.** ``action_mode="text"``: :class:`~memgym.envs.spaces.UnicodeText`, raw text parsed by
    :meth:`parse_text` (default :func:`~memgym.envs.action_parser.parse_action`); ``"structured"``: see
    :mod:`memgym.envs.structured`. An action that does not parse, or has a malformed item, changes nothing
    (``info["error"]``, ``format_penalty``); a parsed one applies its operations in order, each alone: one
    the bank refuses is ``ok: False`` in ``info["ops"]``, the others apply, ``info["error"]`` stays ``None``.

    **Observation space.** Text mode: a ``Dict`` with ``messages`` (the chat prompt, a fresh
    ``[system, user]`` pair each step), ``unit`` (the id of what is shown: a turn id or ``chunk N``),
    ``step``, ``memory_entries`` and ``memory_tokens``. Structured mode: a ``Box`` of features.

    **Rewards.** Every component of :data:`memgym.rewards.components.REWARDS` (``qa``, ``qa_episode``,
    ``format_penalty``, ``tool_success``, ``tool_success_episode``, ``compression``, ``oracle_ops`` and any
    a plugin registers) is computed at each step and weighed by ``reward_weights`` (overlaid on
    :attr:`default_reward_weights`) through a :class:`~memgym.rewards.compose.RewardComposer`.

    **info keys (API).** ``ops``: one dict per operation tried (``OpResult.to_dict``: op, ok, id,
    error, message). ``error``: ``None``, or for an unusable action a
    :class:`~memgym.envs.action_parser.ParseError` (``code``, ``message``; a frozen dataclass rather than
    a dict, so that vector envs can batch it beside ``None``). ``format``: the action format recognised.
    ``op_counts``: accepted operations by kind plus ``failed``. ``memory_entries`` / ``memory_tokens``:
    the bank's size after the step. ``reward_components``: the composer's log (``reward/<name>``,
    ``reward_weighted/<name>``, ``reward/total``). ``answers``: one dict per question answered at this
    step (``question_id``, ``question``, ``category``, ``prediction``, ``gold``, ``score``, ``correct`` =
    score is 1). ``evidence_recall``: when questions with evidence were answered, the share whose
    evidence turns are all in the provenance of the memories the answer agent read. ``oracle_labels``:
    for labelled (synthetic) episodes, the kinds of the oracle labels of the step's turns.
    ``episode_qa``: on the last step, the mean score over the episode's questions. Also ``episode_id``
    and ``unit``. Reset's info has ``episode_id``, ``episode_index``, ``n_steps``, ``unit``,
    ``memory_entries``, ``memory_tokens``.

    **Vector environments.** ``SyncVectorEnv`` works in both modes; ``AsyncVectorEnv`` needs
    ``shared_memory=False`` in text mode (text has no fixed-size shared buffer).

    **State for G rollouts.** :meth:`get_state` / :meth:`set_state` snapshot and restore the episode,
    the bank and the RNG; :meth:`spawn` clones the environment in its current state cheaply.

    Args:
        episodes: the episode source: ``"synthetic"``, a path, or a list of episodes (anything
            :func:`memgym.envs.data.resolve_episodes` takes).
        episode_kwargs: keyword arguments for ``resolve_episodes`` (e.g. ``n_episodes``, ``seed``,
            ``config``); for ``"synthetic"`` without them, :data:`DEFAULT_SYNTHETIC_EPISODES` episodes.
        action_mode: ``"text"`` (LLM policies) or ``"structured"`` (compact, for RLlib and baselines).
        answer_agent: an :class:`~memgym.envs.answering.AnswerAgent` or a name of
            :data:`~memgym.envs.answering.ANSWER_AGENTS`; default the model-free ``"extractive"`` agent.
        answer_cache: an :class:`~memgym.envs.answering.AnswerCache` shared across steps and clones.
        answer_context: what the answer agent reads: ``"retrieved"`` (:meth:`answer_memories`, the
            ``answer_top_k`` memories retrieved for the question) or ``"all"`` (every memory, newest
            first: a long-context reader).
        retriever: ``"bm25"`` or ``"dense"`` (see :func:`memgym.envs.retrieval.make_retriever`).
        retriever_kwargs: keyword arguments for the retriever.
        top_k: how many related memories a step shows (and the structured ``target`` range).
        answer_top_k: how many memories the answer agent gets per question.
        reward_timing: ``"questions"``, ``"end"`` or ``"both"`` (see :mod:`memgym.rewards.components`).
        qa_metric: the metric of the ``qa`` components (:data:`memgym.rewards.metrics.METRICS`).
        reward_weights: weights overlaid on :attr:`default_reward_weights`.
        max_entries: the bank's capacity in entries (``None``: unlimited).
        max_tokens: the bank's capacity in tokens (whitespace words).
        n_candidates: the structured ``content`` range (candidate texts per step).
        feature_dim: the size of each hashed bag of words in structured observations.
        max_action_chars: the text action space's length bound (longer text is still parsed).
        max_message_chars: the length bound of one observation message.
        render_mode: ``None`` or ``"ansi"``.
    """

    metadata: ClassVar[dict] = {"render_modes": ["ansi"], "render_fps": 1}

    # ------------------------------------------------------------------ subclasses set these
    #: The bank's tiers (the first non-single-slot one is the default).
    tiers: ClassVar[tuple[str, ...]] = FLAT_TIERS
    #: Tiers holding one block of text (Mem-α's core, MemAgent's memory).
    single_slot_tiers: ClassVar[tuple[str, ...]] = ()
    #: What the memory is, for policies that write it directly: ``"entries"`` (a bank of memories
    #: with ids) or ``"text"`` (one block of text, rewritten whole; :attr:`memory_text`).
    memory_kind: ClassVar[Literal["entries", "text"]] = "entries"
    #: Reward weights before ``reward_weights`` is overlaid.
    default_reward_weights: ClassVar[dict[str, float]] = {"qa": 1.0, "qa_episode": 1.0, "format_penalty": 0.1}
    #: How many times in a row a step may be repeated to show search results (0: searches do not repeat).
    search_rounds: ClassVar[int] = 0
    #: The system prompt of the final observation.
    final_system_prompt: ClassVar[str] = "You manage the long-term memory of a conversation."

    def __init__(
        self,
        episodes: Any = "synthetic",
        *,
        episode_kwargs: dict | None = None,
        action_mode: str = "text",
        answer_agent: AnswerAgent | str = "extractive",
        answer_cache: AnswerCache | None = None,
        answer_context: str = "retrieved",
        retriever: str = "bm25",
        retriever_kwargs: dict | None = None,
        top_k: int = 10,
        answer_top_k: int = 10,
        reward_timing: str = "questions",
        qa_metric: str = "em",
        reward_weights: dict[str, float] | None = None,
        max_entries: int | None = None,
        max_tokens: int | None = None,
        n_candidates: int = 4,
        feature_dim: int = 32,
        max_action_chars: int = 32_768,
        max_message_chars: int = 4_194_304,
        render_mode: str | None = None,
    ) -> None:
        from memgym.envs.data import resolve_episodes
        from memgym.envs.retrieval import make_retriever
        from memgym.rewards.components import REWARDS
        from memgym.rewards.compose import RewardComposer
        from memgym.rewards.metrics import METRICS

        check_choice("action_mode", action_mode, ACTION_MODES)
        check_choice("reward_timing", reward_timing, REWARD_TIMINGS)
        check_choice("answer_context", answer_context, ANSWER_CONTEXTS)
        check_choice("qa_metric", qa_metric, tuple(METRICS))
        check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        for name, value in (("top_k", top_k), ("answer_top_k", answer_top_k), ("n_candidates", n_candidates),
                            ("feature_dim", feature_dim)):
            if int(value) < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if episode_kwargs is None and (episodes is None or (isinstance(episodes, str) and episodes == "synthetic")):
            episode_kwargs = {"n_episodes": DEFAULT_SYNTHETIC_EPISODES}
        self.episodes: list[Episode] = resolve_episodes(episodes, **(episode_kwargs or {}))
        if not self.episodes:
            raise ConfigError("the episode source is empty; give episodes= a dataset with episodes")
        self.action_mode, self.reward_timing, self.qa_metric = action_mode, reward_timing, qa_metric
        self.answer_context = answer_context
        self.top_k, self.answer_top_k = int(top_k), int(answer_top_k)
        self.n_candidates, self.feature_dim = int(n_candidates), int(feature_dim)
        self.max_entries, self.max_tokens = max_entries, max_tokens
        self.render_mode = render_mode
        self.answer_agent: AnswerAgent = make_answer_agent(answer_agent)
        self.answer_cache = answer_cache
        self.retriever_name = retriever
        weights = {**self.default_reward_weights, **(reward_weights or {})}
        self.composer = RewardComposer(weights, known=REWARDS.names())
        #: Whether steps also answer the determined, not yet asked questions (only when qa_pending pays).
        self.probes_pending = bool(self.composer.weights.get("qa_pending"))
        self.bank = self.make_bank()
        self.retriever = make_retriever(retriever, **(retriever_kwargs or {}))
        self.retriever.attach(self.bank)
        self._empty_bank = self.bank.snapshot()
        self.action_space, self.observation_space = env_spaces(self, max_action_chars, max_message_chars)
        self._progress: Progress | None = None
        self._draft: Draft | None = None
        self._interrupted = False
        self._notes: dict[str, Any] = {}
        self._units_cache: dict[int, list[Unit]] = {}
        self._oracle_cache: dict[int, OracleIndex | None] = {}
        self._points_cache: dict[str, Any] = {}  # question points of the last unit list started

    # ================================================================== required hooks
    def build_units(self, episode: Episode) -> list[Unit]:
        """Split an episode into the units its steps show, in order (called once per episode)."""
        raise NotImplementedError

    def build_messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        """The chat prompt of the step that shows ``unit`` (``shown``: what :meth:`shown_memories` gave)."""
        raise NotImplementedError

    # ================================================================== optional hooks
    def make_bank(self) -> MemoryBank:
        """The bank this environment manages (one per environment, emptied at each reset)."""
        return MemoryBank(self.tiers, single_slot_tiers=self.single_slot_tiers, max_entries=self.max_entries,
                          max_tokens=self.max_tokens)

    def shown_memories(self, unit: Unit) -> list[MemoryEntry]:
        """The memories a step shows: by default the ``top_k`` retrieved for the unit's text."""
        return self.retriever.retrieve(unit.text, self.top_k)

    def answer_memories(self, question: Question) -> list[MemoryEntry]:
        """The memories the answer agent reads for ``question``, best first (``answer_context="retrieved"``)."""
        return self.retriever.retrieve(question.question, self.answer_top_k)

    def parse_text(self, text: Any, unit: Unit) -> ParsedAction:
        """A text action -> operations, searches and error (default: Mem0 JSON or tool calls)."""
        from memgym.envs.action_parser import parse_action

        return parse_action(text, default_tier=self.bank.default_tier)

    def render_action(self, ops: Sequence[Operation]) -> str:
        """Operations as the text this environment's prompt asks for (default: Mem0 JSON): what the
        oracle and the baselines write, so the environment parses it as it parses an LLM's text."""
        from memgym.envs.prompts import format_mem0_action

        return format_mem0_action(ops, self.bank)

    def candidates(self, unit: Unit) -> tuple[str, ...]:
        """The texts the structured ``content`` indexes: each turn as ``Speaker: text``, then its sentences."""
        return sentence_candidates(unit.turns, self.n_candidates)

    def target_texts(self, shown: list[MemoryEntry]) -> list[str]:
        """The texts the structured ``target`` indexes (default: the shown memories)."""
        return [m.text for m in shown]

    def n_targets(self) -> int:
        """How many targets the current observation offers the structured ``target``."""
        return len(self.progress.shown)

    def decode_structured(self, action: dict, unit: Unit) -> tuple[list[Operation], ParseError | None]:
        """A structured action (already in the action space) -> operations against what was shown."""
        return structured.decode_default(self, action, unit)

    def action_grammar(self, style: str = "format", max_tokens: int = 72) -> str | None:
        """The grammar of a valid action at the current step, for constrained decoding (Lark text; see
        :mod:`memgym.envs.grammars`), fitting ``max_tokens``; ``None`` lets the policy write anything.
        Default: Mem0 JSON on the memories shown, free texts (``"format"``) or candidate texts
        (``"choices"``). An environment that overrides :meth:`parse_text` overrides this too."""
        from memgym.envs.grammars import GRAMMAR_STYLES, mem0_grammar

        check_choice("style", style, GRAMMAR_STYLES)
        unit = self._require_active().units[self.progress.cursor]
        candidates = self.candidates(unit) if style == "choices" else ()
        return mem0_grammar(self._grammar_ids(), candidates=candidates, max_items=2, max_tokens=max_tokens)

    def _grammar_ids(self) -> list[str]:
        """The ids an action may name: the memories shown first, then the rest of the bank."""
        return list(dict.fromkeys([*self.progress.shown, *(e.id for e in self.bank.entries())]))

    def start_episode(self, index: int, options: dict) -> None:
        """Empty the bank and set up episode ``index`` (subclasses may read ``options``)."""
        if options:
            raise ConfigError(f"unknown reset option(s) {sorted(options)}; known: episode_index")
        self.bank.restore(self._empty_bank)
        self._progress = self.new_progress(index, self.units_for(index))

    def malformed_actions(self) -> list[Any]:
        """Actions that must be refused with ``info["error"]`` and change nothing (for the checker)."""
        if self.action_mode == "structured":
            return list(structured.MALFORMED_STRUCTURED)
        return list(MALFORMED_TEXT)

    # ================================================================== gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        """Start an episode: ``options={"episode_index": i}`` picks it, else ``self.np_random`` does."""
        super().reset(seed=seed)
        options = dict(options or {})
        index = options.pop("episode_index", None)
        if index is None:
            index = int(self.np_random.integers(len(self.episodes)))
        if not 0 <= int(index) < len(self.episodes):
            raise ConfigError(f"episode_index {index} is out of range: the source has {len(self.episodes)} episodes")
        self._draft, self._interrupted = None, False
        self.start_episode(int(index), options)
        obs = self._observe()
        p = self._require_active()
        info = {"episode_id": self.episodes[p.episode_index].id, "episode_index": p.episode_index,
                "n_steps": len(p.units), "unit": p.units[p.cursor].id, **self._size()}
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """Apply the action, answer the questions asked at this point, and score."""
        from memgym.envs.stepping import step_envs

        return step_envs([self], [action])[0].as_tuple()

    def render(self) -> str | None:
        """``"ansi"``: the memory and the current step as text."""
        if self.render_mode != "ansi":
            return None
        p = self._progress
        where = "not started" if p is None else (
            "finished" if p.cursor >= len(p.units) else f"step {p.cursor}: {p.units[p.cursor].id}")
        return f"[{type(self).__name__}] {where}\n{self.bank.render()}\n"

    # ================================================================== the batched step protocol
    def begin_step(self, action: Any) -> AnswerRequest | None:
        """First half of a step: apply the action; return the questions to answer now (or ``None``).

        Called by :func:`memgym.envs.stepping.step_envs` only; use :meth:`step` or ``step_envs``.
        """
        p = self._require_active()
        if self._draft is not None:
            raise MemgymError("begin_step() was called twice; call end_step() with the answers first")
        unit = p.units[p.cursor]
        self._notes = {}
        ops, searches, error, fmt = self._decode(action, unit)
        results: list[OpResult] = []
        if error is None:
            ops = [self._stamp(op, unit) for op in ops]
            results = self.bank.apply(ops) if ops else []
        for r in results:
            p.op_counts[r.op.kind if r.ok else "failed"] += 1
        if p.oracle and results:
            track_slots(p.extra.setdefault("slot_ids", {}), self.unit_labels(unit), results)
        if error is not None:
            p.op_counts["invalid_action"] += 1
        found = run_searches(self.bank, self.retriever, searches, self.top_k) if error is None and searches else ""
        stay = bool(found) and p.search_round < self.search_rounds
        p.search_results = found if stay else ""
        if found:
            self._notes["search_results"] = found
        questions = [] if stay else p.points.get(unit.index, [])
        pending = [] if stay else p.pending.get(unit.index, [])
        memories = [self._memories_for(q) for q in [*questions, *pending]]
        self._draft = Draft(unit, results, error, fmt, questions, memories, stay, self._notes, pending)
        self._notes = {}
        return AnswerRequest([*questions, *pending], memories) if questions or pending else None

    def end_step(self, answers: Sequence[str] | None) -> tuple[Any, float, bool, bool, dict]:
        """Second half of a step: score ``answers`` (to the request of :meth:`begin_step`), pay rewards."""
        from memgym.rewards.components import StepOutcome, compute_components

        p, draft = self._require_active(), self._draft
        if draft is None:
            raise MemgymError("end_step() needs a begin_step() first")
        self._draft = None
        answers = list(answers or [])
        n = len(draft.questions)
        if len(answers) != n + len(draft.pending):
            raise MemgymError(f"{len(answers)} answers for {n + len(draft.pending)} questions")
        info: dict[str, Any] = {"episode_id": self.episodes[p.episode_index].id, "unit": draft.unit.id, **draft.notes}
        rows, recall = score_step_answers(draft.questions, answers[:n], draft.memories[:n], self.qa_metric)
        probed, _ = score_step_answers(draft.pending, answers[n:], draft.memories[n:], self.qa_metric)
        p.scores.update({row["question_id"]: row["score"] for row in rows})
        info.update(answers=rows, **({} if recall is None else {"evidence_recall": recall}))
        labels = self.unit_labels(draft.unit) if p.oracle else None
        if labels is not None:
            info["oracle_labels"] = [label.kind for label in labels]
        if draft.stay:
            p.search_round += 1
        else:
            p.search_round = 0
            p.unit_tokens += draft.unit.n_tokens
            p.cursor += 1
        terminated = p.cursor >= len(p.units)
        if terminated and p.scores:
            info["episode_qa"] = float(np.mean(list(p.scores.values())))
        outcome = StepOutcome(
            results=tuple(draft.results), error=draft.error, answers=tuple(rows),
            labels=None if labels is None else tuple(labels), final=terminated,
            episode_scores=tuple(p.scores.values()), op_counts=dict(p.op_counts),
            memory_tokens=self.bank.total_tokens, tokens_read=p.unit_tokens, reward_timing=self.reward_timing,
            pending_scores=tuple(r["score"] for r in probed), env=self,
        )
        reward, log = self.composer(compute_components(outcome))
        info.update({"ops": [r.to_dict() for r in draft.results], "error": draft.error, "format": draft.fmt,
                     "op_counts": op_counts(draft.results), "reward_components": log, **self._size()})
        obs = self._final_observation() if terminated else self._observe()
        return obs, float(reward), terminated, False, info

    def abandon_step(self) -> None:
        """Drop a step whose answers will never come (the answer agent failed after :meth:`begin_step`).

        The bank already holds the step's operations, so the episode cannot go on; the next step says
        to reset instead of failing in an unrelated way.
        """
        self._draft, self._interrupted = None, True

    # ================================================================== state for G rollouts
    def get_state(self) -> EnvState:
        """Snapshot the episode progress, the bank and the RNG."""
        return snapshot(self)

    def set_state(self, state: EnvState) -> None:
        """Restore a snapshot taken by :meth:`get_state` (of this environment or one of its clones)."""
        self._interrupted = False
        restore(self, state)

    def spawn(self) -> MemoryEnv:
        """A clone in the current state, for G rollouts from one start (see :func:`memgym.envs.progress.clone`)."""
        return clone(self)

    # ================================================================== what a step shows
    @property
    def episode(self) -> Episode | None:
        """The current episode (``None`` before the first reset)."""
        return None if self._progress is None else self.episodes[self._progress.episode_index]

    @property
    def current_unit(self) -> Unit | None:
        """What the current observation shows (``None`` when the episode is over)."""
        p = self._progress
        return None if p is None or p.cursor >= len(p.units) else p.units[p.cursor]

    @property
    def progress(self) -> Progress:
        """The episode's progress (raises when no episode was started)."""
        if self._progress is None:
            raise gym.error.ResetNeeded("call reset() first")
        return self._progress

    @property
    def memory_text(self) -> str:
        """The whole memory as one text: the block of a ``"text"`` memory, else the rendered bank."""
        return self.bank.render()

    def units_for(self, index: int) -> list[Unit]:
        """The units of episode ``index``, built once (clones share the cache; units are immutable)."""
        if index not in self._units_cache:
            self._units_cache[index] = self.build_units(self.episodes[index])
        return self._units_cache[index]

    def new_progress(self, index: int, units: list[Unit]) -> Progress:
        """Fresh progress through ``units`` of episode ``index`` (its indexes are built once)."""
        episode = self.episodes[index]
        if not units:
            raise ConfigError(f"episode {episode.id!r} has no turns to step through")
        if index not in self._oracle_cache:
            self._oracle_cache[index] = OracleIndex(episode) if episode.op_labels else None
        cache = self._points_cache
        if cache.get("of") != (index, id(units), len(units)):
            pending = pending_points(episode, units) if self.probes_pending else {}
            cache.update(of=(index, id(units), len(units)), points=question_points(episode, units), pending=pending)
        return Progress(index, units, dict(cache["points"]), self._oracle_cache[index], pending=cache["pending"])

    # ================================================================== random actions
    def random_action(self, rng: np.random.Generator | None = None) -> Any:
        """A random well-formed action for the current step (:func:`memgym.envs.structured.random_action`),
        rendered as text in text mode. Draws from ``rng`` (default: the action space's RNG)."""
        self._require_active()
        return structured.random_action(self, rng if rng is not None else self.action_space.np_random)

    # ================================================================== internals
    def _require_active(self) -> Progress:
        p = self._progress
        if self._interrupted:
            raise gym.error.ResetNeeded("the last step was interrupted before its answers came; call reset()")
        if p is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if p.cursor >= len(p.units):
            raise gym.error.ResetNeeded("the episode is over; call reset() to start another")
        return p

    def _decode(self, action: Any, unit: Unit) -> tuple[list[Operation], list, ParseError | None, str]:
        if self.action_mode == "text":
            parsed = self.parse_text(action, unit)
            return parsed.ops, parsed.searches, parsed.error, parsed.format
        ops, error = structured.decode_action(self, action, unit)
        return ops, [], error, "structured"

    def note(self, key: str, value: Any) -> None:
        """Record an extra ``info`` key while decoding the current action (e.g. ``memory_truncated``)."""
        self._notes[key] = value

    def _stamp(self, op: Operation, unit: Unit) -> Operation:
        """Set provenance and time from what the step showed (never trusted from the policy)."""
        if op.kind not in ("ADD", "UPDATE"):
            return op
        return replace(op, provenance=tuple(t.id for t in unit.turns), timestamp=unit.date_time)

    def _memories_for(self, question: Question) -> list[MemoryEntry]:
        if self.answer_context == "all":
            return list(reversed(self.bank.entries()))
        return self.answer_memories(question)

    def _observe(self) -> Any:
        p = self.progress
        unit = p.units[p.cursor]
        shown = self.shown_memories(unit)
        p.shown = [m.id for m in shown]
        if self.action_mode == "structured":
            return structured.observe(self, unit, shown)
        return text_observation(self, unit.id, self.build_messages(unit, shown))

    def _final_observation(self) -> Any:
        if self.action_mode == "structured":
            return structured.observe(self, None, [])
        from memgym.envs.prompts import final_messages

        return text_observation(self, "end", final_messages(self.final_system_prompt, self.bank))

    def _size(self) -> dict[str, int]:
        return {"memory_entries": len(self.bank), "memory_tokens": self.bank.total_tokens}


__all__ = ["ACTION_MODES", "DEFAULT_SYNTHETIC_EPISODES", "MALFORMED_TEXT", "MemoryEnv"]
