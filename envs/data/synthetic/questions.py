"""Questions about a built conversation, with their answers, evidence and candidates at the time asked."""

from __future__ import annotations

import random
from dataclasses import dataclass

from memgym.envs.data import _vocab as V
from memgym.envs.data.synthetic.config import CATEGORIES, SyntheticConfig
from memgym.envs.data.synthetic.conversation import _Conversation
from memgym.envs.data.synthetic.plan import _Event, _Person
from memgym.envs.episode import ABSTAIN_ANSWER, Question


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
