"""The LLM fact extractor: Mem0's extraction prompt on any generation backend, batched and cached.

Mem0 (and Memory-R1, which builds on it) turns each new message into a list of facts with an LLM before
the memory manager sees it: ``{"facts": ["Lives in Oslo", ...]}``, an empty list for small talk. This is
that step for ``memgym/MemoryManager-v0`` (``extractor="llm"``, see :mod:`memgym.envs.extractors`):
all turns of an episode go to the backend in one batch; facts are cached by (speaker, date, text), in
memory and optionally in a JSON file, so rebuilding an environment or rerunning a benchmark asks the
model nothing twice. :func:`fact_recall` measures how much of the synthetic oracle's facts an extractor
recovers.

Example:
    >>> parse_facts('Here you go: {"facts": ["Lives in Oslo", "Has a cat named Rex"]}')
    ['Lives in Oslo', 'Has a cat named Rex']
    >>> parse_facts("- Lives in Oslo\\n- Works as a nurse")
    ['Lives in Oslo', 'Works as a nurse']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from memgym.envs.episode import Episode, Turn
from memgym.envs.extractors import clean_facts, extract_episode
from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import ChatPrompt, GenerationBackend, SamplingParams

#: Mem0's FACT_RETRIEVAL_PROMPT, shortened, with the speaker named so every fact is self-contained.
FACT_SYSTEM = """\
You are a Personal Information Organizer: you extract the facts about people from a message of a \
conversation, to store them in a memory. Keep personal details, preferences, plans, relationships, \
places, jobs, possessions, pets, hobbies and changes to any of them ("moved from Lyon to Oslo", "sold \
the car"). Skip greetings, small talk, questions and opinions about nothing in particular.
Write each fact as a short sentence that names the person (write the speaker's name instead of "I" \
or "my"). Reply with JSON only: {"facts": ["fact", ...]}, or {"facts": []} when the message states no fact.

Examples:
Ana: Hi, how are you?
{"facts": []}
Ana: My brother Tom works as a nurse now.
{"facts": ["Tom is Ana's brother.", "Tom works as a nurse."]}
Ana: I moved from Lyon to Oslo last week, and I sold my old bike.
{"facts": ["Ana moved from Lyon to Oslo.", "Ana sold her old bike."]}"""

FACT_USER = "{when}{speaker}: {text}"

_JSON = re.compile(r"\{.*\}", re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+)$")


def facts_grammar(max_facts: int = 4, max_tokens: int = 96) -> str:
    """The grammar of an extraction (Lark, llguidance): ``{"facts": ["...", ...]}`` with at most
    ``max_facts`` JSON strings, each capped so the whole list fits ``max_tokens``."""
    budget = max(4, (max_tokens - 8) // max(1, max_facts) - 3)
    more = f' (", " fact){{0,{max_facts - 1}}}' if max_facts > 1 else ""
    return (f'start: "{{\\"facts\\": [" (fact{more})? "]}}"\nfact: "\\"" body "\\""\n'
            f'body[max_tokens={budget}]: /([^"\\\\\\x00-\\x1f]|\\\\["\\\\nt])+/\n')


def parse_facts(text: str) -> list[str]:
    """The facts in a completion: the ``facts`` list of its JSON object, else its bullet lines."""
    text = text or ""
    for match in _JSON.finditer(text):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and isinstance(data.get("facts"), list):
            return clean_facts(data["facts"])
    return clean_facts([m.group(1) for line in text.splitlines() if (m := _BULLET.match(line))])


class LLMFactExtractor:
    """Extracts the facts of each turn with an LLM (Mem0's prompt), one generation batch per episode.

    Args:
        backend: a :class:`~memgym.policies.backends.GenerationBackend`, or a backend name (``"hf"``...)
            built with ``backend_kwargs`` (e.g. ``model=PATH``; default: the prepared SmolLM2).
        params: sampling parameters (default: greedy, 96 new tokens).
        cache_path: a JSON file the facts are saved to and reloaded from (``None``: memory only).
        speakers: extract only these speakers' turns (e.g. ``["Alice"]``); the others get no fact.
        constrained: sample under :func:`facts_grammar` (a backend with grammars: ``hf``, ``vllm``), so
            every completion is the JSON list; what a small model needs to write the format at all.
        max_facts: most facts per turn under ``constrained``.
        name: what identifies this extractor's facts in the cache (default: model and sampling).
    """

    def __init__(
        self,
        backend: GenerationBackend | str = "hf",
        params: SamplingParams | None = None,
        cache_path: str | Path | None = None,
        speakers: Sequence[str] | None = None,
        constrained: bool = False,
        max_facts: int = 4,
        name: str | None = None,
        **backend_kwargs: Any,
    ) -> None:
        if isinstance(backend, str):
            from memgym.policies.backends import make_backend

            backend = make_backend(backend, **backend_kwargs)
        elif backend_kwargs:
            raise ConfigError(f"backend arguments {sorted(backend_kwargs)} need a backend name, not an object")
        self.backend = backend
        self.params = params if params is not None else SamplingParams(max_new_tokens=96, temperature=0.0)
        self.speakers = None if speakers is None else frozenset(s.lower() for s in speakers)
        model = getattr(backend, "model_name", None) or getattr(backend, "model", None)
        model = model if isinstance(model, str) else type(backend).__name__
        if constrained:
            grammar = facts_grammar(max_facts, self.params.max_new_tokens)
            self.params = replace(self.params, grammar=grammar)
        tag = f"/g{max_facts}" if constrained else ""
        self.name = name or f"llm-facts/{model}/t{self.params.temperature}/n{self.params.max_new_tokens}{tag}"
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._cache: dict[str, list[str]] = self._load()
        self.calls = 0

    def build_prompt(self, turn: Turn, date: str | None = None) -> ChatPrompt:
        """The extraction prompt for one turn."""
        user = FACT_USER.format(when=f"({date}) " if date else "", speaker=turn.speaker, text=turn.text)
        return [{"role": "system", "content": FACT_SYSTEM}, {"role": "user", "content": user}]

    def __call__(self, turn: Turn) -> list[str]:
        return self.extract_many([turn], [None])[0]

    def extract_many(self, turns: Sequence[Turn], dates: Sequence[str | None]) -> list[list[str]]:
        """The facts of each turn; the turns not cached go to the backend in one call."""
        if len(turns) != len(dates):
            raise ConfigError(f"{len(turns)} turns but {len(dates)} dates")
        keys = [self._key(t, d) for t, d in zip(turns, dates, strict=True)]
        wanted = [i for i, t in enumerate(turns) if self._wanted(t)]
        todo = list(dict.fromkeys(keys[i] for i in wanted if keys[i] not in self._cache))
        if todo:
            first: dict[str, int] = {}
            for i in wanted:
                first.setdefault(keys[i], i)
            prompts = [self.build_prompt(turns[first[k]], dates[first[k]]) for k in todo]
            gens = self.backend.generate(prompts, self.params)
            if len(gens) != len(prompts):
                raise MemgymError(f"the backend returned {len(gens)} generations for {len(prompts)} prompts")
            self.calls += 1
            self._cache.update({k: parse_facts(g.text) for k, g in zip(todo, gens, strict=True)})
            self._save()
        keep = set(wanted)
        return [list(self._cache[k]) if i in keep else [] for i, k in enumerate(keys)]

    def _wanted(self, turn: Turn) -> bool:
        return bool(turn.text.strip()) and (self.speakers is None or turn.speaker.lower() in self.speakers)

    def _key(self, turn: Turn, date: str | None) -> str:
        return json.dumps([self.name, turn.speaker, date, turn.text], ensure_ascii=False)

    def _load(self) -> dict[str, list[str]]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        return {k: list(v) for k, v in json.loads(self.cache_path.read_text(encoding="utf-8")).items()}

    def _save(self) -> None:
        if self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            self.cache_path.write_text(json.dumps(self._cache, ensure_ascii=False), encoding="utf-8")

    def prefetch(self, episodes: Sequence[Episode]) -> None:
        """Extract every turn of ``episodes`` in ONE backend call (the environment then only reads the cache)."""
        turns, dates = [], []
        for ep in episodes:
            sessions = ep.session_of()
            turns += ep.turns()
            dates += [sessions[t.id].date_time for t in ep.turns()]
        self.extract_many(turns, dates)


# ----------------------------------------------------------------------------- measuring recall
_STOP = {"a", "an", "the", "is", "are", "of", "named", "and", "to", "in", "on", "one", "pets", "his", "her"}
_CHANGE_NOTE = re.compile(r" \(the [^()]* changed [^()]*\)")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1 and w not in _STOP}


def oracle_value_words(label_text: str, people: Sequence[str]) -> set[str]:
    """The words that carry an oracle fact's value: the text after its last " is ", without the change
    note, stop words and the ``people``'s names ("The job of Idris (...) is locksmith (the job changed
    ...)." -> ``{"locksmith"}``; "Raj is Lorenzo's grandfather." -> ``{"grandfather"}``)."""
    text = _CHANGE_NOTE.sub("", label_text).strip().rstrip(".")
    value = text.rsplit(" is ", 1)[-1]
    return _words(value) - {p.lower() for p in people}


def fact_recall(episodes: Sequence[Episode], extractor: Callable[[Turn], list[str]]) -> dict[str, Any]:
    """How much of the synthetic oracle's facts ``extractor`` recovers, and how quiet it is on the rest.

    A fact (an oracle ADD or UPDATE label) counts as recovered when the facts extracted from its turn
    contain every word of its value (:func:`oracle_value_words`); ``fact_recall_named`` also wants the
    name of the person the fact is about (the prompt asks for it; a fact about the wrong person, or about
    "I", does not count). ``turn_recall``: the share of turns
    with an ADD / UPDATE / DELETE label that gave at least one fact; ``quiet_rate``: the share of
    label-free (NOOP) turns that gave none; ``facts_per_turn``: extracted facts per turn; ``by_kind``:
    the recall per kind of fact (``relation``, ``city``, ``job``, ``car``, ``hobby``, ``pet``).
    """
    recovered, named, facts, changed, quiet, n_facts, n_turns = 0, 0, 0, [], [], 0, 0
    by_kind: dict[str, list[bool]] = {}
    for ep in episodes:
        if not ep.op_labels:
            raise ConfigError(f"episode {ep.id!r} has no oracle labels; fact_recall needs synthetic episodes")
        people = {label.slot.split(".")[0] for label in ep.op_labels if label.slot}
        extracted = dict(zip([t.id for t in ep.turns()], extract_episode(extractor, ep), strict=True))
        kinds: dict[str, set[str]] = {}
        for label in ep.op_labels:
            kinds.setdefault(label.turn_id, set()).add(label.kind)
            if label.kind in ("ADD", "UPDATE") and label.text:
                facts += 1
                want = oracle_value_words(label.text, sorted(people))
                got = set().union(*(_words(f) for f in extracted.get(label.turn_id, [])))
                hit = bool(want) and want <= got
                recovered += hit
                named += hit and _person(label.slot) in got
                by_kind.setdefault(_slot_kind(label.slot), []).append(hit)
        for turn_id, out in extracted.items():
            n_turns += 1
            n_facts += len(out)
            labelled = kinds.get(turn_id, {"NOOP"}) - {"NOOP"}
            (changed if labelled else quiet).append(bool(out) if labelled else not out)
    return {
        "episodes": len(episodes),
        "oracle_facts": facts,
        "fact_recall": recovered / facts if facts else None,
        "fact_recall_named": named / facts if facts else None,
        "turn_recall": sum(changed) / len(changed) if changed else None,
        "quiet_rate": sum(quiet) / len(quiet) if quiet else None,
        "facts_per_turn": n_facts / n_turns if n_turns else None,
        "by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
    }


def _person(slot: str | None) -> str:
    """The person a fact is about (``"raj.relation"`` -> ``raj``)."""
    return (slot or "").split(".")[0]


def _slot_kind(slot: str | None) -> str:
    """``"raj.relation"`` -> ``relation``, ``"lorenzo.pet.pumpkin"`` -> ``pet``."""
    parts = (slot or "other").split(".")
    return parts[1] if len(parts) > 1 else parts[0]


__all__ = [
    "FACT_SYSTEM", "FACT_USER", "LLMFactExtractor", "fact_recall", "facts_grammar", "oracle_value_words", "parse_facts",
]
