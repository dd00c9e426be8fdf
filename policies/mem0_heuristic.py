"""A Mem0-style memory manager written as rules: extract facts, retrieve similar memories, then ADD,
UPDATE, DELETE or NOOP.

Mem0 asks an LLM twice per message: once to extract facts, once to compare each fact with the similar
memories it retrieved and emit ADD / UPDATE / DELETE / NONE. :class:`Mem0HeuristicPolicy` does both
steps with hand-written rules instead (no maintained library does rule-based fact extraction for
memories), so it runs without a model, deterministically, as the baseline a learned manager must beat.

1. **Extract.** Turns of assistant speakers are skipped (Mem0 extracts facts from the user's side).
   A sentence introducing someone ("my sister Mei", "Mei is my sister") becomes the relation fact
   ``"Mei is Alice's sister."``. Other sentences are kept when they are statements (not questions, at
   least three words), about a known person (first person: the speaker; or someone named in a relation
   memory or among the speakers), not hearsay, hypothetical or negated ("I have never been to Cairo",
   "I saw an advert for ...") unless they retract something, and informative (an attribute cue or a
   proper noun). A fact gets the subject, an attribute from cue phrases (home, job, car, hobby, pet;
   pets are keyed by name, the others hold one value) and whether it is a retraction ("sold", "quit",
   "gave up", "passed away", ...).
2. **Retrieve** the ``top_k`` memories most similar to the fact (the environment's retriever, query
   = subject + sentence) and read each one's subject and attribute with the same rules.
3. **Decide.** A retraction DELETEs the memory of the same subject and attribute (or, without an
   attribute, the one sharing most content words); a fact whose content words a same-subject memory
   already holds is a restatement: NOOP; a fact with the same subject and a single-valued attribute,
   or sharing a proper noun with a same-subject memory, UPDATEs it (the new text keeps the previous
   statement and the date of the change, as Mem0's update merges); anything else is ADDed.

The cue lexicons are general English, but they were written with the synthetic generator's templates
in view, and synthetic conversations are templated English: expect the rules to do much better there
than on real conversations (LoCoMo), where an LLM extractor is the fair comparison.

Memories are written self-contained: ``"Alice: I moved to Oslo."``, with ``" (Mei is Alice's
sister.)"`` appended when the subject is someone else, and an update reads ``"Alice: I live in Lyon.
Then (1:56 pm on 8 May, 2023): I moved to Oslo."``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.envs.operations import Operation
from memgym.policies.managers import BaselinePolicy, unit_lines

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv

#: Speakers whose turns hold no facts about the user (Mem0 extracts from the user's messages).
ASSISTANT_SPEAKERS: frozenset[str] = frozenset({"assistant", "system", "bot", "ai", "chatbot"})
# fmt: off
#: Words that name a relation between people (general English; the synthetic generator's roles are among them).
RELATION_WORDS: tuple[str, ...] = (
    "sister", "brother", "mother", "father", "mom", "mum", "dad", "son", "daughter", "wife", "husband",
    "partner", "girlfriend", "boyfriend", "fiance", "fiancee", "cousin", "aunt", "uncle", "nephew", "niece",
    "grandmother", "grandfather", "grandma", "grandpa", "stepbrother", "stepsister", "stepmother",
    "stepfather", "godmother", "godfather", "friend", "neighbour", "neighbor", "roommate", "flatmate",
    "housemate", "classmate", "colleague", "coworker", "boss", "manager", "mentor", "tutor", "teacher",
    "coach", "landlord", "landlady", "dentist", "doctor", "therapist", "accountant", "lawyer",
)
_CALENDAR = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
    "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
    "today", "yesterday", "tomorrow",
})
# fmt: on

#: Single-valued attributes (a new value replaces the old one); "pet" is keyed by the pet's name.
SINGLE_VALUED: frozenset[str] = frozenset({"home", "job", "car", "hobby"})

_REL = "|".join(RELATION_WORDS)
_NAME = r"[A-Z][\w-]+"
_RELATION_PATTERNS = (
    re.compile(rf"(?i:\bmy) (?P<role>{_REL})(?:,| is called| is named| named| called)? (?P<name>{_NAME})"),
    re.compile(rf"(?P<name>{_NAME}),? (?:is|was) (?i:my) (?P<role>{_REL})\b"),
)
_RELATION_MEMORY = re.compile(rf"^(?P<name>{_NAME}) is (?P<owner>.+?)'s (?P<role>\w+)\.$")
_MEMORY = re.compile(
    rf"^(?P<speaker>[^:\n]{{1,60}}): (?P<body>.*?)(?: \((?P<rel>{_NAME} is [^()]+'s \w+)\.\))?$", re.DOTALL
)
_THEN = re.compile(r" Then \([^()]*\): ")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z0-9][\w'-]*")
_FIRST_PERSON = re.compile(r"\b(?:I|my|me|mine|myself|we|our|us)\b", re.IGNORECASE)
_STARTS_FIRST_PERSON = re.compile(r"^(?:I|my|we|our)\b", re.IGNORECASE)

# Cue phrases, checked in this order (the first match names the attribute).
_ATTRIBUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "pet",
        re.compile(
            r"\b(?:pets?|dogs?|cats?|pupp(?:y|ies)|kittens?|rabbits?|parrots?|hamsters?|"
            r"tortoises?|turtles?|ferrets?|goldfish|guinea pigs?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "job",
        re.compile(
            r"\bwork(?:s|ed|ing)? as\b|\bjobs?\b|\bcareers?\b|\bby trade\b|\bliving as\b|\bretrain|"
            r"\bprofession\b|\b(?:is|am|was|became|become|becoming|being) an? [a-z]+(?: now)?[.!]?$",
            re.IGNORECASE,
        ),
    ),
    ("car", re.compile(r"\b(?:car|cars|drive|drives|driving|drove)\b", re.IGNORECASE)),
    (
        "home",
        re.compile(
            r"\b(?:live|lives|living|lived) in\b|\bbased in\b|\bhome\b|\bmoved\b|\brelocat|"
            r"\bflat in\b|\bapartment in\b",
            re.IGNORECASE,
        ),
    ),
    (
        "hobby",
        re.compile(
            r"\bhobby\b|\bhobbies\b|\bfree time\b|\bweekends? on\b|\btak(?:en|e|es) up\b|\btook up\b|"
            r"\bgot (?:really )?into\b|\b(?:is|am|are) into\b",
            re.IGNORECASE,
        ),
    ),
)
_RETRACTION = re.compile(
    r"\b(?:quit|quits|sold|gave up|given up|no longer|anymore|got rid of|passed away|died|"
    r"is gone|are gone|done with|no more|lost my)\b",
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"\b(?:became|become|started|swapped|traded|replaced|moved|relocated|switched)\b", re.IGNORECASE
)
# Not a fact about the subject: negations, hypotheticals and hearsay (unless the sentence retracts).
_NOT_A_FACT = re.compile(
    r"\b(?:never|not|did not|didn't|does not|doesn't|would|might|could|thought about|"
    r"someday|saw|heard|read|watched|told me)\b",
    re.IGNORECASE,
)
# Sentence-initial capitalised words that are not names.
_DISCOURSE = frozenset({"sadly", "anyway", "well", "so", "oh", "yes", "hey", "also", "still", "guess"})
_FILLER = frozenset({"said", "say", "still", "know", "now", "really", "also", "just", "completely", "way"})


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


@functools.cache
def _stemmer() -> Any:
    import Stemmer  # PyStemmer, installed with bm25s's stemming support

    return Stemmer.Stemmer("english")


def content_words(text: str, drop: Sequence[str] = ()) -> frozenset[str]:
    """Stemmed lower-case words of ``text`` without stopwords, filler words and ``drop`` (e.g. names)."""
    skip = _stopwords() | _FILLER | {d.lower() for d in drop}
    words = [w.lower() for w in _WORD.findall(text) if w.lower() not in skip]
    return frozenset(_stemmer().stemWords(words))


def proper_nouns(sentence: str, people: Sequence[str], first_word: bool = False) -> list[str]:
    """Capitalised words that name something (not a person, a weekday or a month), in order.

    The first word of a sentence is capitalised anyway, so it counts only with ``first_word`` (and then
    not when it is a function word): "Biscuit, my dog, ..." names the dog, "Work was long" names nothing.
    """
    people_lower = {p.lower() for p in people}
    out = []
    for match in re.finditer(r"\b[A-Z][\w-]*", sentence):
        word, low = match.group(), match.group().lower()
        if low in people_lower or low in _CALENDAR or word == "I":
            continue
        if match.start() == 0 and (not first_word or low in _stopwords() or low in _DISCOURSE):
            continue
        out.append(word)
    return out


@dataclass(frozen=True)
class Fact:
    """One statement about a person, as the rules read it."""

    text: str  # the memory text to write
    sentence: str
    subject: str  # the person's name
    attribute: str | None  # home / job / car / hobby / pet / relation, or None
    key: str | None  # the pet's name, or the related person's name for a relation
    retraction: bool
    words: frozenset[str]  # content words of the sentence, without the subject's name
    nouns: tuple[str, ...]  # proper nouns of the sentence


def _pet_name(sentence: str, people: Sequence[str]) -> str | None:
    names = proper_nouns(sentence, people, first_word=True)
    return names[0] if names else None


@dataclass(frozen=True)
class _Memory:
    entry: MemoryEntry
    fact: Fact | None  # what the memory's latest statement says (None: unreadable)
    words: frozenset[str]  # content words of the whole memory


class Mem0Rules:
    """The extraction and decision rules, over any bank and retriever (see the module docstring).

    Args:
        top_k: how many similar memories each fact is compared with.
    """

    def __init__(self, top_k: int = 10) -> None:
        self.top_k = int(top_k)

    # ------------------------------------------------------------------ people
    @staticmethod
    def relations(bank: MemoryBank) -> dict[str, tuple[str, str]]:
        """Relation memories in ``bank``: name -> (owner, role)."""
        out = {}
        for entry in bank.entries():
            match = _RELATION_MEMORY.match(entry.text)
            if match:
                out[match["name"]] = (match["owner"], match["role"])
        return out

    # ------------------------------------------------------------------ extraction
    def extract(
        self, speaker: str, text: str, people: dict[str, tuple[str, str]], speakers: Sequence[str]
    ) -> list[Fact]:
        """The facts of one turn; relation facts also extend ``people``."""
        if speaker.strip().lower() in ASSISTANT_SPEAKERS:
            return []
        facts = []
        for sentence in (s.strip() for s in _SENTENCE.split(text.strip())):
            if not sentence:
                continue
            relation = self._relation(sentence, speaker, people)
            if relation is not None:
                facts.append(relation)
                continue
            fact = self._fact(sentence, speaker, people, speakers)
            if fact is not None:
                facts.append(fact)
        return facts

    def _relation(self, sentence: str, speaker: str, people: dict[str, tuple[str, str]]) -> Fact | None:
        for pattern in _RELATION_PATTERNS:
            match = pattern.search(sentence)
            if match and match["name"] != speaker:
                name, role = match["name"], match["role"].lower()
                people[name] = (speaker, role)
                text = f"{name} is {speaker}'s {role}."
                return Fact(text, sentence, name, "relation", name, False, content_words(text), ())
        return None

    def _fact(
        self, sentence: str, speaker: str, people: dict[str, tuple[str, str]], speakers: Sequence[str]
    ) -> Fact | None:
        words = _WORD.findall(sentence)
        retraction = bool(_RETRACTION.search(sentence)) and not _CHANGE.search(sentence)
        if sentence.endswith("?") or len(words) < 3 or (_NOT_A_FACT.search(sentence) and not retraction):
            return None
        names = [*people, *speakers]
        subject = self._subject(sentence, speaker, names)
        if subject is None:
            return None
        attribute = next((name for name, cue in _ATTRIBUTES if cue.search(sentence)), None)
        nouns = tuple(proper_nouns(sentence, names))
        if attribute is None and not nouns and not retraction:
            return None  # small talk: no attribute, nothing named
        key = _pet_name(sentence, names) if attribute == "pet" else None
        text = f"{speaker}: {sentence}"
        if subject != speaker and subject in people:
            owner, role = people[subject]
            text += f" ({subject} is {owner}'s {role}.)"
        return Fact(
            text,
            sentence,
            subject,
            attribute,
            key,
            retraction,
            content_words(sentence, drop=[subject, speaker]),
            nouns,
        )

    @staticmethod
    def _subject(sentence: str, speaker: str, names: Sequence[str]) -> str | None:
        """Who a sentence is about: the speaker for "I ...", else the first known person named, else
        the speaker when the sentence speaks in the first person at all; ``None`` when about no one known."""
        if _STARTS_FIRST_PERSON.search(sentence):
            return speaker
        found = [
            (m.start(), n)
            for n in names
            if n != speaker
            for m in [re.search(rf"\b{re.escape(n)}\b", sentence)]
            if m
        ]
        if found:
            return min(found)[1]
        return speaker if _FIRST_PERSON.search(sentence) else None

    def read_memory(
        self, entry: MemoryEntry, people: dict[str, tuple[str, str]], speakers: Sequence[str]
    ) -> _Memory:
        """What a stored memory says, read with the same rules (its latest statement)."""
        words = content_words(entry.text)
        relation = _RELATION_MEMORY.match(entry.text)
        if relation:
            fact = Fact(
                entry.text, entry.text, relation["name"], "relation", relation["name"], False, words, ()
            )
            return _Memory(entry, fact, words)
        match = _MEMORY.match(entry.text)
        if not match:
            return _Memory(entry, None, words)
        latest = _THEN.split(match["body"])[-1]
        fact = self._fact(latest, match["speaker"], people, [*speakers, match["speaker"]])
        if fact is None:  # read it anyway: subject and attribute without the extraction filters
            subject = self._subject(latest, match["speaker"], [*people, *speakers]) or match["speaker"]
            attribute = next((name for name, cue in _ATTRIBUTES if cue.search(latest)), None)
            nouns = tuple(proper_nouns(latest, [*people, *speakers]))
            key = _pet_name(latest, [*people, *speakers]) if attribute == "pet" else None
            fact = Fact(
                entry.text,
                latest,
                subject,
                attribute,
                key,
                False,
                content_words(latest, drop=[subject, match["speaker"]]),
                nouns,
            )
        return _Memory(entry, fact, words)

    # ------------------------------------------------------------------ decisions
    def decide(self, fact: Fact, similar: list[_Memory], when: str | None) -> Operation:
        """ADD, UPDATE, DELETE or NOOP for one fact, given the similar memories (best first)."""
        same = [m for m in similar if m.fact is not None and m.fact.subject == fact.subject]
        if fact.retraction:
            target = self._retraction_target(fact, same)
            return Operation.delete(target.entry.id) if target is not None else Operation.noop()
        if fact.words and any(fact.words <= m.words for m in same):
            return Operation.noop()  # a restatement: everything it says is stored already
        if fact.attribute == "relation":
            return Operation.add(fact.text)
        target = next((m for m in same if self._conflicts(fact, m.fact)), None)  # type: ignore[arg-type]
        if target is None:
            return Operation.add(fact.text)
        latest = (
            _THEN.split(_MEMORY.match(target.entry.text)["body"])[-1]
            if _MEMORY.match(target.entry.text)
            else target.entry.text
        )
        prefix, _, rest = fact.text.partition(": ")
        return Operation.update(target.entry.id, f"{prefix}: {latest} Then ({when or 'later'}): {rest}")

    @staticmethod
    def _conflicts(fact: Fact, old: Fact) -> bool:
        if fact.attribute is not None and fact.attribute == old.attribute:
            return fact.attribute in SINGLE_VALUED or (fact.key is not None and fact.key == old.key)
        return fact.attribute is None and bool(set(fact.nouns) & set(old.nouns))

    @staticmethod
    def _retraction_target(fact: Fact, same: list[_Memory]) -> _Memory | None:
        if fact.attribute not in (None, "relation"):
            for m in same:
                if m.fact.attribute == fact.attribute and (fact.key is None or fact.key == m.fact.key):  # type: ignore[union-attr]
                    return m
        scored = [
            (len(fact.words & m.fact.words), -i, m)
            for i, m in enumerate(same)  # type: ignore[union-attr]
            if m.fact.attribute != "relation"
        ]  # type: ignore[union-attr]
        best = max(scored, default=None, key=lambda s: s[:2])
        return best[2] if best is not None and best[0] > 0 else None

    # ------------------------------------------------------------------ one step
    def plan(
        self,
        lines: Sequence[tuple[str, str]],
        bank: MemoryBank,
        retriever: Any,
        speakers: Sequence[str],
        when: str | None,
        tier: str | None = None,
    ) -> list[Operation]:
        """The operations for the turns of one step, applied to ``bank`` as they are decided (pass a
        scratch copy), so later facts of a chunk see earlier ones; failed operations are kept (the
        environment's bank refuses them the same way)."""
        people = self.relations(bank)
        ops: list[Operation] = []
        for speaker, text in lines:
            for fact in self.extract(speaker, text, people, speakers):
                query = f"{fact.subject} {fact.sentence}"
                similar = [
                    self.read_memory(e, people, speakers) for e in retriever.retrieve(query, self.top_k)
                ]
                op = self.decide(fact, similar, when)
                if op.kind == "NOOP":
                    continue
                if op.kind == "ADD" and tier is not None:
                    op = Operation.add(op.text, tier=tier)  # type: ignore[arg-type]
                bank.apply([op])
                ops.append(op)
        return ops


class Mem0HeuristicPolicy(BaselinePolicy):
    """The Mem0-style rule-based manager (:class:`Mem0Rules`) on any of the three environments.

    MemoryManager: one step per turn, answered in Mem0 JSON. MemoryConstruct: each turn of the chunk in
    order, facts into the ``semantic`` tier, as tool calls. MemoryOverwrite: the memory text's lines are
    the memories; the rewritten text drops its oldest lines past the budget.

    Args:
        top_k: similar memories compared with each fact (default: the environment's ``top_k``).
    """

    name = "mem0_heuristic"

    def __init__(self, top_k: int | None = None) -> None:
        self.top_k = top_k

    def act_one(self, env: MemoryEnv) -> str:
        from memgym.envs.retrieval import make_retriever

        unit = env.current_unit
        if unit is None:
            return env.render_action([])
        rules = Mem0Rules(self.top_k or env.top_k)
        speakers = list(env.episode.speakers) if env.episode is not None else []  # type: ignore[union-attr]
        if env.memory_kind == "text":
            scratch = MemoryBank()
            scratch.apply([Operation.add(ln) for ln in env.memory_text.splitlines() if ln.strip()])
            retriever = make_retriever("bm25")
            retriever.attach(scratch)
            rules.plan(unit_lines(unit), scratch, retriever, speakers, unit.date_time)
            lines = [e.text for e in scratch.entries()]
            budget = env.bank.max_tokens
            while budget is not None and len(" ".join(lines).split()) > budget and len(lines) > 1:
                lines.pop(0)  # the oldest memories go first
            return env.render_action([Operation.update(None, "\n".join(lines))])
        scratch = env.bank.copy()
        retriever = env.retriever.clone_for(scratch)
        try:
            tier = "semantic" if "semantic" in scratch.tiers else None
            ops = rules.plan(unit_lines(unit), scratch, retriever, speakers, unit.date_time, tier)
        finally:
            retriever.detach()
        return env.render_action(ops)
