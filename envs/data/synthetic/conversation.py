"""The conversation: the texts of user turns and oracle memories, laid out over dated sessions."""

from __future__ import annotations

import datetime as _dt
import random

from memgym.envs.data import _vocab as V
from memgym.envs.data.synthetic.config import ASSISTANT_NAME, SyntheticConfig
from memgym.envs.data.synthetic.plan import _Event, _Person
from memgym.envs.episode import OpLabel, Session, Turn

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


def _article(word: str) -> str:
    return f"an {word}" if word[0].lower() in "aeiou" else f"a {word}"


def _date_text(when: _dt.datetime) -> tuple[str, str]:
    """(session date-time as LoCoMo writes it, its date part): ("1:56 pm on 8 May, 2023", "8 May, 2023")."""
    date = f"{when.day} {_MONTHS[when.month - 1]}, {when.year}"
    hour = when.hour % 12 or 12
    return f"{hour}:{when.minute:02d} {'am' if when.hour < 12 else 'pm'} on {date}", date


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
