"""Consolidation streams: seeded conversations where a faulty consolidation shows in the answers.

The data of ``memgym/MemoryConsolidate-v0`` (:mod:`memgym.envs.consolidate`). A user tells an assistant,
session by session, about the people around her. Each stream holds the three things that a summary of
raw episodes gets wrong, each with questions that fail when it does:

- **facts that change** ("Ana moved from Lyon to Oslo"): a merge that loses the order, or keeps only
  the first statement, answers the stale value (categories ``update`` and ``temporal``, "before");
- **near-duplicates that must not be merged**: pairs of people with near-identical names and the same
  relation and attributes ("Ana" and "Ann", both colleagues), named together in small talk, so an
  overlap-based merge puts both into one entry and answers one's value for the other (category
  ``near-duplicate``; the other person's values are among the question's candidates);
- **details a summary tends to drop**: a one-off code ("Ana's locker code is 4172") stated once and never
  repeated (category ``detail``): a gist keeps what recurs and drops it.

Stable facts of people without a near-duplicate (category ``stable``) are the control.

**Oracle labels.** Every turn has an :class:`~memgym.envs.episode.OpLabel` in the synthetic generator's
schema: small talk and the assistant's replies ``NOOP`` without a slot (noise a curator deletes),
restatements ``NOOP`` with the slot, facts ``ADD`` / ``UPDATE`` with the slot and the self-contained memory
text a perfect consolidator writes for it (the newest value last, the change history in order). The
consolidation oracle (:meth:`memgym.envs.consolidate.MemoryConsolidateEnv.oracle_decisions`) turns them
into Retain / Delete / Consolidate: one consolidated entry per slot, never across two people.

Determinism: stream ``i`` of seed ``s`` is drawn from its own ``random.Random("memgym-streams:s:i")``.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

from memgym.envs.data import _vocab as V
from memgym.envs.data.synthetic.config import ASSISTANT_NAME
from memgym.envs.episode import Episode, OpLabel, Question, Session, Turn
from memgym.errors import ConfigError

__all__ = ["NEAR_DUPLICATE_NAMES", "STREAM_CATEGORIES", "StreamConfig", "generate_streams", "stream_episode"]

#: Pairs of names a word-overlap merge confuses (distinct whole words, so exact match still separates them).
NEAR_DUPLICATE_NAMES: tuple[tuple[str, str], ...] = (
    ("Ana", "Ann"), ("Mark", "Marc"), ("Lena", "Lina"), ("Eric", "Erik"), ("Sara", "Sarah"), ("Jon", "Joan"),
)
_SINGLE_NAMES: tuple[str, ...] = ("Kofi", "Priya", "Tomas", "Yara", "Diego", "Freya")
STREAM_CATEGORIES: tuple[str, ...] = ("update", "temporal", "near-duplicate", "detail", "stable")
_ATTRS: tuple[str, ...] = ("city", "job", "car", "hobby")
_DETAILS: tuple[str, ...] = ("locker code", "gate code", "bike lock code", "desk number")
_STATE = {"city": "{n} lives in {v}.", "job": "{n} works as {a_v}.", "car": "{n} drives {a_v}.",
          "hobby": "{n}'s hobby is {v}."}
_CHANGE = {"city": "{n} moved from {old} to {v}.", "job": "{n} changed jobs from {old} to {v}.",
           "car": "{n} sold the {old} and now drives {a_v}.", "hobby": "{n} gave up {old} for {v}."}
_ASK = {"city": "Where does {n} live now?", "job": "What is {n}'s job now?",
        "car": "What car does {n} drive now?", "hobby": "What is {n}'s hobby now?"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


@dataclass
class StreamConfig:
    """The knobs of :func:`generate_streams` (YAML keys map one-to-one onto these fields)."""

    n_pairs: int = 2
    """pairs of near-duplicate people (similar names, same relation, same attributes)"""
    n_singles: int = 1
    """people without a near-duplicate"""
    attrs_per_person: int = 2
    """facts per person, out of city, job, car, hobby"""
    details_per_person: int = 1
    """one-off details (codes) per person, stated once"""
    n_sessions: int = 8
    """sessions in the stream (with ``sessions_per_round=1``, one consolidation round each)"""
    change_rate: float = 0.3
    """per session after a fact is stated, the chance that it changes (at most twice)"""
    restate_rate: float = 0.2
    """per session after a fact is stated, the chance that it is restated"""
    small_talk: int = 2
    """small-talk turns per session; the first names a near-duplicate pair together"""
    mid_stream_fraction: float = 0.3
    """share of the current-value questions asked at the end of a session instead of at the end"""
    facts_until: float = 1.0
    """share of the sessions in which facts arrive (statements, changes, details); the sessions after it
    only restate facts and make small talk, so whatever the memory loses there, consolidation lost"""
    start_year: int = 2024
    """year of the first session"""

    def __post_init__(self) -> None:
        for name in ("change_rate", "restate_rate", "mid_stream_fraction", "facts_until"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"StreamConfig.{name} must be within [0, 1], got {getattr(self, name)!r}")
        limits = {"n_pairs": len(NEAR_DUPLICATE_NAMES), "n_singles": len(_SINGLE_NAMES),
                  "attrs_per_person": len(_ATTRS), "details_per_person": len(_DETAILS)}
        for name, most in limits.items():
            if not 0 <= getattr(self, name) <= most:
                raise ConfigError(f"StreamConfig.{name} must be within [0, {most}], got {getattr(self, name)}")
        if self.n_pairs + self.n_singles < 1 or self.n_sessions < 2 or self.small_talk < 0:
            raise ConfigError("StreamConfig needs at least one person, two sessions and small_talk >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamConfig:
        """Build from a plain mapping; unknown keys are errors."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown StreamConfig keys {unknown}; known keys: {', '.join(sorted(known))}")
        return cls(**data)


