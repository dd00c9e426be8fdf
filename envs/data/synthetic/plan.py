"""The world of an episode: people, their facts as chains of events, and the order they are told in."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from memgym.envs.data import _vocab as V
from memgym.envs.data.synthetic.config import ATTRS, SyntheticConfig
from memgym.errors import ConfigError


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
