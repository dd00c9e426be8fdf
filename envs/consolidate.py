"""``memgym/MemoryConsolidate-v0``: Retain / Delete / Consolidate raw episodes, and memory utility over time.

"Useful Memories Become Faulty When Continuously Updated by LLMs" (arXiv 2605.12978) finds that as an
LLM keeps consolidating its memories, their utility first rises, then degrades, and can fall below
having no memory at all; in its ARC-AGI Stream environment with Retain, Delete and Consolidate actions,
agents that keep raw episodes by default double the accuracy of forced consolidation, and disabling
consolidation matches the automatic regime. This environment asks the same question of conversational
memory: *when should a memory consolidate, and what does it cost?*
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import memgym.rewards.consolidation  # noqa: F401  (registers this environment's reward components)
from memgym.envs.action_parser import ParsedAction, ParseError
from memgym.envs.answering import AnswerRequest, pending_points
from memgym.envs.answering.scoring import score_step_answers
from memgym.envs.base import MemoryEnv
from memgym.envs.consolidate_actions import (
    CONSOLIDATED,
    EPISODIC,
    REGIMES,
    Decision,
    check_decisions,
    decision_grammar,
    merge_proposals,
    merge_texts,
    parse_decisions,
    render_decisions,
    to_operations,
)
from memgym.envs.episode import Episode, Question
from memgym.envs.memory_bank import MemoryEntry, prompt_text
from memgym.envs.operations import Operation
from memgym.envs.spaces import STRUCTURED_OPS
from memgym.envs.units import Unit, action_error, check_choice
from memgym.errors import ConfigError

EPISODE_ENTRIES: tuple[str, ...] = ("turn", "session")
#: Which questions a utility point scores: those answerable so far, or the fixed set asked at the end.
UTILITY_SETS: tuple[str, ...] = ("answerable", "final")

SYSTEM = """\
You curate the long-term memory of a conversation that arrives one round (a session) at a time; later, \
questions about the conversation are answered from this memory alone. It holds raw episodes \
(<episodic>: turns as they were said) and consolidated abstractions (<consolidated>: entries written \
to replace others). After each round, decide about entries by id:
- RETAIN: keep them as they are (entries no decision names are retained);
- DELETE: remove them (small talk, noise, what is no longer needed);
- CONSOLIDATE: replace several entries by one text you write; it must keep every fact they state that \
may be asked about (names, values, codes, dates, and how facts changed, the newest last).
{rule}
Reply with JSON only: {{"decisions": [{{"action": "RETAIN|DELETE|CONSOLIDATE", "ids": ["<id>", ...], \
"text": "<the abstraction, for CONSOLIDATE>"}}]}}
{{"decisions": []}} keeps everything."""
RULES = {
    "automatic": "You decide whether and when to consolidate.",
    "forced": "In this regime every raw episode must be consolidated (alone or with others) or deleted in "
              "the round it arrives.",
    "episodic": "In this regime consolidation is disabled: RETAIN or DELETE only.",
}
USER = """\
{memory}

Round {round} of {rounds} ({when}), its new raw episodes:
<new>
{new}
</new>"""


@dataclass(frozen=True)
class RoundReport:
    """What one consolidation round measured, read by the reward components of
    :mod:`memgym.rewards.consolidation` (``None``: not measured at this step)."""

    utility: float | None = None
    utility_no_memory: float | None = None
    faithfulness: float | None = None
    faithfulness_qa: float | None = None


@dataclass
class _Probes:
    """The questions a step adds to its answer request, after the environment's own ``n_own``."""

    n_own: int
    utility: list[Question]
    utility_memories: list[list[MemoryEntry]]
    no_memory: list[Question]
    faith: list[tuple[Question, list[MemoryEntry], list[MemoryEntry]]]
    measure: bool
    groups: list[tuple[list[MemoryEntry], MemoryEntry]]