def _a(value: str) -> str:
    return ("an " if value[0].lower() in "aeiou" else "a ") + value


class _Stream:
    """One stream being written: sessions of (user turn, assistant reply) pairs, labels, slot histories."""

    def __init__(self, rng: random.Random, cfg: StreamConfig, user: str) -> None:
        self.rng, self.cfg, self.user = rng, cfg, user
        self.sessions: list[Session] = []
        self.labels: list[OpLabel] = []
        self.history: dict[str, list[tuple[str, str, int]]] = {}  # slot -> (value, turn id, session)
        self.roles: dict[str, str] = {}
        self.introduced: set[str] = set()

    def new_session(self, s: int) -> None:
        day = 1 + 7 * s
        month, day = divmod(day - 1, 28)
        when = f"10:00 am on {day + 1} {_MONTHS[month % 12]}, {self.cfg.start_year + month // 12}"
        self.sessions.append(Session(f"D{s + 1}", when, []))

    @property
    def date(self) -> str:
        return self.sessions[-1].date_time.split(" on ", 1)[1]  # type: ignore[union-attr]

    def say(self, text: str, label: OpLabel | None = None) -> str:
        """Add a user turn (labelled like ``label``, or as small talk) and an assistant reply; its id."""
        session = self.sessions[-1]
        uid, bid = f"{session.id}:{len(session.turns) + 1}", f"{session.id}:{len(session.turns) + 2}"
        session.turns += [Turn(uid, self.user, text), Turn(bid, ASSISTANT_NAME, self.rng.choice(V.ASSISTANT))]
        self.labels.append(OpLabel(uid, "NOOP") if label is None else OpLabel(uid, label.kind, label.slot, label.text))
        self.labels.append(OpLabel(bid, "NOOP"))
        return uid

    def who(self, name: str) -> str:
        return f"{name} ({self.user}'s {self.roles[name]})"

    def fact(self, name: str, attr: str, value: str, s: int) -> None:
        slot = f"{name.lower()}.{attr}"
        past = self.history.setdefault(slot, [])
        label_name = V.ATTR_LABELS[attr]
        if not past:
            text = _STATE[attr].format(n=name, v=value, a_v=_a(value))
            memory = f"The {label_name} of {self.who(name)} is {value}."
            uid = self.say(text, OpLabel("", "ADD", slot, memory))
        else:
            old = past[-1][0]
            text = _CHANGE[attr].format(n=name, v=value, a_v=_a(value), old=old)
            chain = " to ".join(v for v, _, _ in past) + f" to {value}"
            memory = f"The {label_name} of {self.who(name)} is {value} (it changed from {chain}, on {self.date})."
            uid = self.say(text, OpLabel("", "UPDATE", slot, memory))
        past.append((value, uid, s))


