"""The base class of memgym's environments: an episode streamed step by step into a memory bank.

:class:`MemoryEnv` holds everything the three environments share (episode source, bank, retriever,
answering at question points, rewards, state for G rollouts); a subclass only says what one step is
(:meth:`MemoryEnv._build_units`), how its prompt looks (:meth:`MemoryEnv._messages`) and, if it needs to,
how an action becomes operations. To plug in your own environment, subclass it, register it with
:func:`memgym.envs.register` (or ship it in a package with a ``memgym.envs`` entry point), and run
:func:`memgym.envs.check_env` on it; ``tests/plugin_example/`` is a complete example.

Answers are batched: :meth:`MemoryEnv.step` asks the answer agent once per question point with all the
questions asked there, and :func:`memgym.envs.answering.step_batched` splits steps into
:meth:`MemoryEnv.begin_step` / :meth:`MemoryEnv.end_step` so one call of the agent answers the pending
questions of many environments.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from memgym.envs.action_parser import ParseError
from memgym.envs.answering import AnswerRequest, answer_pending, question_points
from memgym.envs.episode import Episode, OpLabel, Question
from memgym.envs.memory_bank import FLAT_TIERS, BankState, MemoryBank, MemoryEntry
from memgym.envs.operations import Operation, OpResult
from memgym.envs.spaces import (
    STRUCTURED_OPS,
    ChatMessages,
    UnicodeText,
    featurize,
    structured_action_space,
    structured_observation_space,
)
from memgym.envs.units import (
    Unit,
    action_error,
    check_choice,
    compose_labels,
    sentence_candidates,
    track_slots,
)
from memgym.errors import ConfigError, MemgymError
from memgym.policies.base import AnswerAgent

#: The reward components a :class:`MemoryEnv` computes (weights may name only these).
REWARD_COMPONENTS: tuple[str, ...] = (
    "qa",
    "qa_episode",
    "format_penalty",
    "tool_success",
    "tool_success_episode",
    "compression",
    "oracle_ops",
)
REWARD_TIMINGS: tuple[str, ...] = ("questions", "end", "both")
ACTION_MODES: tuple[str, ...] = ("text", "structured")
#: The most memories one ``memory_search`` call returns (bounds the next prompt).
MAX_SEARCH_RESULTS = 50
#: How many synthetic episodes ``episodes="synthetic"`` gives when ``episode_kwargs`` is not set.
DEFAULT_SYNTHETIC_EPISODES = 8
_INT_MAX = np.iinfo(np.int64).max


@dataclass
class _Progress:
    """Everything that changes during an episode, apart from the bank and the RNG."""

    episode_index: int
    units: list[Unit]
    points: dict[int, list[Question]]  # unit index -> questions answered after that step
    labels: dict[str, list[OpLabel]]  # turn id -> oracle labels
    cursor: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    op_counts: Counter = field(default_factory=Counter)
    shown: list[str] = field(default_factory=list)  # ids of the memories the observation showed
    search_results: str = ""
    search_round: int = 0
    unit_tokens: int = 0
    extra: dict = field(default_factory=dict)

    def copy(self) -> _Progress:
        # units, points and labels are never mutated, so clones share them (cheap for long episodes)
        return replace(
            self,
            scores=dict(self.scores),
            op_counts=Counter(self.op_counts),
            shown=list(self.shown),
            extra=copy.deepcopy(self.extra),
        )


@dataclass(frozen=True)
class EnvState:
    """A snapshot of an environment (see :meth:`MemoryEnv.get_state`)."""

    progress: _Progress | None
    bank: BankState
    rng_state: dict


@dataclass
class _Draft:
    """A step between :meth:`MemoryEnv.begin_step` and :meth:`MemoryEnv.end_step`."""

    unit: Unit
    results: list[OpResult]
    error: ParseError | None
    fmt: str
    components: dict[str, float | None]
    questions: list[Question]
    memories: list[list[MemoryEntry]]
    stay: bool
    notes: dict  # extra info keys a subclass recorded while decoding (e.g. "memory_truncated")


class MemoryEnv(gym.Env):
    """A conversation streamed step by step; a policy manages a memory bank; QA accuracy is the reward.

    **Episode.** ``reset(seed=..., options={"episode_index": i})`` starts episode ``i`` of the source
    (sampled with ``self.np_random`` when not given). Each step shows one :class:`Unit` (a turn, fact or
    chunk, by subclass); the action changes the bank; after the step that completes a question's
    ``asked_after`` turn (or the last step, for questions asked at the end) the answer agent answers it
    from the memories retrieved for the question, and the answers are scored.

    **Action space.** ``action_mode="text"``: :class:`~memgym.envs.spaces.UnicodeText`, the policy's raw
    text, parsed by :func:`memgym.envs.action_parser.parse_action` (Mem0 JSON or tool calls).
    ``action_mode="structured"``: :func:`~memgym.envs.spaces.structured_action_space` (op, target,
    content, tier). An unparsable or undecodable action changes nothing: the error is in
    ``info["error"]`` and costs the ``format_penalty`` component. Actions are all-or-nothing: when any
    part is invalid, no part is applied.

    **Observation space.** Text mode: a ``Dict`` with ``messages`` (the chat prompt, a fresh
    ``[system, user]`` pair each step), ``unit`` (the id of what is shown: a turn id or ``chunk N``),
    ``step``, ``memory_entries`` and ``memory_tokens``. Structured mode: a ``Box`` from
    :func:`~memgym.envs.spaces.featurize`.

    **Rewards.** Named components combined by a :class:`~memgym.rewards.compose.RewardComposer` with
    ``reward_weights`` (overlaid on the subclass's defaults):

    - ``qa``: the mean ``qa_metric`` score of the questions answered at this step (timing "questions"
      or "both");
    - ``qa_episode``: at the last step, the mean score of all the episode's questions (timing "end" or
      "both"; questions are still answered at their own point, only the payment waits);
    - ``format_penalty``: -1 for an unparsable action, else 0;
    - ``tool_success``: the share of this step's operations the bank accepted (0 on a parse error);
      ``tool_success_episode``: the same over the episode, at the last step (Mem-α);
    - ``compression``: at the last step, ``1 - memory tokens / tokens read`` (Mem-α, clipped to [0, 1]);
    - ``oracle_ops``: dense shaping, agreement of the applied op kinds with the synthetic oracle labels
      of the step's turns (only for episodes with labels; weight 0 by default).

    **info keys (API).** ``ops``: one dict per operation tried (``OpResult.to_dict``: op, ok, id,
    error, message). ``error``: ``None``, or for an unusable action a
    :class:`~memgym.envs.action_parser.ParseError` (``code``, ``message``; a frozen dataclass rather than
    a dict, so that vector envs can batch it beside ``None``).
    ``format``: the action format recognised. ``op_counts``: accepted operations by kind plus
    ``failed``. ``memory_entries`` / ``memory_tokens``: the bank's size after the step.
    ``reward_components``: the composer's log (``reward/<name>``, ``reward_weighted/<name>``,
    ``reward/total``). ``answers``: one dict per question answered at this step (``question_id``,
    ``question``, ``category``, ``prediction``, ``gold``, ``score``, ``correct`` = score is 1).
    ``evidence_recall``: when questions with evidence were answered, the share whose evidence turns are
    all in the provenance of the memories retrieved for them. ``episode_qa``: on the last step, the mean
    score over the episode's questions. Also ``episode_id`` and ``unit``. Reset's info has
    ``episode_id``, ``episode_index``, ``n_steps``, ``unit``, ``memory_entries``, ``memory_tokens``.

    **Vector environments.** ``gymnasium.vector.SyncVectorEnv`` works in both modes: in text mode the
    batched action is a tuple of strings (one per environment) and the batched observation a dict whose
    ``messages`` is a tuple of message lists and whose counts are arrays. ``AsyncVectorEnv`` needs
    ``shared_memory=False`` in text mode (text has no fixed-size shared buffer; Gymnasium says so with a
    ``ValueError``); the structured mode's ``Box`` / ``Dict`` of ``Discrete`` spaces work either way.
    ``info`` values become arrays (objects where needed) with Gymnasium's ``_key`` masks for keys some
    environments lack at a step (``evidence_recall``, ``episode_qa``).

    **State for G rollouts.** :meth:`get_state` / :meth:`set_state` snapshot and restore the episode,
    the bank and the RNG; :meth:`spawn` clones the environment in its current state cheaply (the bank is
    copied and a retriever is cloned for the copy).

    Args:
        episodes: the episode source: ``"synthetic"``, a path, or a list of episodes (anything
            :func:`memgym.envs.data.resolve_episodes` takes).
        episode_kwargs: keyword arguments for ``resolve_episodes`` (e.g. ``n_episodes``, ``seed``,
            ``config``); for ``"synthetic"`` without them, :data:`DEFAULT_SYNTHETIC_EPISODES` episodes.
        action_mode: ``"text"`` (LLM policies) or ``"structured"`` (compact, for RLlib and baselines).
        answer_agent: an :class:`~memgym.policies.base.AnswerAgent`; default the model-free
            :class:`~memgym.policies.extractive_answer.ExtractiveAnswerAgent`.
        answer_cache: an :class:`~memgym.rewards.cache.AnswerCache` shared across steps and clones.
        retriever: ``"bm25"`` or ``"dense"`` (see :func:`memgym.envs.retrieval.make_retriever`).
        retriever_kwargs: keyword arguments for the retriever.
        top_k: how many related memories a step shows (and the structured ``target`` range).
        answer_top_k: how many memories the answer agent gets per question.
        reward_timing: ``"questions"``, ``"end"`` or ``"both"`` (see Rewards).
        qa_metric: the metric of the ``qa`` components: ``"em"``, ``"f1"``, ``"locomo_f1"``, ``"bleu1"``.
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
    #: The bank's tiers (the first non-single-slot one is the default).
    tiers: ClassVar[tuple[str, ...]] = FLAT_TIERS
    single_slot_tiers: ClassVar[tuple[str, ...]] = ()
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
        answer_agent: AnswerAgent | None = None,
        answer_cache: Any | None = None,
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
        from memgym.rewards.compose import RewardComposer
        from memgym.rewards.metrics import METRICS

        check_choice("action_mode", action_mode, ACTION_MODES)
        check_choice("reward_timing", reward_timing, REWARD_TIMINGS)
        check_choice("qa_metric", qa_metric, tuple(METRICS))
        check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        for name, value in (
            ("top_k", top_k),
            ("answer_top_k", answer_top_k),
            ("n_candidates", n_candidates),
            ("feature_dim", feature_dim),
        ):
            if int(value) < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if episode_kwargs is None and (
            episodes is None or (isinstance(episodes, str) and episodes == "synthetic")
        ):
            episode_kwargs = {"n_episodes": DEFAULT_SYNTHETIC_EPISODES}
        self.episodes: list[Episode] = resolve_episodes(episodes, **(episode_kwargs or {}))
        if not self.episodes:
            raise ConfigError("the episode source is empty; give episodes= a dataset with episodes")
        self.action_mode, self.reward_timing, self.qa_metric = action_mode, reward_timing, qa_metric
        self.top_k, self.answer_top_k = int(top_k), int(answer_top_k)
        self.n_candidates, self.feature_dim = int(n_candidates), int(feature_dim)
        self.max_entries, self.max_tokens = max_entries, max_tokens
        self.render_mode = render_mode
        if answer_agent is None:
            from memgym.policies.extractive_answer import ExtractiveAnswerAgent

            answer_agent = ExtractiveAnswerAgent()
        self.answer_agent = answer_agent
        self.answer_cache = answer_cache
        self.retriever_name = retriever
        weights = {**self.default_reward_weights, **(reward_weights or {})}
        self.composer = RewardComposer(weights, known=REWARD_COMPONENTS)
        self.bank = self._make_bank()
        self.retriever = make_retriever(retriever, **(retriever_kwargs or {}))
        self.retriever.attach(self.bank)
        self._empty_bank = self.bank.snapshot()
        self.action_space, self.observation_space = self._make_spaces(max_action_chars, max_message_chars)
        self._progress: _Progress | None = None
        self._draft: _Draft | None = None
        self._notes: dict[str, Any] = {}
        self._units_cache: dict[int, list[Unit]] = {}
        self._index_cache: dict[str, Any] = {}  # question points and labels of the last episode started

    # ================================================================== hooks for subclasses
    def _make_bank(self) -> MemoryBank:
        """The bank this environment manages (one per environment, emptied at each reset)."""
        return MemoryBank(
            self.tiers,
            single_slot_tiers=self.single_slot_tiers,
            max_entries=self.max_entries,
            max_tokens=self.max_tokens,
        )

    def _build_units(self, episode: Episode) -> list[Unit]:
        """Split an episode into the units its steps show, in order."""
        raise NotImplementedError

    def _messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        """The chat prompt of the step that shows ``unit`` (``shown``: what :meth:`_shown` returned)."""
        raise NotImplementedError

    def _shown(self, unit: Unit) -> list[MemoryEntry]:
        """The memories a step shows: by default the ``top_k`` retrieved for the unit's text."""
        return self.retriever.retrieve(unit.text, self.top_k)

    def _parse_text(self, text: str, unit: Unit) -> tuple[list[Operation], list, ParseError | None, str]:
        """Text action -> (operations, search requests, error or None, format name)."""
        from memgym.envs.action_parser import parse_action

        parsed = parse_action(text, default_tier=self.bank.default_tier)
        return parsed.ops, parsed.searches, parsed.error, parsed.format

    def _decode_structured(self, action: dict, unit: Unit) -> tuple[list[Operation], ParseError | None]:
        """Structured action -> operations, against the memories and candidates the observation showed."""
        op = STRUCTURED_OPS[int(action["op"])]
        if op == "NOOP":
            return [Operation.noop()], None
        if op in ("ADD", "UPDATE"):
            content = int(action["content"])
            candidates = self._candidates(unit)
            if content >= len(candidates):
                return [], action_error(
                    "invalid_content",
                    f"content {content} is empty: this step has {len(candidates)} candidate text(s)",
                )
            text = candidates[content]
        tier = self.tiers[min(int(action["tier"]), len(self.tiers) - 1)]
        if op == "ADD":
            if tier in self.single_slot_tiers:
                return [Operation.update(None, text, tier=tier)], None
            return [Operation.add(text, tier=tier)], None
        shown = self._progress.shown  # type: ignore[union-attr]
        target = int(action["target"])
        if target >= len(shown):
            return [], action_error(
                "invalid_target", f"target {target} is empty: the observation showed {len(shown)} memorie(s)"
            )
        if op == "UPDATE":
            return [Operation.update(shown[target], text)], None
        return [Operation.delete(shown[target])], None

    def _candidates(self, unit: Unit) -> tuple[str, ...]:
        """The texts the structured ``content`` indexes: each turn as ``Speaker: text``, then its sentences."""
        return sentence_candidates(unit.turns, self.n_candidates)

    def _target_texts(self, shown: list[MemoryEntry]) -> list[str]:
        """The texts the structured ``target`` indexes (default: the shown memories)."""
        return [m.text for m in shown]

    def _answer_memories(self, question: Question) -> list[MemoryEntry]:
        """The memories the answer agent gets for ``question``, best first."""
        return self.retriever.retrieve(question.question, self.answer_top_k)

    def _n_targets(self) -> int:
        """How many targets the current observation offers the structured ``target``."""
        return len(self._progress.shown)  # type: ignore[union-attr]

    def _render_action(self, ops: list[Operation]) -> str:
        """Operations as the text this environment's prompt asks for (default: Mem0 JSON)."""
        from memgym.envs.prompts import format_mem0_action

        return format_mem0_action(ops, self.bank)

    def _unit_labels(self, unit: Unit) -> list[OpLabel]:
        return [lb for t in unit.turns for lb in self._progress.labels.get(t.id, ())]  # type: ignore[union-attr]

    def oracle_ops(self) -> list[Operation]:
        """The operations the synthetic oracle applies at the current step, given the current bank.

        The oracle labels of the step's turns are composed per fact slot (an ADD then an UPDATE inside one
        chunk is one ADD of the final text); slots are mapped to memory ids by following which memories
        the policy wrote with the oracle's exact text, so a policy that always follows the oracle gets
        the oracle's memory.

        Raises:
            ConfigError: the episode has no oracle labels (only synthetic data has them).
        """
        p = self._require_active()
        if not p.labels:
            raise ConfigError(f"episode {self.episode.id!r} has no oracle labels (synthetic data has them)")  # type: ignore[union-attr]
        slot_ids = {s: i for s, i in p.extra.get("slot_ids", {}).items() if i in self.bank}
        return compose_labels(self._unit_labels(p.units[p.cursor]), slot_ids)

    def oracle_action(self) -> Any:
        """The oracle's operations (:meth:`oracle_ops`) as the text this environment's prompt asks for."""
        if self.action_mode == "structured":
            raise ConfigError("oracle_action() writes text actions; use action_mode='text'")
        return self._render_action(self.oracle_ops())

    def random_action(self, rng: np.random.Generator | None = None) -> Any:
        """A random well-formed action for the current step: a random policy's choice.

        A random op (NOOP / ADD / UPDATE / DELETE) on a random shown memory with a random candidate text,
        as a structured action in structured mode, else rendered as the text the prompt asks for. Draws
        from ``rng`` (default: the action space's RNG, so it never disturbs the environment's own).
        """
        self._require_active()
        rng = rng if rng is not None else self.action_space.np_random
        unit, n_targets = self.current_unit, self._n_targets()
        candidates = self._candidates(unit)  # type: ignore[arg-type]
        op = int(rng.integers(len(STRUCTURED_OPS)))
        if STRUCTURED_OPS[op] in ("UPDATE", "DELETE") and n_targets == 0:
            op = STRUCTURED_OPS.index("ADD")
        if STRUCTURED_OPS[op] in ("ADD", "UPDATE") and not candidates:
            op = 0
        action = {
            "op": op,
            "target": int(rng.integers(max(1, min(n_targets, self.top_k)))),
            "content": int(rng.integers(max(1, len(candidates)))),
            "tier": int(rng.integers(len(self.tiers))),
        }
        if self.action_mode == "structured":
            return action
        ops, _ = self._decode_structured(action, unit)  # type: ignore[arg-type]
        return self._render_action(ops)

    def malformed_actions(self) -> list[Any]:
        """Actions that must be refused with ``info["error"]`` and change nothing (for the checker)."""
        if self.action_mode == "structured":
            return [{"op": 99, "target": 0, "content": 0, "tier": 0}, {}, "not a dict", None]
        return [
            "",
            "{not json",
            '{"memory": [{"event": "UPDATE", "text": "x"}]}',
            None,
            42,
            "\udcff\x00 <tool_call>{",
            '{"memory": [{"event": "ADD", "text": "ok"}, {"event": "FLY"}]}',
        ]

    # ================================================================== gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        """Start an episode: ``options={"episode_index": i}`` picks it, else ``self.np_random`` does."""
        super().reset(seed=seed)
        options = dict(options or {})
        index = options.pop("episode_index", None)
        if index is None:
            index = int(self.np_random.integers(len(self.episodes)))
        if not 0 <= int(index) < len(self.episodes):
            raise ConfigError(
                f"episode_index {index} is out of range: the source has {len(self.episodes)} episodes"
            )
        self._draft = None
        self._start(int(index), options)
        obs = self._observe()
        p = self._require_active()
        info = {
            "episode_id": self.episodes[p.episode_index].id,
            "episode_index": p.episode_index,
            "n_steps": len(p.units),
            "unit": p.units[p.cursor].id,
            **self._size(),
        }
        return obs, info

    def _start(self, index: int, options: dict) -> None:
        """Empty the bank and set up episode ``index`` (subclasses may use ``options``)."""
        if options:
            raise ConfigError(f"unknown reset option(s) {sorted(options)}; known: episode_index")
        self.bank.restore(self._empty_bank)
        self._progress = self._new_progress(index, self._units_for(index))

    def _units_for(self, index: int) -> list[Unit]:
        """The units of episode ``index``, built once (clones share the cache; units are immutable)."""
        if index not in self._units_cache:
            self._units_cache[index] = self._build_units(self.episodes[index])
        return self._units_cache[index]

    def _new_progress(self, index: int, units: list[Unit]) -> _Progress:
        """Fresh progress through ``units`` of episode ``index`` (indexes are cached per episode)."""
        episode = self.episodes[index]
        if not units:
            raise ConfigError(f"episode {episode.id!r} has no turns to step through")
        cache = self._index_cache
        if cache.get("labels_of") != index:
            labels: dict[str, list[OpLabel]] = {}
            for label in episode.op_labels:
                labels.setdefault(label.turn_id, []).append(label)
            cache.update(labels_of=index, labels=labels)
        if cache.get("points_of") != (index, id(units), len(units)):
            cache.update(points_of=(index, id(units), len(units)), points=question_points(episode, units))
        return _Progress(index, units, dict(cache["points"]), cache["labels"])

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """Apply the action, answer the questions asked at this point, and score."""
        request = self.begin_step(action)
        answers = answer_pending([request], self.answer_agent, self.answer_cache)[0]
        return self.end_step(answers)

    def begin_step(self, action: Any) -> AnswerRequest | None:
        """First half of :meth:`step`: apply the action; return the questions to answer (or ``None``)."""
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
        if p.labels and results:
            track_slots(p.extra.setdefault("slot_ids", {}), self._unit_labels(unit), results)
        if error is not None:
            p.op_counts["invalid_action"] += 1
        found = self._run_searches(searches) if error is None and searches else ""
        stay = bool(found) and p.search_round < self.search_rounds
        p.search_results = found if stay else ""
        if found:
            self._notes["search_results"] = found
        components = self._step_components(unit, results, error)
        questions = [] if stay else p.points.get(unit.index, [])
        memories = [self._answer_memories(q) for q in questions]
        self._draft = _Draft(unit, results, error, fmt, components, questions, memories, stay, self._notes)
        self._notes = {}
        if not questions:
            return None
        name = f"{getattr(self.answer_agent, 'name', type(self.answer_agent).__name__)}|{self.retriever_name}|k={self.answer_top_k}"
        return AnswerRequest(questions, memories, self.bank.content_hash(), name)

    def end_step(self, answers: Sequence[str] | None) -> tuple[Any, float, bool, bool, dict]:
        """Second half of :meth:`step`: score ``answers`` (to the request of :meth:`begin_step`)."""
        p, draft = self._require_active(), self._draft
        if draft is None:
            raise MemgymError("end_step() needs a begin_step() first")
        self._draft = None
        answers = list(answers or [])
        if len(answers) != len(draft.questions):
            raise MemgymError(f"{len(answers)} answers for {len(draft.questions)} questions")
        info: dict[str, Any] = {
            "episode_id": self.episodes[p.episode_index].id,
            "unit": draft.unit.id,
            **draft.notes,
        }
        rows = self._score(draft, answers, info)
        comps = draft.components
        if rows and self.reward_timing in ("questions", "both"):
            comps["qa"] = float(np.mean([r["score"] for r in rows]))
        if draft.stay:
            p.search_round += 1
        else:
            p.search_round = 0
            p.unit_tokens += draft.unit.n_tokens
            p.cursor += 1
        terminated = p.cursor >= len(p.units)
        if terminated:
            self._final_components(comps, info)
        reward, log = self.composer(comps)
        info.update(
            {
                "ops": [r.to_dict() for r in draft.results],
                "error": draft.error,
                "format": draft.fmt,
                "op_counts": _op_counts(draft.results),
                "reward_components": log,
                **self._size(),
            }
        )
        obs = self._final_observation() if terminated else self._observe()
        return obs, float(reward), terminated, False, info

    def render(self) -> str | None:
        """``"ansi"``: the memory and the current step as text."""
        if self.render_mode != "ansi":
            return None
        p = self._progress
        where = (
            "not started"
            if p is None
            else ("finished" if p.cursor >= len(p.units) else f"step {p.cursor}: {p.units[p.cursor].id}")
        )
        return f"[{type(self).__name__}] {where}\n{self.bank.render()}\n"

    # ================================================================== state for G rollouts
    def get_state(self) -> EnvState:
        """Snapshot the episode progress, the bank and the RNG."""
        if self._draft is not None:
            raise MemgymError("cannot snapshot between begin_step() and end_step()")
        progress = None if self._progress is None else self._progress.copy()
        return EnvState(progress, self.bank.snapshot(), copy.deepcopy(self.np_random.bit_generator.state))

    def set_state(self, state: EnvState) -> None:
        """Restore a snapshot taken by :meth:`get_state` (of this environment or one of its clones)."""
        self._draft = None
        self.bank.restore(state.bank)
        self._progress = None if state.progress is None else state.progress.copy()
        self.np_random.bit_generator.state = copy.deepcopy(state.rng_state)

    def spawn(self) -> MemoryEnv:
        """A clone in the current state, for G rollouts from one start: the bank is copied, the
        retriever cloned for the copy, the RNG duplicated; episodes, answer agent and cache are shared."""
        if self._draft is not None:
            raise MemgymError("cannot spawn between begin_step() and end_step()")
        clone = copy.copy(self)
        clone.bank = self.bank.copy()
        clone.retriever = self.retriever.clone_for(clone.bank)
        clone._np_random = copy.deepcopy(self.np_random)
        clone._progress = None if self._progress is None else self._progress.copy()
        clone.action_space = copy.deepcopy(self.action_space)
        clone.observation_space = copy.deepcopy(self.observation_space)
        return clone

    @property
    def episode(self) -> Episode | None:
        """The current episode (``None`` before the first reset)."""
        return None if self._progress is None else self.episodes[self._progress.episode_index]

    @property
    def current_unit(self) -> Unit | None:
        """What the current observation shows (``None`` when the episode is over)."""
        p = self._progress
        return None if p is None or p.cursor >= len(p.units) else p.units[p.cursor]

    # ================================================================== internals
    def _make_spaces(self, max_action_chars: int, max_message_chars: int) -> tuple[gym.Space, gym.Space]:
        if self.action_mode == "structured":
            return (
                structured_action_space(self.top_k, self.n_candidates, len(self.tiers)),
                structured_observation_space(self.top_k, self.n_candidates, self.feature_dim),
            )
        count = gym.spaces.Box(0, _INT_MAX, shape=(), dtype=np.int64)
        obs = gym.spaces.Dict(
            {
                "messages": ChatMessages(max_message_chars),
                "unit": UnicodeText(256),
                "step": count,
                "memory_entries": count,
                "memory_tokens": count,
            }
        )
        return UnicodeText(max_action_chars), obs

    def _require_active(self) -> _Progress:
        p = self._progress
        if p is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if p.cursor >= len(p.units):
            raise gym.error.ResetNeeded("the episode is over; call reset() to start another")
        return p

    def _decode(self, action: Any, unit: Unit) -> tuple[list[Operation], list, ParseError | None, str]:
        if self.action_mode == "text":
            return self._parse_text(action, unit)
        if not self.action_space.contains(action):
            return (
                [],
                [],
                action_error(
                    "invalid_action", f"{_short(action)} is not in the action space {self.action_space}"
                ),
                "structured",
            )
        ops, error = self._decode_structured(action, unit)
        return ops, [], error, "structured"

    def _stamp(self, op: Operation, unit: Unit) -> Operation:
        """Set provenance and time from what the step showed (never trusted from the policy)."""
        if op.kind not in ("ADD", "UPDATE"):
            return op
        return replace(op, provenance=tuple(t.id for t in unit.turns), timestamp=unit.date_time)

    def _run_searches(self, searches: list) -> str:
        """Answer ``memory_search`` calls as text for the next prompt (at most ``MAX_SEARCH_RESULTS`` each)."""
        lines = []
        for s in searches:
            if s.tier is not None and s.tier not in self.bank.tiers:
                lines.append(
                    f"search {s.query!r}: unknown tier {s.tier!r}; tiers are {list(self.bank.tiers)}"
                )
                continue
            k = min(s.top_k or self.top_k, MAX_SEARCH_RESULTS)
            found = self.retriever.retrieve(s.query, k, [s.tier] if s.tier else None)
            lines.append(f"search {s.query!r}:\n" + self.bank.render(entries=found, by_tier=False))
        return "\n".join(lines)

    def _step_components(self, unit: Unit, results: list[OpResult], error: ParseError | None) -> dict:
        from memgym.rewards.shaping import format_validity, oracle_op_agreement, tool_call_success_rate

        comps: dict[str, float | None] = dict.fromkeys(REWARD_COMPONENTS)
        comps["format_penalty"] = format_validity(error is None) - 1.0
        comps["tool_success"] = 0.0 if error is not None else tool_call_success_rate(results)
        if self._progress.labels:  # type: ignore[union-attr]
            comps["oracle_ops"] = oracle_op_agreement([r for r in results if r.ok], self._unit_labels(unit))
        return comps

    def _final_components(self, comps: dict, info: dict) -> None:
        from memgym.rewards.shaping import compression

        p = self._progress
        scores = list(p.scores.values())  # type: ignore[union-attr]
        if scores:
            info["episode_qa"] = float(np.mean(scores))
            if self.reward_timing in ("end", "both"):
                comps["qa_episode"] = info["episode_qa"]
        comps["compression"] = compression(self.bank.total_tokens, p.unit_tokens)  # type: ignore[union-attr]
        counts = p.op_counts  # type: ignore[union-attr]
        tried = sum(counts.values())
        bad = counts["failed"] + counts["invalid_action"]
        comps["tool_success_episode"] = 1.0 if tried == 0 else 1.0 - bad / tried

    def _score(self, draft: _Draft, answers: list[str], info: dict) -> list[dict]:
        from memgym.rewards.metrics import score_answers

        if not draft.questions:
            info["answers"] = []
            return []
        rows = score_answers(answers, draft.questions, metrics=(self.qa_metric,))
        out, covered = [], []
        for q, pred, row, mems in zip(draft.questions, answers, rows, draft.memories, strict=False):
            score = float(row[self.qa_metric])
            self._progress.scores[q.id] = score  # type: ignore[union-attr]
            out.append(
                {
                    "question_id": q.id,
                    "question": q.question,
                    "category": q.category,
                    "prediction": pred,
                    "gold": list(q.answers),
                    "score": score,
                    "correct": score >= 1.0,
                }
            )
            if q.evidence:
                provenance = {t for m in mems for t in m.provenance}
                covered.append(float(set(q.evidence) <= provenance))
        info["answers"] = out
        if covered:
            info["evidence_recall"] = float(np.mean(covered))
        return out

    def _observe(self) -> Any:
        p = self._progress
        unit = p.units[p.cursor]  # type: ignore[union-attr]
        shown = self._shown(unit)
        p.shown = [m.id for m in shown]  # type: ignore[union-attr]
        if self.action_mode == "structured":
            return self._features(self._candidates(unit), self._target_texts(shown))
        return self._text_observation(unit.id, self._messages(unit, shown))

    def _final_observation(self) -> Any:
        if self.action_mode == "structured":
            return self._features([], [])
        from memgym.envs.prompts import final_messages

        return self._text_observation("end", final_messages(self.final_system_prompt, self.bank))

    def _features(self, candidates: Sequence[str], targets: Sequence[str]) -> np.ndarray:
        p = self._progress
        if self.max_entries:
            fill = len(self.bank) / self.max_entries
        elif self.max_tokens:
            fill = self.bank.total_tokens / self.max_tokens
        else:
            fill = 1.0 - 1.0 / (1.0 + len(self.bank) / 100.0)
        return featurize(
            candidates,
            targets,
            n_candidates=self.n_candidates,
            n_targets=self.top_k,
            dim=self.feature_dim,
            fill=fill,
            progress=p.cursor / len(p.units),
        )  # type: ignore[union-attr]

    def _text_observation(self, unit_id: str, messages: list[dict[str, str]]) -> dict:
        def count(n: int) -> np.ndarray:
            return np.asarray(n, dtype=np.int64)

        return {
            "messages": messages,
            "unit": unit_id[:256],
            "step": count(self._progress.cursor),  # type: ignore[union-attr]
            "memory_entries": count(len(self.bank)),
            "memory_tokens": count(self.bank.total_tokens),
        }

    def _size(self) -> dict[str, int]:
        return {"memory_entries": len(self.bank), "memory_tokens": self.bank.total_tokens}


# ====================================================================== helpers
def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _op_counts(results: Sequence[OpResult]) -> dict[str, int]:
    counts = dict.fromkeys(("ADD", "UPDATE", "DELETE", "NOOP", "failed"), 0)
    for r in results:
        counts[r.op.kind if r.ok else "failed"] += 1
    return counts
