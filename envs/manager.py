"""``memgym/MemoryManager-v0``: the Memory-R1 memory manager, one step per turn (or extracted fact).

Memory-R1 (arXiv 2508.19828) trains a Memory Manager that, for each new fact, sees the related memories
retrieved from the bank and emits ADD / UPDATE / DELETE / NOOP; a frozen Answer Agent answers questions
from the bank, and the answer's exact match is the reward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from memgym.envs.action_parser import ParsedAction
from memgym.envs.answering import tied_questions
from memgym.envs.base import MemoryEnv
from memgym.envs.episode import Episode, Turn
from memgym.envs.units import Unit, check_choice, resolve_candidate_refs, sentence_candidates
from memgym.errors import ConfigError

MODES: tuple[str, ...] = ("episode", "single_step")
BUILDERS: tuple[str, ...] = ("oracle", "add_all", "empty")


class MemoryManagerEnv(MemoryEnv):
    """Memory-R1 style: each step shows one new turn (or fact) and the ``top_k`` related memories.

    **Description.** The policy decides how the memory changes with a set of ADD / UPDATE / DELETE /
    NOOP operations, written as Mem0 / Memory-R1 JSON ``{"memory": [{"id", "text", "event"}]}`` (tool
    calls are accepted too). What it writes is stamped with the turn's id (provenance) and session time.

    **Episode modes.** ``mode="episode"``: the whole conversation is one episode, one step per turn.
    ``mode="single_step"``: Memory-R1's training tuples: reset picks a turn (``options={"turn_id": ...}``
    or sampled with ``self.np_random``) among those that complete the evidence of some question, builds
    the bank from the earlier turns with ``builder``, and the single step is scored by the questions tied
    to that turn (those whose last evidence turn it is). Use :meth:`spawn` to score G sampled actions
    from the same state.

    **Action Space / Observation Space / Rewards / info.** See :class:`~memgym.envs.base.MemoryEnv`.
    Structured ``content`` indexes the candidate texts ``"Speaker: turn"`` and its sentences.

    **Starting State.** An empty bank (episode mode) or the builder's bank (single-step mode).

    **Episode End.** After the last turn (episode mode) or after the one step (single-step mode).

    Args:
        episodes: the episode source (see :class:`~memgym.envs.base.MemoryEnv`).
        mode: ``"episode"`` or ``"single_step"``.
        builder: how single-step mode builds the bank from the earlier turns: ``"oracle"`` (replay the
            synthetic oracle labels), ``"add_all"`` (ADD every earlier turn), ``"empty"``, or a policy:
            a memory-manager policy object (``act(observations, envs)``, e.g. a heuristic baseline; the
            trainers turn a registered policy's name into one) or a callable mapping this environment's
            observation to an action.
        single_step_turns: which turns single-step mode samples: ``"tied"`` (those completing some
            question's evidence, Memory-R1's tuples) or ``"all"`` (any turn: restatements and small talk
            too, scored by ``qa_pending`` where no question is tied to them) or ``"balanced"`` (any turn,
            half of the states on a turn some question cites as evidence and half on one none does: in
            LoCoMo a third of the turns are evidence, so under ``"all"`` a policy that cannot yet tell
            them apart learns to keep nothing).
        extractor: optional fact extraction, each fact becoming its own step: a name of
            :data:`memgym.envs.extractors.EXTRACTORS` (``"llm"``: Mem0's extraction prompt on a backend,
            ``"sentences"``: model-free) or a callable ``Turn -> list[str]``.
        extractor_kwargs: arguments of a named extractor (``llm``: ``backend``, ``model``, ``cache_path``...).
        numbered_candidates: list the step's candidate texts (the turn, then its sentences) in the prompt
            as ``#1``, ``#2``...; an ADD or UPDATE text may then be just ``#k``, meaning candidate ``k``, and
            the ``choices`` grammar offers those references instead of the texts. Why: a choice costs a
            few tokens instead of a copied sentence (a long conversation's evaluation is several times
            faster), and the decision sits in one token. Full texts are still accepted.
        word_counts: say in the prompt how many words the new message has. Why: on LoCoMo a turn's
            length is the strongest single sign that questions will cite it (ROC AUC 0.74 on conversation
            30, ``experiments/evidence_detection.py``), and a small model cannot count the words itself (an
            SFT warm start imitating a length rule reached 0.66); told the count, it can learn a threshold
            and what to weigh beside it.
        **kwargs: the base class's arguments.

    Version History:
        v0: initial version.
    """

    final_system_prompt = "You manage the long-term memory of a conversation (Memory-R1 memory manager)."

    def __init__(
        self,
        episodes: Any = "synthetic",
        *,
        mode: str = "episode",
        builder: str | Callable[[Any], Any] = "oracle",
        single_step_turns: str = "tied",
        extractor: str | Callable[[Turn], list[str]] | None = None,
        extractor_kwargs: dict | None = None,
        numbered_candidates: bool = False,
        word_counts: bool = False,
        **kwargs: Any,
    ) -> None:
        from memgym.envs.extractors import make_extractor

        check_choice("mode", mode, MODES)
        check_choice("single_step_turns", single_step_turns, ("tied", "all", "balanced"))
        self.single_step_turns = single_step_turns
        if isinstance(builder, str):
            check_choice("builder", builder, BUILDERS)
        self.mode, self.builder = mode, builder
        self.numbered_candidates = bool(numbered_candidates)
        self.word_counts = bool(word_counts)
        self.extractor = make_extractor(extractor, **(extractor_kwargs or {}))
        super().__init__(episodes, **kwargs)

    # ------------------------------------------------------------------ steps
    def build_units(self, episode: Episode) -> list[Unit]:
        from memgym.envs.extractors import extract_episode

        units: list[Unit] = []
        extracted = iter(extract_episode(self.extractor, episode) if self.extractor is not None else [])
        for session in episode.sessions:
            for turn in session.turns:
                facts = next(extracted) if self.extractor is not None else [turn.text]
                for j, fact in enumerate(facts):
                    units.append(
                        Unit(
                            index=len(units),
                            id=turn.id if len(facts) == 1 else f"{turn.id}#{j + 1}",
                            turns=(turn,),
                            text=fact,
                            date_time=session.date_time,
                            n_tokens=len(fact.split()),
                        )
                    )
        return units

    def candidates(self, unit: Unit) -> tuple[str, ...]:
        turn = unit.turns[0]
        return sentence_candidates([Turn(turn.id, turn.speaker, unit.text)], self.n_candidates)

    def action_grammar(self, style: str = "format", max_tokens: int = 72) -> str | None:
        """Mem0 JSON with one item (Memory-R1 decides one operation per fact); two under a capacity
        limit, so that a full bank can take a new memory (DELETE one, ADD the other)."""
        from memgym.envs.grammars import GRAMMAR_STYLES, mem0_grammar

        check_choice("style", style, GRAMMAR_STYLES)
        unit = self._require_active().units[self.progress.cursor]
        candidates = self.candidates(unit) if style == "choices" else ()
        if candidates and self.numbered_candidates:
            candidates = tuple(f"#{k}" for k in range(1, len(candidates) + 1))
        items = 2 if self.max_entries or self.max_tokens else 1
        return mem0_grammar(self._grammar_ids(), candidates=candidates, max_items=items, max_tokens=max_tokens)

    def build_messages(self, unit: Unit, shown: list) -> list[dict[str, str]]:
        from memgym.envs.prompts import manager_messages

        options = self.candidates(unit) if self.numbered_candidates else ()
        words = unit.n_tokens if self.word_counts else None  # build_units counts the text's words
        return manager_messages(unit.text, unit.turns[0].speaker, unit.date_time, shown, self.bank, options, words)

    def parse_text(self, text: Any, unit: Unit) -> ParsedAction:
        """Mem0 JSON or tool calls; with ``numbered_candidates``, a text ``#k`` is candidate ``k``."""
        parsed = super().parse_text(text, unit)
        if not self.numbered_candidates or not parsed.ops:
            return parsed
        return resolve_candidate_refs(parsed, self.candidates(unit))

    # ------------------------------------------------------------------ single-step mode
    def start_episode(self, index: int, options: dict) -> None:
        if self.mode == "episode":
            return super().start_episode(index, options)
        turn_id = options.pop("turn_id", None)
        if options:
            raise ConfigError(f"unknown reset option(s) {sorted(options)}; known: episode_index, turn_id")
        episode, units = self.episodes[index], self.units_for(index)
        tied = tied_questions(episode)
        anywhere = self.single_step_turns in ("all", "balanced")
        if turn_id is None:
            choices = list(dict.fromkeys(u.turns[0].id for u in units if anywhere or u.turns[0].id in tied))
            if self.single_step_turns == "balanced":  # half the states on an evidence turn, half not
                cited = episode.evidence_ids()
                evidence_side = bool(self.np_random.integers(2))
                side = [t for t in choices if (t in cited) == evidence_side]
                choices = side or choices
            if not choices:
                raise ConfigError(
                    f"episode {episode.id!r} has no question with evidence turns; "
                    "single_step mode scores a turn by the questions its evidence ties to it"
                )
            turn_id = choices[int(self.np_random.integers(len(choices)))]
        elif turn_id not in tied and not (anywhere and any(u.turns[0].id == turn_id for u in units)):
            raise ConfigError(
                f"turn {turn_id!r} of episode {episode.id!r} completes no question's evidence; "
                f"such turns are: {', '.join(sorted(tied)[:10])}"
            )
        first = next(i for i, u in enumerate(units) if u.turns[0].id == turn_id)
        target = [replace(u, index=i) for i, u in enumerate(u for u in units if u.turns[0].id == turn_id)]
        self.bank.restore(self._empty_bank)
        self._build_bank(index, units[:first])
        slot_ids = self._progress.extra.get("slot_ids", {}) if self._progress else {}
        progress = self.new_progress(index, target)
        progress.points = {len(target) - 1: tied.get(turn_id, [])}
        progress.extra["slot_ids"] = slot_ids
        self._progress = progress

    def _build_bank(self, index: int, before: list[Unit]) -> None:
        """Fill the (empty) bank from the units before the target turn, with ``self.builder``."""
        self._progress = self.new_progress(index, before) if before else None
        if not before or self.builder == "empty":
            return
        if self.builder == "oracle":
            from memgym.envs.oracle import replay_oracle

            slot_ids: dict[str, str] = {}
            oracle = self._progress.oracle or self.episodes[index]  # type: ignore[union-attr]
            replay_oracle(oracle, self.bank, until=before[-1].turns[0].id, slot_ids=slot_ids)
            self._progress.extra["slot_ids"] = slot_ids  # type: ignore[union-attr]
            return
        if self.builder == "add_all":
            from memgym.envs.operations import Operation

            self.bank.apply([self._stamp(Operation.add(self.candidates(u)[0]), u) for u in before])
            return
        p = self._progress
        for unit in before:  # a builder policy: step through the earlier turns without answering
            obs = self._observe()
            act = getattr(self.builder, "act", None)  # a memory-manager policy, or a plain callable
            action = act([obs], [self])[0] if act is not None else self.builder(obs)  # type: ignore[operator]
            ops, _, error, _ = self._decode(action, unit)
            if error is None and ops:
                self.bank.apply([self._stamp(op, unit) for op in ops])
            p.cursor += 1  # type: ignore[union-attr]

