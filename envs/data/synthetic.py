"""The embedded default data: seeded synthetic conversations whose every memory operation is labelled.

A user (with a name, e.g. "Alice") chats with an assistant over many sessions about herself and the
people around her (her sister Mei, her boss Tomas, ...). Each person has facts: a home city, a job, a
car, a hobby, pets. The user introduces people (ADD the relation), states facts (ADD), changes them
("I moved from Lyon to Oslo": UPDATE), retracts them ("I sold my red Volvo": DELETE), restates them
(NOOP), and buries them in small talk and distractors ("Mei has never been to Cairo": NOOP). Every turn
carries an :class:`~memgym.envs.episode.OpLabel`: what a perfect manager does, with the exact memory
text it writes (see :mod:`memgym.envs.data.oracle` to replay them).

Oracle memory texts are self-contained and name the person with the relation, e.g.
``"The home city of Mei (Alice's sister) is Oslo (the home city changed from Lyon to Oslo on
8 June, 2023)."``. Values are unique within an episode (no two facts share a value), so an answer is
an unambiguous string and exact match is meaningful.

Question categories (answers as of the turn the question is asked after, or of the end):

- ``single-hop``: the current value ("What is Mei's home city now?").
- ``temporal``: the value before the latest change ("What was Mei's home city before Oslo?") or the
  date of that change ("When did Mei's home city change to Oslo?", answered like "8 June, 2023").
- ``multi-hop``: a fact about a person named only by the relation, combining the introduction with the
  fact ("What is Alice's sister's job now?").
- ``abstention``: a retracted fact or one never stated (answer :data:`ABSTAIN_ANSWER`).
- ``counting``: "How many pets does Mei have now?" (answered in digits).

``Question.candidates`` lists every value mentioned for the asked slot up to the question (stated values
and distractor mentions; dates for "when" questions; pet names for counting).

Determinism: episode ``i`` of seed ``s`` is drawn from its own ``random.Random("memgym-synthetic:s:i")``,
so it is the same whatever ``n_episodes`` is, on any platform and Python hash seed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from memgym.envs.data import _vocab as V
from memgym.envs.episode import ABSTAIN_ANSWER, Episode, OpLabel, Question, Session, Turn
from memgym.errors import ConfigError

CATEGORIES: tuple[str, ...] = ("single-hop", "temporal", "multi-hop", "abstention", "counting")
ATTRS: tuple[str, ...] = ("city", "job", "car", "hobby", "pets")
ASSISTANT_NAME = "Assistant"
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _default_questions() -> dict[str, int]:
    return {"single-hop": 4, "temporal": 3, "multi-hop": 2, "abstention": 3, "counting": 2}


@dataclass
class SyntheticConfig:
    """The knobs of :func:`generate_synthetic` (YAML keys map one-to-one onto these fields)."""

    n_entities: int = 6
    """people besides the user (each gets a relation to the user and facts)"""
    facts_per_entity: int = 3
    """attributes per person, user included, out of city, job, car, hobby, pets (at most 5)"""
    update_rate: float = 0.35
    """probability that a fact changes (checked again after each change, up to max_updates)"""
    max_updates: int = 2
    """most changes of one fact"""
    deletion_rate: float = 0.2
    """probability that a retractable fact (job, car, hobby, a pet) is retracted at the end of its life"""
    restatement_rate: float = 0.2
    """probability that a stated value is restated later (a NOOP for a perfect manager)"""
    distractor_ratio: float = 0.3
    """share of the non-fact user turns that mention a value without stating a fact; the rest is small talk"""
    paraphrase_variety: int = 3
    """how many paraphrase templates each kind of turn draws from (1 = always the plainest)"""
    max_pets: int = 3
    """most pets a person with the pets attribute gets over the conversation"""
    n_sessions: int = 10
    """sessions in the conversation (ignored when target_tokens is set)"""
    turns_per_session: int = 20
    """turns per session, user and assistant together (even)"""
    target_tokens: int | None = None
    """if set, the conversation grows to at least this many whitespace tokens (e.g. 1_000_000)"""
    questions_per_category: dict[str, int] = field(default_factory=_default_questions)
    """questions per episode for each category (a category left out gets none); fewer when too few facts qualify"""
    mid_stream_fraction: float = 0.25
    """share of each category's questions asked mid-conversation (``asked_after`` a turn) not at the end"""
    start_year: int = 2023
    """year of the first session"""

    def __post_init__(self) -> None:
        for name in (
            "update_rate",
            "deletion_rate",
            "restatement_rate",
            "distractor_ratio",
            "mid_stream_fraction",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"SyntheticConfig.{name} must be within [0, 1], got {value!r}")
        if not 0 <= self.n_entities <= len(V.PEOPLE_NAMES):
            raise ConfigError(
                f"SyntheticConfig.n_entities must be within [0, {len(V.PEOPLE_NAMES)}], got {self.n_entities}"
            )
        if not 1 <= self.facts_per_entity <= len(ATTRS):
            raise ConfigError(
                f"SyntheticConfig.facts_per_entity must be within [1, {len(ATTRS)}] "
                f"(attributes {', '.join(ATTRS)}), got {self.facts_per_entity}"
            )
        for name, least in (
            ("max_updates", 0),
            ("paraphrase_variety", 1),
            ("max_pets", 1),
            ("n_sessions", 1),
        ):
            if getattr(self, name) < least:
                raise ConfigError(f"SyntheticConfig.{name} must be >= {least}, got {getattr(self, name)}")
        if self.turns_per_session < 2 or self.turns_per_session % 2:
            raise ConfigError(
                "SyntheticConfig.turns_per_session must be an even number >= 2 "
                f"(a user turn and an assistant reply), got {self.turns_per_session}"
            )
        if self.target_tokens is not None and self.target_tokens < 1:
            raise ConfigError(
                f"SyntheticConfig.target_tokens must be positive or None, got {self.target_tokens}"
            )
        unknown = set(self.questions_per_category) - set(CATEGORIES)
        if unknown:
            raise ConfigError(
                f"SyntheticConfig.questions_per_category has unknown categories {sorted(unknown)}; "
                f"known: {', '.join(CATEGORIES)}"
            )
        if any(n < 0 for n in self.questions_per_category.values()):
            raise ConfigError("SyntheticConfig.questions_per_category counts must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyntheticConfig:
        """Build from a plain mapping (a YAML file); unknown keys are errors, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown SyntheticConfig keys {unknown}; known keys: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- the world
@dataclass
class _Person:
    key: str
    name: str
    role: str | None  # None for the user
    attrs: list[str]
    unique_role: bool = True
    distractors: dict[str, str] = field(default_factory=dict)  # attr -> a value never true for them
    intro_u: int = -1  # user-turn index of the introduction (-1: the user, known from the start)

    @property
    def is_user(self) -> bool:
        return self.role is None


@dataclass
class _Event:
    """A user turn that carries a fact (or a distractor mention), placed at user-turn index ``u``."""

    kind: str  # INTRO | ADD | UPDATE | DELETE | RESTATE | DISTRACT
    person: _Person
    attr: str | None = None
    value: str | None = None
    old: str | None = None
    slot: str | None = None
    u: int = -1
    turn_id: str = ""
    date: str = ""


class _Pool:
    """Values of one attribute drawn without replacement, so a value names one fact only."""

    def __init__(self, attr: str, values: tuple[str, ...], rng: random.Random) -> None:
        self.attr, self.values = attr, list(values)
        rng.shuffle(self.values)

    def draw(self, required: bool = True) -> str | None:
        if self.values:
            return self.values.pop()
        if required:
            raise ConfigError(
                f"the synthetic world ran out of {self.attr} values; lower n_entities, "
                "facts_per_entity, max_updates or max_pets"
            )
        return None


def _article(word: str) -> str:
    return f"an {word}" if word[0].lower() in "aeiou" else f"a {word}"


def _date_text(when: _dt.datetime) -> tuple[str, str]:
    """(session date-time as LoCoMo writes it, its date part): ("1:56 pm on 8 May, 2023", "8 May, 2023")."""
    date = f"{when.day} {_MONTHS[when.month - 1]}, {when.year}"
    hour = when.hour % 12 or 12
    return f"{hour}:{when.minute:02d} {'am' if when.hour < 12 else 'pm'} on {date}", date


def _interleave(rng: random.Random, chains: list[list[_Event]]) -> list[_Event]:
    """A uniformly random merge of ``chains`` that keeps the order inside each chain."""
    order = [i for i, chain in enumerate(chains) for _ in chain]
    rng.shuffle(order)
    cursors = [0] * len(chains)
    merged = []
    for i in order:
        merged.append(chains[i][cursors[i]])
        cursors[i] += 1
    return merged


def _make_people(rng: random.Random, cfg: SyntheticConfig) -> list[_Person]:
    user_name = rng.choice(V.USER_NAMES)
    names = rng.sample(V.PEOPLE_NAMES, cfg.n_entities)
    roles = rng.sample(V.ROLES, min(cfg.n_entities, len(V.ROLES)))
    roles += [rng.choice(V.ROLES) for _ in range(cfg.n_entities - len(roles))]
    people = [_Person(user_name.lower(), user_name, None, rng.sample(ATTRS, cfg.facts_per_entity))]
    for name, role in zip(names, roles, strict=True):
        people.append(
            _Person(
                name.lower(),
                name,
                role,
                rng.sample(ATTRS, cfg.facts_per_entity),
                unique_role=roles.count(role) == 1,
            )
        )
    return people


def _fact_chains(
    rng: random.Random,
    cfg: SyntheticConfig,
    person: _Person,
    pools: dict[str, _Pool],
    species: dict[str, str],
) -> list[list[_Event]]:
    """One chain per slot: ADD, maybe RESTATE, UPDATEs (each maybe restated), maybe a final DELETE."""
    chains = []
    for attr in person.attrs:
        if attr == "pets":
            for _ in range(rng.randint(1, cfg.max_pets)):
                name = pools["pets"].draw()
                species[name] = rng.choice(V.SPECIES)
                slot = f"{person.key}.pet.{name.lower()}"
                chain = [_Event("ADD", person, attr, name, slot=slot)]
                if rng.random() < cfg.restatement_rate:
                    chain.append(_Event("RESTATE", person, attr, name, slot=slot))
                if rng.random() < cfg.deletion_rate:
                    chain.append(_Event("DELETE", person, attr, name, slot=slot))
                chains.append(chain)
            continue
        slot = f"{person.key}.{attr}"
        value = pools[attr].draw()
        chain = [_Event("ADD", person, attr, value, slot=slot)]
        for n_update in range(cfg.max_updates + 1):
            if rng.random() < cfg.restatement_rate:
                chain.append(_Event("RESTATE", person, attr, value, slot=slot))
            if n_update == cfg.max_updates or rng.random() >= cfg.update_rate:
                break
            old, value = value, pools[attr].draw()
            chain.append(_Event("UPDATE", person, attr, value, old=old, slot=slot))
        if attr in V.DELETABLE and rng.random() < cfg.deletion_rate:
            chain.append(_Event("DELETE", person, attr, value, slot=slot))
        chains.append(chain)
    return chains


def _plan(rng: random.Random, cfg: SyntheticConfig) -> tuple[list[_Person], list[_Event], dict[str, str]]:
    """People, their fact events in conversation order, and the species of every pet name."""
    people = _make_people(rng, cfg)
    pools = {attr: _Pool(attr, values, rng) for attr, values in V.ATTR_POOLS.items()}
    pools["pets"] = _Pool("pets", V.PET_NAMES, rng)
    species: dict[str, str] = {}
    per_person = []
    for person in people:
        events = _interleave(rng, _fact_chains(rng, cfg, person, pools, species))
        if not person.is_user:
            events.insert(0, _Event("INTRO", person, slot=f"{person.key}.relation"))
        per_person.append(events)
    for person in people:  # distractor values last, and only while the pools last
        for attr in ATTRS:
            value = pools[attr].draw(required=False)
            if value is not None:
                person.distractors[attr] = value
                if attr == "pets":
                    species[value] = rng.choice(V.SPECIES)
    return people, _interleave(rng, per_person), species


# ----------------------------------------------------------------------------- texts
def _ref(person: _Person, user: _Person) -> str:
    return person.name if person.is_user else f"{person.name} ({user.name}'s {person.role})"


def _memory_text(event: _Event, user: _Person, species: dict[str, str]) -> str | None:
    """The oracle memory text of an ADD / UPDATE event (the label's ``text``)."""
    ref = _ref(event.person, user)
    if event.kind == "INTRO":
        return f"{event.person.name} is {user.name}'s {event.person.role}."
    if event.attr == "pets":
        return f"One of the pets of {ref} is a {species[event.value]} named {event.value}."
    label = V.ATTR_LABELS[event.attr]
    shown = f"a {event.value}" if event.attr == "car" else event.value
    if event.kind == "ADD":
        return f"The {label} of {ref} is {shown}."
    return (
        f"The {label} of {ref} is {shown} (the {label} changed from {event.old} to "
        f"{event.value} on {event.date})."
    )


def _user_text(rng: random.Random, cfg: SyntheticConfig, event: _Event, species: dict[str, str]) -> str:
    person = event.person
    if event.kind == "INTRO":
        options: tuple[str, ...] = V.INTRO
    else:
        table = {
            "ADD": V.STATE,
            "UPDATE": V.UPDATE,
            "DELETE": V.DELETE,
            "RESTATE": V.RESTATE,
            "DISTRACT": V.DISTRACT,
        }[event.kind]
        options = table[event.attr][0 if person.is_user else 1]
    template = rng.choice(options[: cfg.paraphrase_variety])
    text = template.format(
        name=person.name,
        role=person.role,
        v=event.value,
        old=event.old,
        a_v=_article(event.value) if event.value else "",
        a_old=_article(event.old) if event.old else "",
        species=species.get(event.value or "", ""),
    )
    return text[0].upper() + text[1:]


def _small_talk(rng: random.Random, known: list[_Person]) -> str:
    template = rng.choice(V.CHITCHAT)
    while "{name}" in template and not known:
        template = rng.choice(V.CHITCHAT)
    return template.format(
        name=rng.choice(known).name if known else "",
        dish=rng.choice(V.DISHES),
        weather=rng.choice(V.WEATHER),
        genre=rng.choice(V.GENRES),
        weekday=rng.choice(V.WEEKDAYS),
        mood=rng.choice(V.MOODS),
    )


def _words(text: str) -> int:
    return len(text.split())


# ----------------------------------------------------------------------------- the conversation
class _Conversation:
    """Lays the fact events out over sessions of filler turns and records what questions need."""

    def __init__(
        self, rng: random.Random, cfg: SyntheticConfig, people: list[_Person], species: dict[str, str]
    ) -> None:
        self.rng, self.cfg, self.people, self.species = rng, cfg, people, species
        self.user = people[0]
        self.sessions: list[Session] = []
        self.labels: list[OpLabel] = []
        self.pairs: list[tuple[str, str]] = []  # (user turn id, assistant turn id) per user-turn index
        self.slot_events: dict[str, list[_Event]] = {}  # ADD / UPDATE / DELETE per slot, in order
        self.mentions: dict[tuple[str, str], list[_Event]] = {}  # distractor mentions per (person, attr)
        self.pet_slots: dict[str, list[str]] = {p.key: [] for p in people}
        self.tokens = 0
        self._known = [self.user]  # people the user has introduced (distractors and small talk use them)
        start = _dt.datetime(cfg.start_year, 1, 1, 9, 0)
        self._clock = start + _dt.timedelta(days=rng.randrange(0, 120))
        self._date = ""

    def build(self, events: list[_Event]) -> None:
        """Emit user/assistant pairs until the target length is reached and every fact is placed.

        Without a token target, facts take uniformly drawn distinct pairs among n_sessions x pairs per
        session. With one, fact ``i`` goes to the first pair at which the tokens so far over the target
        reach its uniformly drawn position, so facts spread over the whole conversation at any length.
        """
        cfg = self.cfg
        if cfg.target_tokens is None:  # exact length: facts take distinct user turns among all of them
            n_pairs = max(cfg.n_sessions * (cfg.turns_per_session // 2), len(events))
            slots = sorted(self.rng.sample(range(n_pairs), len(events)))
            by_turn = dict(zip(slots, events, strict=True))
            for u in range(n_pairs):
                self._emit(u, by_turn.get(u))
            return
        positions = sorted(self.rng.random() for _ in events)
        u, placed = 0, 0
        while placed < len(events) or self.tokens < cfg.target_tokens:
            event = None
            if placed < len(events) and positions[placed] <= self.tokens / cfg.target_tokens:
                event, placed = events[placed], placed + 1
            self._emit(u, event)
            u += 1

    def _new_session(self) -> None:
        self._clock += _dt.timedelta(days=self.rng.randint(1, 4), minutes=self.rng.randrange(-180, 180))
        self._clock = self._clock.replace(hour=self.rng.randint(8, 21), minute=self.rng.randrange(60))
        date_time, self._date = _date_text(self._clock)
        self.sessions.append(Session(id=f"D{len(self.sessions) + 1}", date_time=date_time))
        self.tokens += len(date_time.split())  # rendered once per session: "[date_time] Speaker: ..."

    def _filler(self) -> _Event | None:
        if self.rng.random() >= self.cfg.distractor_ratio:
            return None
        person = self.rng.choice(self._known)
        if not person.distractors:
            return None
        attr = self.rng.choice(sorted(person.distractors))
        slot = f"{person.key}.pets" if attr == "pets" else f"{person.key}.{attr}"
        return _Event("DISTRACT", person, attr, person.distractors[attr], slot=slot)

    def _emit(self, u: int, event: _Event | None) -> None:
        if u % (self.cfg.turns_per_session // 2) == 0:
            self._new_session()
        session = self.sessions[-1]
        if event is None:
            event = self._filler()
        user_id, bot_id = f"{session.id}:{len(session.turns) + 1}", f"{session.id}:{len(session.turns) + 2}"
        if event is None:
            text = _small_talk(self.rng, self._known[1:])
            self.labels.append(OpLabel(user_id, "NOOP"))
        else:
            event.u, event.turn_id, event.date = u, user_id, self._date
            text = _user_text(self.rng, self.cfg, event, self.species)
            self._record(event)
        reply = self.rng.choice(V.ASSISTANT)
        session.turns += [Turn(user_id, self.user.name, text), Turn(bot_id, ASSISTANT_NAME, reply)]
        self.labels.append(OpLabel(bot_id, "NOOP"))
        self.pairs.append((user_id, bot_id))
        self.tokens += _words(text) + _words(reply) + 2  # + the "Speaker:" word of each line

    def _record(self, event: _Event) -> None:
        """The label of a fact turn, and the bookkeeping questions need."""
        if event.kind == "INTRO":
            event.person.intro_u = event.u
            self._known.append(event.person)
            kind = "ADD"
        elif event.kind in ("RESTATE", "DISTRACT"):
            kind = "NOOP"
            if event.kind == "DISTRACT":
                self.mentions.setdefault((event.person.key, event.attr), []).append(event)
        else:
            kind = event.kind
            self.slot_events.setdefault(event.slot, []).append(event)
            if event.attr == "pets" and event.kind == "ADD":
                self.pet_slots[event.person.key].append(event.slot)
        text = _memory_text(event, self.user, self.species) if kind in ("ADD", "UPDATE") else None
        self.labels.append(OpLabel(event.turn_id, kind, event.slot, text))


# ----------------------------------------------------------------------------- questions
@dataclass
class _Spec:
    kind: str  # groups specs of one category so picks mix kinds (e.g. retracted vs never stated)
    text: str
    answers: list[str]
    evidence: list[str]
    slot: str
    candidates: list[str]


_KIND_CATEGORY = {
    "current": "single-hop",
    "before": "temporal",
    "when": "temporal",
    "relation": "multi-hop",
    "retracted": "abstention",
    "never stated": "abstention",
    "count": "counting",
}


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class _Questioner:
    """Which questions can be asked after user-turn ``u``, and their answers at that point."""

    def __init__(self, conv: _Conversation) -> None:
        self.conv = conv

    def _history(self, slot: str, u: int) -> list[_Event]:
        return [e for e in self.conv.slot_events.get(slot, ()) if e.u <= u]

    def _mentioned(self, person: _Person, attr: str, u: int) -> list[str]:
        return [e.value for e in self.conv.mentions.get((person.key, attr), ()) if e.u <= u]

    def eligible(self, u: int) -> dict[str, list[_Spec]]:
        out: dict[str, list[_Spec]] = {c: [] for c in CATEGORIES}
        for person in self.conv.people:
            if person.is_user or 0 <= person.intro_u <= u:
                for attr in ("city", "job", "car", "hobby"):
                    self._slot_questions(person, attr, u, out)
                self._count_question(person, u, out)
        return out

    def _slot_questions(self, person: _Person, attr: str, u: int, out: dict[str, list[_Spec]]) -> None:
        slot, label = f"{person.key}.{attr}", V.ATTR_LABELS[attr]
        hist = self._history(slot, u)
        candidates = _unique([e.value for e in hist] + self._mentioned(person, attr, u))
        now = f"What is {person.name}'s {label} now?"
        if not hist or hist[-1].kind == "DELETE":
            kind = "retracted" if hist else "never stated"
            out["abstention"].append(
                _Spec(kind, now, [ABSTAIN_ANSWER], [e.turn_id for e in hist], slot, candidates)
            )
            return
        last = hist[-1]
        out["single-hop"].append(_Spec("current", now, [last.value], [last.turn_id], slot, candidates))
        if not person.is_user and person.unique_role:
            intro = self.conv.pairs[person.intro_u][0]
            text = f"What is {self.conv.user.name}'s {person.role}'s {label} now?"
            out["multi-hop"].append(
                _Spec("relation", text, [last.value], [intro, last.turn_id], slot, candidates)
            )
        if last.kind == "UPDATE":
            shown = f"the {last.value}" if attr == "car" else last.value
            out["temporal"].append(
                _Spec(
                    "before",
                    f"What was {person.name}'s {label} before {shown}?",
                    [last.old],
                    [hist[-2].turn_id, last.turn_id],
                    slot,
                    candidates,
                )
            )
            dates = _unique([e.date for e in hist])
            out["temporal"].append(
                _Spec(
                    "when",
                    f"When did {person.name}'s {label} change to {shown}?",
                    [last.date],
                    [last.turn_id],
                    slot,
                    dates,
                )
            )

    def _count_question(self, person: _Person, u: int, out: dict[str, list[_Spec]]) -> None:
        stated, alive, evidence = [], 0, []
        for slot in self.conv.pet_slots[person.key]:
            hist = self._history(slot, u)
            if hist:
                stated.append(hist[0].value)
                alive += hist[-1].kind != "DELETE"
                evidence += [e.turn_id for e in hist]
        if alive:
            candidates = _unique(stated + self._mentioned(person, "pets", u))
            out["counting"].append(
                _Spec(
                    "count",
                    f"How many pets does {person.name} have now?",
                    [str(alive)],
                    evidence,
                    f"{person.key}.pets",
                    candidates,
                )
            )


def _pick(rng: random.Random, specs: list[_Spec], n: int) -> list[_Spec]:
    """``n`` specs, alternating between their kinds so every kind is represented."""
    groups: dict[str, list[_Spec]] = {}
    for spec in specs:
        groups.setdefault(spec.kind, []).append(spec)
    queues = [groups[k] for k in sorted(groups)]
    for queue in queues:
        rng.shuffle(queue)
    rng.shuffle(queues)
    picked: list[_Spec] = []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop())
    return picked


def _questions(
    rng: random.Random, cfg: SyntheticConfig, conv: _Conversation, episode_id: str
) -> list[Question]:
    asker = _Questioner(conv)
    n_pairs = len(conv.pairs)
    at_end = asker.eligible(n_pairs - 1)
    chosen: list[tuple[int, _Spec]] = []
    for category in CATEGORIES:
        n = cfg.questions_per_category.get(category, 0)
        n_mid = round(n * cfg.mid_stream_fraction)
        chosen += [(n_pairs, spec) for spec in _pick(rng, at_end[category], n - n_mid)]
        seen = set()
        for _ in range(n_mid * 8):  # a few tries: early turns may not allow the category yet
            if len(seen) == n_mid:
                break
            u = rng.randrange(n_pairs // 4, max(n_pairs - 1, n_pairs // 4 + 1))
            specs = asker.eligible(u)[category]
            if specs:
                spec = rng.choice(specs)
                if (spec.text, u) not in seen:
                    seen.add((spec.text, u))
                    chosen.append((u, spec))
    chosen.sort(key=lambda item: item[0])
    return [
        Question(
            id=f"{episode_id}:q{i + 1}",
            question=spec.text,
            answers=spec.answers,
            category=_KIND_CATEGORY[spec.kind],
            evidence=spec.evidence,
            asked_after=None if u >= n_pairs else conv.pairs[u][1],
            slot=spec.slot,
            candidates=spec.candidates,
        )
        for i, (u, spec) in enumerate(chosen)
    ]


# ----------------------------------------------------------------------------- public API
def generate_episode(seed: int = 0, index: int = 0, config: SyntheticConfig | None = None) -> Episode:
    """Episode ``index`` of the synthetic dataset of ``seed`` (depends on nothing else)."""
    cfg = config or SyntheticConfig()
    rng = random.Random(f"memgym-synthetic:{seed}:{index}")
    people, events, species = _plan(rng, cfg)
    conv = _Conversation(rng, cfg, people, species)
    conv.build(events)
    episode_id = f"synthetic-{seed}-{index}"
    return Episode(
        id=episode_id,
        speakers=[conv.user.name, ASSISTANT_NAME],
        sessions=conv.sessions,
        questions=_questions(rng, cfg, conv, episode_id),
        op_labels=conv.labels,
        source="synthetic",
        metadata={
            "generator": "memgym.envs.data.synthetic",
            "seed": str(seed),
            "index": str(index),
            "config": json.dumps(cfg.to_dict(), sort_keys=True),
        },
    )


def iter_synthetic(
    n_episodes: int = 1, seed: int = 0, config: SyntheticConfig | None = None
) -> Iterator[Episode]:
    """Episodes one at a time (for datasets too large to hold)."""
    for index in range(n_episodes):
        yield generate_episode(seed, index, config)


def generate_synthetic(
    n_episodes: int = 1, seed: int = 0, config: SyntheticConfig | None = None
) -> list[Episode]:
    """``n_episodes`` synthetic episodes; episode ``i`` is the same whatever ``n_episodes`` is.

    Example:
        >>> from memgym.envs.data import generate_synthetic
        >>> [episode] = generate_synthetic(1, seed=0)
        >>> episode.source, len(episode.questions) > 0
        ('synthetic', True)
    """
    if n_episodes < 0:
        raise ConfigError(f"n_episodes must be >= 0, got {n_episodes}")
    return list(iter_synthetic(n_episodes, seed, config))