class MemoryConsolidateEnv(MemoryEnv):
    """Raw episodes enter the memory each round; the policy retains, deletes or consolidates entries.

    **Description.** Each step is one consolidation round: ``sessions_per_round`` sessions. The
    observation shows the whole memory and the round's new raw episodes (:meth:`new_episodes`: one per
    turn with ``episode_entry="turn"``, or per session, ids ``n1``, ``n2``, ...); the action decides
    Retain / Delete / Consolidate about any of them (see :mod:`memgym.envs.consolidate_actions`). New
    episodes no decision removes enter the ``episodic`` tier with their turn ids as provenance; a
    consolidated entry goes to the ``consolidated`` tier, its provenance the union of its sources'. A
    refused action lets nothing in (the round's episodes are lost, as a refused turn is in
    MemoryManager). ``regime``: ``"automatic"`` (the policy decides), ``"forced"`` (every raw episode
    must be consolidated or deleted in its round: an action leaving one is refused) or ``"episodic"``
    (consolidation refused).

    **Memory utility over time.** After every ``utility_every`` rounds (and the last), every question
    answerable so far (its evidence shown, not yet past its asking point, or asked now; or with
    ``utility_set="final"`` every question asked at the end) is answered from the memory and with no
    memory at all, in the same answer-agent call as the step's own questions.

    **Action Space.** Text: the decisions JSON (:func:`~memgym.envs.consolidate_actions.render_decisions`).
    Structured: NOOP retains all, DELETE deletes the ``target``-th shown entry, ADD consolidates the
    ``content``-th model-free merge proposal (:meth:`candidates`), UPDATE rewrites the ``target``-th entry
    as a one-entry consolidation; in the forced regime, the raw episodes such an action leaves are
    consolidated one by one, verbatim. **Observation Space / Rewards.** See
    :class:`~memgym.envs.base.MemoryEnv`; defaults add ``compression`` 0.05 and
    ``consolidation_faithfulness`` 0.5 (:mod:`memgym.rewards.consolidation`).

    **info keys** (beyond the base class's). ``consolidation``: ``groups`` (consolidations applied),
    ``sources``, ``faithfulness`` (answer support kept, see the reward) and ``faithfulness_qa`` (with
    ``faithfulness_probes``). ``utility`` (measured rounds): ``round``, ``unit``, ``n_questions``, ``qa``,
    ``qa_no_memory``, ``correct``, ``memory_entries``, ``episodic``, ``consolidated``, ``memory_tokens``,
    ``consolidations`` (so far) and ``max_depth`` (most consolidations stacked in one entry).
    ``utility_curve``: on the last step, every ``utility`` point of the episode.

    **Starting State.** An empty memory and the first round's episodes. **Episode End.** After the last
    round.

    Args:
        episodes: ``"streams"`` (:func:`memgym.envs.data.synthetic.streams.generate_streams` with
            ``episode_kwargs``), or any source of :class:`~memgym.envs.base.MemoryEnv`.
        regime: ``"automatic"``, ``"forced"`` or ``"episodic"``.
        sessions_per_round: sessions per consolidation round (``k``).
        episode_entry: a raw episode is a ``"turn"`` or a whole ``"session"``.
        utility_every: measure utility every this many rounds (0: never).
        utility_set: the questions of a utility point: ``"answerable"`` (so far, see
            :meth:`utility_questions`) or ``"final"`` (the fixed set asked at the end, scored against
            their final answers from the first round on: the curve rises as evidence arrives).
        faithfulness_probes: also measure faithfulness with the answer agent (``faithfulness_qa``;
            two more questions per source question and consolidation).
        merge_words: the word budget of the model-free merge behind the structured candidates.
        **kwargs: the base class's arguments.

    Version History:
        v0: initial version.
    """

    tiers = (EPISODIC, CONSOLIDATED)
    default_reward_weights = {"qa": 1.0, "qa_episode": 1.0, "format_penalty": 0.1, "compression": 0.05,
                              "consolidation_faithfulness": 0.5}
    final_system_prompt = "You curate the memory of a conversation: raw episodes and consolidated abstractions."

    def __init__(self, episodes: Any = "streams", *, regime: str = "automatic", sessions_per_round: int = 1,
                 episode_entry: str = "turn", utility_every: int = 1, utility_set: str = "answerable",
                 faithfulness_probes: bool = False, merge_words: int = 40, **kwargs: Any) -> None:
        check_choice("regime", regime, REGIMES)
        check_choice("utility_set", utility_set, UTILITY_SETS)
        check_choice("episode_entry", episode_entry, EPISODE_ENTRIES)
        for name, value, least in (("sessions_per_round", sessions_per_round, 1),
                                   ("utility_every", utility_every, 0), ("merge_words", merge_words, 1)):
            if int(value) < least:
                raise ConfigError(f"{name} must be at least {least}, got {value}")
        self.regime, self.episode_entry, self.utility_set = regime, episode_entry, utility_set
        self.sessions_per_round, self.utility_every = int(sessions_per_round), int(utility_every)
        self.merge_words = int(merge_words)
        if isinstance(episodes, str) and episodes == "streams":
            from memgym.envs.data.synthetic.streams import generate_streams

            episodes = generate_streams(**(kwargs.pop("episode_kwargs", None) or {}))
        #: The measurements of the step being finished (read by reward components), else ``None``.
        self.round_report: RoundReport | None = None
        self._probes: _Probes | None = None
        self._consolidations: list[list[MemoryEntry]] = []
        self._utility_cache: dict[int, dict[int, list[Question]]] = {}
        self._sessions_cache: dict[int, dict] = {}
        super().__init__(episodes, **kwargs)
        self.probe_faithfulness = bool(faithfulness_probes or self.composer.weights.get("consolidation_qa_faithfulness"))

    # ------------------------------------------------------------------ rounds and raw episodes
    def build_units(self, episode: Episode) -> list[Unit]:
        sessions = [s for s in episode.sessions if s.turns]
        units: list[Unit] = []
        for start in range(0, len(sessions), self.sessions_per_round):
            group = sessions[start : start + self.sessions_per_round]
            turns = tuple(t for s in group for t in s.turns)
            span = group[0].id if len(group) == 1 else f"{group[0].id}-{group[-1].id}"
            units.append(Unit(index=len(units), id=f"round {len(units) + 1} ({span})", turns=turns,
                              text="\n".join(f"{t.speaker}: {t.text}" for t in turns),
                              date_time=group[-1].date_time, n_tokens=sum(len(t.text.split()) + 1 for t in turns)))
        return units

    def new_episodes(self, unit: Unit | None = None) -> list[MemoryEntry]:
        """The raw episodes a round brings (the current one by default), not in the bank yet: ids ``n1``,
        ``n2``, ..., their turn ids as provenance, their session's time."""
        unit = unit if unit is not None else self.current_unit
        if unit is None:
            return []
        index = self.progress.episode_index
        if index not in self._sessions_cache:
            self._sessions_cache[index] = self.episodes[index].session_of()
        session_of = self._sessions_cache[index]
        if self.episode_entry == "turn":
            groups = [[t] for t in unit.turns if t.text.strip()]
        else:
            by_session: dict[str, list] = {}
            for t in unit.turns:
                if t.text.strip():
                    by_session.setdefault(session_of[t.id].id, []).append(t)
            groups = list(by_session.values())
        return [MemoryEntry(f"n{i}", "\n".join(f"{t.speaker}: {t.text.strip()}" for t in turns), EPISODIC,
                            session_of[turns[0].id].date_time, tuple(t.id for t in turns))
                for i, turns in enumerate(groups, start=1)]

    def build_messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        p = self.progress
        new = self.bank.render(entries=self.new_episodes(unit), by_tier=False, empty="(none)")
        user = USER.format(round=unit.index + 1, rounds=len(p.units), when=prompt_text(unit.date_time or "time unknown"),
                           memory=self.bank.render(), new=new)
        return [{"role": "system", "content": SYSTEM.format(rule=RULES[self.regime])},
                {"role": "user", "content": user}]

    # ------------------------------------------------------------------ actions
    def parse_text(self, text: Any, unit: Unit) -> ParsedAction:
        self._consolidations = []
        decisions, error = parse_decisions(text)
        return ParsedAction(error=error) if error is not None else self._apply_checks(decisions)

    def _apply_checks(self, decisions: Sequence[Decision]) -> ParsedAction:
        """Decisions -> operations, refused whole when the regime, the ids or the bank refuse a part."""
        new = self.new_episodes()
        error = check_decisions(decisions, self.bank, self.regime, new)
        if error is not None:
            return ParsedAction(error=error)
        ops = to_operations(decisions, self.bank, new)
        refused = [r for r in self.bank.copy().apply(ops) if not r.ok]
        if refused:
            return ParsedAction(error=action_error("refused_by_bank", f"{refused[0].message}; nothing was applied"))
        pending = {e.id: e for e in new}
        self._consolidations = [[pending[i] if i in pending else MemoryEntry.from_dict(self.bank.get(i).to_dict())  # type: ignore[union-attr]
                                 for i in d.ids] for d in decisions if d.kind == "CONSOLIDATE"]
        return ParsedAction(ops=ops, format="decisions", n_items=len(decisions))  # type: ignore[arg-type]

    def _stamp(self, op: Operation, unit: Unit) -> Operation:
        """Entries keep the provenance computed here from their sources (never read from the policy): a
        raw episode its turns, a consolidation the union of its sources'."""
        return op

    def render_action(self, ops: Sequence[Operation | Decision]) -> str:  # type: ignore[override]
        """Decisions (or operations: see :func:`~memgym.envs.consolidate_actions.decisions_from_ops`) as text."""
        return render_decisions(ops)

    def action_grammar(self, style: str = "format", max_tokens: int = 256) -> str | None:
        """The decisions JSON over the memory's ids (no CONSOLIDATE in the episodic regime); both styles."""
        self._require_active()
        ids = [e.id for e in [*self.new_episodes(), *self.bank.entries()]]
        return decision_grammar(ids, consolidate=self.regime != "episodic",
                                max_tokens=max_tokens)

    def proposals(self) -> list[Decision]:
        """The model-free merge's CONSOLIDATE proposals for the current memory (the structured candidates)."""
        speakers = tuple(self.episode.speakers) if self.episode is not None else ()
        entries = [*self.bank.entries(), *self.new_episodes()]
        return merge_proposals(entries, speakers, max_words=self.merge_words)[: self.n_candidates]

    def candidates(self, unit: Unit) -> tuple[str, ...]:
        return tuple(d.text or "" for d in self.proposals())

    def _structured_decisions(self, action: dict, unit: Unit) -> tuple[list[Decision], ParseError | None]:
        kind, shown = STRUCTURED_OPS[int(action["op"])], self.progress.shown
        target, content = int(action["target"]), int(action["content"])
        decisions: list[Decision] = []
        if kind == "ADD":
            proposals = self.proposals()
            if content >= len(proposals):
                return [], action_error("invalid_content", f"content {content} is empty: {len(proposals)} proposal(s)")
            decisions = [proposals[content]]
        elif kind in ("UPDATE", "DELETE"):
            if target >= len(shown):
                return [], action_error("invalid_target", f"target {target} is empty: {len(shown)} entrie(s) shown")
            entry = self.bank.get(shown[target])
            decisions = [Decision.delete([shown[target]]) if kind == "DELETE" else
                         Decision.consolidate([shown[target]], merge_texts([entry.text], self.merge_words))]  # type: ignore[union-attr]
        if self.regime == "forced":
            named = {i for d in decisions for i in d.ids}
            raw = [*self.new_episodes(unit), *self.bank.entries(EPISODIC)]
            decisions += [Decision.consolidate([e.id], e.text) for e in raw if e.id not in named]
        return decisions, None

    def decode_structured(self, action: dict, unit: Unit) -> tuple[list[Operation], ParseError | None]:
        self._consolidations = []
        decisions, error = self._structured_decisions(action, unit)
        parsed = ParsedAction(error=error) if error is not None else self._apply_checks(decisions)
        return parsed.ops, parsed.error

    def random_action(self, rng: np.random.Generator | None = None) -> Any:
        """A random well-formed action (see :func:`memgym.envs.structured.random_action`), as decisions in text mode."""
        from memgym.envs import structured

        unit = self._require_active().units[self.progress.cursor]
        rng = rng if rng is not None else self.action_space.np_random
        if self.action_mode == "structured":
            return structured.random_action(self, rng)
        action = {"op": int(rng.integers(len(STRUCTURED_OPS))), "target": int(rng.integers(max(1, len(self.progress.shown)))),
                  "content": int(rng.integers(max(1, len(self.candidates(unit))))), "tier": 0}
        decisions, error = self._structured_decisions(action, unit)
        return render_decisions([] if error is not None else decisions)

    def malformed_actions(self) -> list[Any]:
        if self.action_mode == "structured":
            return super().malformed_actions()
        some = next((e.id for e in [*self.bank.entries(), *self.new_episodes()]), "n1")
        out: list[Any] = ["", "{not json", None, 42, "\udcff\x00 <tool_call>{", '{"decisions": "all"}',
                          render_decisions([Decision.delete(["no-such-id"])]),
                          json.dumps({"decisions": [{"action": "FLY", "ids": [some]}]}),
                          json.dumps({"decisions": [{"action": "CONSOLIDATE", "ids": [some]}]}),
                          render_decisions([Decision.delete([some]), Decision.retain([some])])]
        if self.regime == "episodic":
            out.append(render_decisions([Decision.consolidate([some], "x")]))
        if self.regime == "forced" and (self.new_episodes() or self.bank.entries(EPISODIC)):
            out.append('{"decisions": []}')
        return out

    # ------------------------------------------------------------------ the oracle
    def oracle_decisions(self) -> list[Decision]:
        """The right choices from the episode's labels: delete noise (small talk, replies, restatements,
        distractors) and retracted facts; per fact slot, one consolidated entry with the slot's oracle
        text (never across two slots, so never across two people); in the episodic regime, retain facts.

        Raises:
            ConfigError: the episode has no oracle labels.
        """
        p = self._require_active()
        if not p.oracle:
            raise ConfigError(f"episode {self.episode.id!r} has no oracle labels (synthetic data has them)")  # type: ignore[union-attr]
        state: dict[str, str | None] = {}
        for unit in p.units[: p.cursor + 1]:
            for label in self.unit_labels(unit):
                if label.slot is not None and label.kind in ("ADD", "UPDATE", "DELETE"):
                    state[label.slot] = label.text if label.kind != "DELETE" else None
        groups: dict[str, list[MemoryEntry]] = {}
        noise: list[str] = []
        for e in [*self.bank.entries(), *self.new_episodes()]:
            slots = [lb.slot for lb in p.oracle.labels(e.provenance) if lb.slot and lb.kind in ("ADD", "UPDATE", "DELETE")]
            if slots:
                groups.setdefault(slots[-1], []).append(e)
            else:
                noise.append(e.id)
        out = [Decision.delete(noise)] if noise else []
        for slot, entries in groups.items():
            text = state.get(slot)
            if text is None:
                out.append(Decision.delete([e.id for e in entries]))
            elif self.regime != "episodic" and not (len(entries) == 1 and entries[0].tier == CONSOLIDATED
                                                    and entries[0].text == text and entries[0].id in self.bank):
                out.append(Decision.consolidate([e.id for e in entries], text))
        return out

    def oracle_ops(self) -> list[Operation]:
        return to_operations(self.oracle_decisions(), self.bank, self.new_episodes())

    def oracle_action(self) -> Any:
        if self.action_mode == "structured":
            raise ConfigError("oracle_action() writes text actions; use action_mode='text'")
        return render_decisions(self.oracle_decisions())

    # ------------------------------------------------------------------ utility and faithfulness
    def utility_questions(self, unit_index: int) -> list[Question]:
        """The questions answerable after round ``unit_index``: evidence all shown and not yet past
        their asking point (:func:`~memgym.envs.answering.pending_points`), plus those asked now."""
        p = self.progress
        cache = self._utility_cache.get(p.episode_index)
        if cache is None:
            pending = pending_points(self.episodes[p.episode_index], p.units)
            cache = {u.index: list({q.id: q for q in (*pending.get(u.index, []), *p.points.get(u.index, []))}.values())
                     for u in p.units}
            self._utility_cache[p.episode_index] = cache
        return cache.get(unit_index, [])

    @property
    def utility_curve(self) -> list[dict]:
        """The utility points measured so far in the episode (``info["utility"]`` of each measured round)."""
        return list(self.progress.extra.get("curve", []))

    def begin_step(self, action: Any) -> AnswerRequest | None:
        self._consolidations, self.round_report = [], None
        request = super().begin_step(action)
        p, draft = self.progress, self._draft
        added = [r for r in draft.results if r.ok and r.op.kind == "ADD" and r.op.tier == CONSOLIDATED]  # type: ignore[union-attr]
        groups = [(src, self.bank.get(r.id)) for src, r in zip(self._consolidations, added, strict=False)]
        last = draft.unit.index == len(p.units) - 1  # type: ignore[union-attr]
        measure = bool(self.utility_every) and (last or (draft.unit.index + 1) % self.utility_every == 0)  # type: ignore[union-attr]
        answerable = self.utility_questions(draft.unit.index)  # type: ignore[union-attr]
        if self.utility_set == "final":
            utility = p.points.get(p.units[-1].index, []) if measure else []
        else:
            utility = answerable if measure else []
        known = p.extra.setdefault("no_memory", {})
        no_memory = [q for q in utility if q.id not in known]
        faith = [(q, src, [new]) for src, new in groups for q in _source_questions(answerable, src)] \
            if self.probe_faithfulness else []
        own = request.questions if request is not None else []
        memories = [self._memories_for(q) for q in utility]
        self._probes = _Probes(len(own), utility, memories, no_memory, faith, measure, groups)  # type: ignore[arg-type]
        extra_q = [*utility, *no_memory, *(q for q, _, _ in faith for _ in (0, 1))]
        extra_m = [*memories, *([] for _ in no_memory),
                   *(m for _, src, new in faith for m in (src[::-1], new))]
        if not extra_q:
            return request
        return AnswerRequest([*own, *extra_q], [*(request.memories if request is not None else []), *extra_m])

    def end_step(self, answers: Sequence[str] | None) -> tuple[Any, float, bool, bool, dict]:
        probes, self._probes = self._probes, None
        if probes is None:
            return super().end_step(answers)
        answers = list(answers or [])
        own, rest = answers[: probes.n_own], answers[probes.n_own :]
        notes = self._draft.notes  # type: ignore[union-attr]
        self.round_report = self._measure(probes, rest, notes)
        try:
            obs, reward, terminated, truncated, info = super().end_step(own)
        finally:
            self.round_report = None
        if terminated:
            info["utility_curve"] = list(self.progress.extra.get("curve", []))
        return obs, reward, terminated, truncated, info

    def _measure(self, probes: _Probes, answers: list[str], notes: dict) -> RoundReport:
        """Score the probes: the round's utility point, faithfulness; record them in ``notes`` (-> info)."""
        from memgym.rewards.consolidation import kept_share

        p, metric = self.progress, self.qa_metric
        n_u, n_n = len(probes.utility), len(probes.no_memory)
        rows, _ = score_step_answers(probes.utility, answers[:n_u], probes.utility_memories, metric)
        blank, _ = score_step_answers(probes.no_memory, answers[n_u : n_u + n_n], [[] for _ in probes.no_memory], metric)
        known = p.extra["no_memory"]
        known.update({r["question_id"]: r["score"] for r in blank})
        depth = p.extra.setdefault("depth", {})
        for src, new in probes.groups:
            depth[new.id] = 1 + max((depth.get(e.id, 0) for e in src), default=0)
        p.extra["consolidations"] = p.extra.get("consolidations", 0) + len(probes.groups)
        answerable = self.utility_questions(self._draft.unit.index)  # type: ignore[union-attr]
        support = kept_share([(q.answers, src, new) for src, new in probes.groups for q in _source_questions(answerable, src)])
        faith_qa = None
        if probes.faith:
            fa = answers[n_u + n_n :]
            scored, _ = score_step_answers([q for q, _, _ in probes.faith for _ in (0, 1)], fa,
                                           [m for _, s, n in probes.faith for m in (s, n)], metric)
            pairs = [(scored[2 * i]["score"], scored[2 * i + 1]["score"]) for i in range(len(probes.faith))]
            total = sum(s for s, _ in pairs)
            faith_qa = None if total == 0 else sum(min(s, c) for s, c in pairs) / total
        notes["consolidation"] = {"groups": len(probes.groups), "sources": sum(len(s) for s, _ in probes.groups),
                                  "faithfulness": support, "faithfulness_qa": faith_qa}
        report = RoundReport(faithfulness=support, faithfulness_qa=faith_qa)
        if probes.measure:
            point = self._point(rows, [known[q.id] for q in probes.utility])
            p.extra.setdefault("curve", []).append(point)
            notes["utility"] = point
            report = RoundReport(point["qa"], point["qa_no_memory"], support, faith_qa)
        return report

    def _point(self, rows: list[dict], blank: list[float]) -> dict:
        p, unit, depth = self.progress, self._draft.unit, self.progress.extra.get("depth", {})  # type: ignore[union-attr]
        consolidated = self.bank.entries(CONSOLIDATED)
        return {"round": unit.index + 1, "unit": unit.id, "n_questions": len(rows),
                "qa": float(np.mean([r["score"] for r in rows])) if rows else None,
                "qa_no_memory": float(np.mean(blank)) if blank else None,
                "correct": sum(bool(r["correct"]) for r in rows), "memory_entries": len(self.bank),
                "episodic": len(self.bank.entries(EPISODIC)), "consolidated": len(consolidated),
                "memory_tokens": self.bank.total_tokens, "consolidations": int(p.extra.get("consolidations", 0)),
                "max_depth": max((depth.get(e.id, 1) for e in consolidated), default=0)}


def _source_questions(questions: Sequence[Question], sources: Sequence[MemoryEntry]) -> list[Question]:
    """The questions whose evidence is (partly) in the provenance of ``sources``."""
    provenance = {t for e in sources for t in e.provenance}
    return [q for q in questions if provenance.intersection(q.evidence)]


__all__ = ["EPISODE_ENTRIES", "UTILITY_SETS", "MemoryConsolidateEnv", "RoundReport"]