def stream_episode(seed: int = 0, index: int = 0, config: StreamConfig | None = None) -> Episode:
    """Stream ``index`` of seed ``seed`` (depends on nothing else)."""
    cfg = config or StreamConfig()
    rng = random.Random(f"memgym-streams:{seed}:{index}")
    user = rng.choice(V.USER_NAMES)
    pairs = rng.sample(NEAR_DUPLICATE_NAMES, cfg.n_pairs)
    singles = rng.sample(_SINGLE_NAMES, cfg.n_singles)
    pools = {a: rng.sample(V.ATTR_POOLS[a], len(V.ATTR_POOLS[a])) for a in _ATTRS}
    codes = [str(c) for c in rng.sample(range(1000, 10000), 64)]
    people: list[tuple[str, list[str], str | None]] = []  # name, attrs, near-duplicate
    for a, b in pairs:
        attrs = rng.sample(_ATTRS, cfg.attrs_per_person)
        people += [(a, attrs, b), (b, attrs, a)]
    people += [(n, rng.sample(_ATTRS, cfg.attrs_per_person), None) for n in singles]
    st = _Stream(rng, cfg, user)
    roles = rng.sample(V.ROLES, len(pairs) + len(singles))
    for i, (name, _, _) in enumerate(people):
        st.roles[name] = roles[i // 2] if i < 2 * len(pairs) else roles[len(pairs) + i - 2 * len(pairs)]
    fact_sessions = min(cfg.n_sessions, max(2, round(cfg.facts_until * cfg.n_sessions)))
    half = max(1, fact_sessions // 2)
    intro_at = {name: rng.randrange(half) for name, _, _ in people}
    plan: dict[int, list[tuple]] = {s: [] for s in range(cfg.n_sessions)}
    for name, attrs, _ in people:
        start = intro_at[name]
        plan[start].append(("intro", name))
        for attr in attrs:
            at = rng.randrange(start, half + 1)
            plan[at].append(("fact", name, attr))
            changes = 0
            for s in range(at + 1, cfg.n_sessions):
                if s < fact_sessions and changes < 2 and rng.random() < cfg.change_rate:
                    plan[s].append(("fact", name, attr))
                    changes += 1
                elif rng.random() < cfg.restate_rate:
                    plan[s].append(("restate", name, attr))
        for d in rng.sample(_DETAILS, cfg.details_per_person):
            plan[rng.randrange(start, fact_sessions)].append(("detail", name, d))
    details: dict[tuple[str, str], tuple[str, str]] = {}
    for s in range(cfg.n_sessions):
        st.new_session(s)
        events = plan[s]
        intros = [e for e in events if e[0] == "intro"]
        talk = ["pair"] + ["chat"] * (cfg.small_talk - 1) if cfg.small_talk and pairs else ["chat"] * cfg.small_talk
        rest = [e for e in events if e[0] != "intro"] + talk
        rng.shuffle(rest)
        for e in intros + rest:
            _emit(st, e, pools, codes, details, pairs, s)
    questions = _questions(rng, cfg, st, people, details, seed, index)
    return Episode(
        id=f"streams-{seed}-{index}", speakers=[user, ASSISTANT_NAME], sessions=st.sessions, questions=questions,
        op_labels=st.labels, source="consolidation_streams",
        metadata={"generator": "memgym.envs.data.synthetic.streams", "seed": str(seed), "index": str(index)},
    )


def _emit(st: _Stream, event: Any, pools: dict, codes: list[str], details: dict, pairs: list, s: int) -> None:
    rng = st.rng
    known = [(a, b) for a, b in pairs if a in st.introduced and b in st.introduced]
    if event == "pair" and known:
        a, b = rng.choice(known)
        st.say(f"{a} and {b} went hiking together on {rng.choice(V.WEEKDAYS)}.")
    elif event in ("chat", "pair"):
        template = rng.choice([t for t in V.CHITCHAT if "{name}" not in t])
        st.say(template.format(weather=rng.choice(V.WEATHER), dish=rng.choice(V.DISHES),
                               genre=rng.choice(V.GENRES), mood=rng.choice(V.MOODS), weekday=rng.choice(V.WEEKDAYS)))
    elif event[0] == "intro":
        name = event[1]
        st.introduced.add(name)
        st.say(f"{name} is my {st.roles[name]}.",
               OpLabel("", "ADD", f"{name.lower()}.relation", f"{name} is {st.user}'s {st.roles[name]}."))
    elif event[0] == "fact":
        st.fact(event[1], event[2], pools[event[2]].pop(), s)
    elif event[0] == "restate":
        name, attr = event[1], event[2]
        past = st.history.get(f"{name.lower()}.{attr}")
        if past:
            value = past[-1][0]
            text = "As I said, " + _STATE[attr].format(n=name, v=value, a_v=_a(value))
            st.say(text, OpLabel("", "NOOP", f"{name.lower()}.{attr}"))
    else:
        name, what = event[1], event[2]
        code = codes.pop()
        slot = f"{name.lower()}.{what.replace(' ', '_')}"
        uid = st.say(f"{name}'s {what} is {code}.", OpLabel("", "ADD", slot, f"The {what} of {st.who(name)} is {code}."))
        details[(name, what)] = (code, uid)


def _questions(rng: random.Random, cfg: StreamConfig, st: _Stream, people: list, details: dict,
               seed: int, index: int) -> list[Question]:
    out: list[Question] = []

    def add(text: str, answer: str, category: str, evidence: list[str], candidates: list[str],
            slot: str, after: str | None = None) -> None:
        out.append(Question(f"streams-{seed}-{index}-q{len(out) + 1}", text, [answer], category, evidence,
                            after, slot, list(dict.fromkeys(candidates))))

    for name, attrs, twin in people:
        for attr in attrs:
            slot = f"{name.lower()}.{attr}"
            past = st.history.get(slot, [])
            if not past:
                continue
            confusable = [v for v, _, _ in st.history.get(f"{twin.lower()}.{attr}", [])] if twin else []
            values = [v for v, _, _ in past] + confusable
            category = "update" if len(past) > 1 else ("near-duplicate" if twin else "stable")
            ask = _ASK[attr].format(n=name)
            if len(past) > 1 and rng.random() < cfg.mid_stream_fraction:
                k = rng.randrange(len(past) - 1)  # asked at the end of the session of value k, before it changes
                session = st.sessions[past[k][2]]
                add(ask, past[k][0], "near-duplicate" if twin else "stable", [t for _, t, _ in past[: k + 1]],
                    values, slot, session.turns[-1].id)
            add(ask, past[-1][0], category, [t for _, t, _ in past], values, slot)
            if len(past) > 1:
                label = V.ATTR_LABELS[attr]
                add(f"What was {name}'s {label} before {past[-1][0]}?", past[-2][0], "temporal",
                    [t for _, t, _ in past[-2:]], values, slot)
    all_codes = [code for code, _ in details.values()]
    for (name, what), (code, uid) in details.items():
        add(f"What is {name}'s {what}?", code, "detail", [uid], all_codes, f"{name.lower()}.{what}")
    return out


def generate_streams(n_episodes: int = 4, seed: int = 0, config: StreamConfig | dict | None = None) -> list[Episode]:
    """``n_episodes`` consolidation streams; stream ``i`` is the same whatever ``n_episodes`` is.

    Example:
        >>> [ep] = generate_streams(1, seed=0)
        >>> ep.source, sorted({q.category for q in ep.questions}) <= sorted(STREAM_CATEGORIES)
        ('consolidation_streams', True)
    """
    if n_episodes < 0:
        raise ConfigError(f"n_episodes must be >= 0, got {n_episodes}")
    cfg = StreamConfig.from_dict(config) if isinstance(config, dict) else config
    return [stream_episode(seed, i, cfg) for i in range(n_episodes)]
