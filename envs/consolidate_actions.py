"""Retain / Delete / Consolidate: the actions of ``memgym/MemoryConsolidate-v0`` as text, checks and operations.

A policy answers each consolidation round with JSON, ``json.dumps`` style (what :func:`render_decisions`
writes and :func:`decision_grammar` constrains)::

    {"decisions": [{"action": "CONSOLIDATE", "ids": ["m3", "m7"], "text": "Ana lives in Oslo (moved from Lyon)."},
                   {"action": "DELETE", "ids": ["m9"]},
                   {"action": "RETAIN", "ids": ["m4"]}]}

Ids are the memory's (``m3``) or those of the round's new raw episodes (``n1``, ``n2``, ...: they enter
the ``episodic`` tier unless a decision deletes or consolidates them). Entries no decision names are
retained; ``{"decisions": []}`` retains everything. ``CONSOLIDATE`` replaces its ids by one new entry of
the ``consolidated`` tier holding ``text``, whose provenance is the union of theirs (computed by the
environment, never read from the policy). An action is used whole or not at all (a refused one lets
nothing in, not even the round's episodes):
:func:`parse_decisions` checks its structure, :func:`check_decisions` what depends on the bank and the
regime (unknown ids, an id named twice, consolidation in the ``episodic`` regime, a raw episode left
unconsolidated in the ``forced`` regime).

The model-free merge (:func:`overlap_groups`, :func:`merge_texts`) is what the ``always_consolidate``
baseline writes and what the structured mode's candidates are: entries sharing a name, place or number
are grouped; their sentences are joined in time order and, past a word budget, the least recurrent
sentences are dropped, as a gist drops one-off details.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from memgym.envs.action_parser import ParseError
from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.envs.operations import Operation, clean_text

DecisionKind = Literal["RETAIN", "DELETE", "CONSOLIDATE"]
DECISION_KINDS: tuple[str, ...] = ("RETAIN", "DELETE", "CONSOLIDATE")
#: ``automatic``: the policy decides; ``forced``: every raw episode must be consolidated (or deleted) in
#: the round it arrives; ``episodic``: consolidation is disabled (Retain and Delete only).
REGIMES: tuple[str, ...] = ("automatic", "forced", "episodic")
EPISODIC, CONSOLIDATED = "episodic", "consolidated"
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_KIND_KEYS = ("action", "decision", "op", "event")


@dataclass(frozen=True)
class Decision:
    """One choice about memory entries: keep them raw, delete them, or replace them by one abstraction."""

    kind: DecisionKind
    ids: tuple[str, ...]
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {"action": self.kind, "ids": list(self.ids)}
        if self.kind == "CONSOLIDATE":
            item["text"] = self.text
        return item

    @classmethod
    def consolidate(cls, ids: Sequence[str], text: str) -> Decision:
        return cls("CONSOLIDATE", tuple(ids), text)

    @classmethod
    def delete(cls, ids: Sequence[str]) -> Decision:
        return cls("DELETE", tuple(ids))

    @classmethod
    def retain(cls, ids: Sequence[str]) -> Decision:
        return cls("RETAIN", tuple(ids))


def render_decisions(decisions: Iterable[Decision | Operation]) -> str:
    """Decisions (or bank operations, read as :func:`decisions_from_ops` does) as the action text.

    Example:
        >>> render_decisions([Decision.delete(["m2"]), Decision.consolidate(["m1", "m3"], "Ana: Oslo.")])
        '{"decisions": [{"action": "DELETE", "ids": ["m2"]}, {"action": "CONSOLIDATE", "ids": ["m1", "m3"], "text": "Ana: Oslo."}]}'
    """
    items = list(decisions)
    ops = [d for d in items if isinstance(d, Operation)]
    chosen = [d for d in items if isinstance(d, Decision)] + decisions_from_ops(ops)
    return json.dumps({"decisions": [d.to_dict() for d in chosen]}, ensure_ascii=False)


def decisions_from_ops(ops: Sequence[Operation]) -> list[Decision]:
    """What operations mean here: DELETEs followed by an ``ADD`` to the ``consolidated`` tier consolidate
    (what :func:`to_operations` writes); otherwise ``DELETE id`` deletes and ``UPDATE id text``
    consolidates that one entry into ``text``; other ``ADD`` and ``NOOP`` retain (a round's raw episodes
    enter the memory unless a decision removes them)."""
    out: list[Decision] = []
    deleted: list[str] = []
    for op in ops:
        if op.kind == "DELETE" and op.id is not None:
            deleted.append(op.id)
            continue
        if op.kind == "ADD" and op.tier == CONSOLIDATED and op.text:
            if deleted:
                out.append(Decision.consolidate(deleted, op.text))
            deleted = []
            continue
        out += [Decision.delete([i]) for i in deleted]
        deleted = []
        if op.kind == "UPDATE" and op.id is not None and op.text:
            out.append(Decision.consolidate([op.id], op.text))
    return out + [Decision.delete([i]) for i in deleted]


def _error(code: str, message: str) -> ParseError:
    return ParseError(code, message)  # type: ignore[arg-type]


def parse_decisions(text: Any) -> tuple[list[Decision], ParseError | None]:
    """The decisions of an action text (structure only), or why it cannot be used; never raises."""
    from memgym.envs.action_parser.json_scan import _json_candidates

    if not isinstance(text, str):
        return [], _error("invalid_input", f"expected the decisions as text, got {type(text).__name__}")
    body = clean_text(_THINK.sub("", text))
    first_error: ParseError | None = None
    try:
        for _, value, error in _json_candidates(body):
            if error is not None:
                first_error = first_error or error
                continue
            if isinstance(value, dict) and "decisions" in value:
                return _items(value["decisions"])
            if isinstance(value, list) and value and all(isinstance(v, dict) and "ids" in v for v in value):
                return _items(value)
    except Exception as exc:  # the environment must survive any policy output
        return [], _error("internal_error", f"the parser failed on this input ({type(exc).__name__}: {exc})")
    if first_error is not None:
        return [], first_error
    return [], _error("no_json", 'no decisions found: write {"decisions": [...]} ({"decisions": []} keeps all)')


def _items(items: Any) -> tuple[list[Decision], ParseError | None]:
    if not isinstance(items, list):
        return [], _error("invalid_item", f"'decisions' must be a list, got {type(items).__name__}")
    out: list[Decision] = []
    for number, item in enumerate(items, start=1):
        decision = _item(item)
        if isinstance(decision, str):
            return [], _error("invalid_item", f"decision {number}: {decision}")
        out.append(decision)
    return out, None


def _item(item: Any) -> Decision | str:
    if not isinstance(item, dict):
        return f"expected an object, got {type(item).__name__}"
    kind = next((item[k] for k in _KIND_KEYS if k in item), None)
    if not isinstance(kind, str) or kind.strip().upper() not in DECISION_KINDS:
        return f"'action' must be one of {', '.join(DECISION_KINDS)}, got {str(kind)[:40]!r}"
    ids = item.get("ids", item.get("id"))
    ids = [ids] if isinstance(ids, str) else ids
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return "'ids' must be a non-empty list of memory ids (strings)"
    kind = kind.strip().upper()
    text = item.get("text")
    if kind == "CONSOLIDATE" and (not isinstance(text, str) or not text.strip()):
        return "CONSOLIDATE needs 'text', the abstraction that replaces its ids"
    return Decision(kind, tuple(ids), text.strip() if kind == "CONSOLIDATE" else None)  # type: ignore[arg-type, union-attr]


def check_decisions(
    decisions: Sequence[Decision], bank: MemoryBank, regime: str, new: Sequence[MemoryEntry] = ()
) -> ParseError | None:
    """What the bank and the regime refuse: ``None`` when the decisions can be applied whole.

    ``new`` are the round's raw episodes, not in the bank yet (ids ``n1``, ``n2``, ...); the ``forced``
    regime requires each of them, and any raw episode the bank holds, to be consolidated or deleted.
    """
    pending = {e.id for e in new}
    named: dict[str, int] = {}
    for number, d in enumerate(decisions, start=1):
        for i in d.ids:
            if i not in bank and i not in pending:
                return _error("unknown_id", f"decision {number} names {i[:40]!r}, which is not in the memory")
            if i in named:
                return _error("duplicate_id", f"{i!r} is named by decisions {named[i]} and {number}; name it once")
            named[i] = number
    if regime == "episodic" and any(d.kind == "CONSOLIDATE" for d in decisions):
        return _error("consolidation_disabled", "the episodic regime keeps raw episodes: RETAIN or DELETE only")
    if regime == "forced":
        resolved = {i for d in decisions if d.kind != "RETAIN" for i in d.ids}
        raw = [e.id for e in new] + [e.id for e in bank.entries(EPISODIC)]
        left = [i for i in raw if i not in resolved]
        if left:
            return _error("forced_consolidation", "the forced regime consolidates every raw episode: put "
                          f"{', '.join(left[:8])}{' ...' if len(left) > 8 else ''} in a CONSOLIDATE (or DELETE)")
    return None


def to_operations(decisions: Sequence[Decision], bank: MemoryBank, new: Sequence[MemoryEntry] = ()) -> list[Operation]:
    """The bank operations of checked decisions: the round's raw episodes no decision removes enter the
    ``episodic`` tier; each CONSOLIDATE deletes its ids and adds its text to the ``consolidated`` tier with
    the union of their provenance and their latest time; DELETE deletes (a new episode: never enters)."""
    pending = {e.id: e for e in new}
    removed = {i for d in decisions if d.kind != "RETAIN" for i in d.ids}
    ops = [Operation.add(e.text, tier=EPISODIC, provenance=e.provenance, timestamp=e.timestamp)
           for e in new if e.id not in removed]
    for d in decisions:
        if d.kind == "RETAIN":
            continue
        ops += [Operation.delete(i) for i in d.ids if i not in pending]
        if d.kind == "CONSOLIDATE":
            sources = [pending.get(i) or bank.get(i) for i in d.ids]
            provenance = tuple(dict.fromkeys(t for e in sources if e is not None for t in e.provenance))
            times = [e.timestamp for e in sources if e is not None and e.timestamp]
            ops.append(Operation.add(d.text or "", tier=CONSOLIDATED, provenance=provenance,
                                     timestamp=times[-1] if times else None))
    return ops


def decision_grammar(ids: Sequence[str], *, consolidate: bool = True, max_items: int = 8,
                     max_tokens: int = 256) -> str:
    """The decisions as :func:`render_decisions` writes them (Lark, llguidance's dialect): at most
    ``max_items`` decisions over ``ids``; without ``consolidate`` (the episodic regime) no CONSOLIDATE."""
    from memgym.envs.grammars import _alternatives

    budget = max(3, (max_tokens - 8) // max(max_items, 1) - 12)
    more = f' (", " item){{0,{max_items - 1}}}' if max_items > 1 else ""
    kinds = ['"\\"RETAIN\\", \\"ids\\": " ids', '"\\"DELETE\\", \\"ids\\": " ids']
    if consolidate:
        kinds.append('"\\"CONSOLIDATE\\", \\"ids\\": " ids ", \\"text\\": \\"" body "\\""')
    lines = [f'start: "{{\\"decisions\\": [" (item{more})? "]}}"']
    if ids:
        lines += [f'item: "{{\\"action\\": " ({" | ".join(kinds)}) "}}"',
                  'ids: "[" id (", " id)* "]"', "id: " + _alternatives([json.dumps(i) for i in ids]),
                  f'body[max_tokens={budget}]: /([^"\\\\\\x00-\\x1f]|\\\\["\\\\nt])+/']
    else:
        lines[0] = 'start: "{\\"decisions\\": []}"'
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the model-free merge
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CAPITAL = re.compile(r"\b([A-Z][a-z]+|\d+)\b")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the and or of to in on at is are was were i my me it its for with as by from now s "
                  "this that be has have had he she they his her their our we you your not".split())


def _common_capitals() -> frozenset[str]:
    """Capitalised words that name nothing: those of the synthetic small talk and replies (which hold no
    name or value by construction), weekdays and months."""
    from memgym.envs.data import _vocab as V

    words = {w for t in (*V.CHITCHAT, *V.ASSISTANT) for w in _CAPITAL.findall(t)}
    months = ("January February March April May June July August September October November December").split()
    return frozenset(words | set(V.WEEKDAYS) | set(months) | {"As", "I", "The", "My"})


_COMMON = _common_capitals()


def entry_keys(text: str, speakers: Sequence[str] = ()) -> set[str]:
    """The names, places and numbers of a text (capitalised words and numbers, without the speakers'
    names and words that name nothing): what :func:`overlap_groups` links entries by."""
    return {k for k in _CAPITAL.findall(text) if k not in speakers and k not in _COMMON}


def overlap_groups(entries: Sequence[MemoryEntry], speakers: Sequence[str] = (), *,
                   max_group: int = 6) -> list[list[MemoryEntry]]:
    """Entries in groups that share a key (:func:`entry_keys`), greedily in bank order, at most
    ``max_group`` each; an entry sharing nothing is a group of one."""
    groups: list[tuple[list[MemoryEntry], set[str]]] = []
    for e in entries:
        keys = entry_keys(e.text, speakers)
        best = max((g for g in groups if len(g[0]) < max_group and g[1] & keys),
                   key=lambda g: len(g[1] & keys), default=None)
        if best is None:
            groups.append(([e], set(keys)))
        else:
            best[0].append(e)
            best[1].update(keys)
    return [g for g, _ in groups]


def merge_texts(texts: Sequence[str], max_words: int | None = None, speakers: Sequence[str] = ()) -> str:
    """One abstraction of ``texts`` (oldest first): their distinct sentences in order, and past
    ``max_words`` the least recurrent ones dropped first (a sentence's recurrence is the mean number of
    other sentences sharing each of its words; ties: the oldest first), as a gist drops one-off details.

    Example:
        >>> merge_texts(["Ana lives in Lyon.", "Ana moved from Lyon to Oslo. Ana's code is 4172."], max_words=10)
        'Ana lives in Lyon. Ana moved from Lyon to Oslo.'
    """
    sentences = list(dict.fromkeys(s.strip() for t in texts for s in _SENTENCE.split(t.strip()) if s.strip()))
    if max_words is None or sum(len(s.split()) for s in sentences) <= max_words:
        return " ".join(sentences)
    ignore = _STOP | {w.lower() for s in speakers for w in _WORD.findall(s.lower())}
    words = [set(_WORD.findall(s.lower())) - ignore for s in sentences]
    salience = [sum(sum(1 for j, o in enumerate(words) if j != i and w in o) for w in ws) / max(len(ws), 1)
                for i, ws in enumerate(words)]
    keep = list(range(len(sentences)))
    for i in sorted(keep, key=lambda i: (salience[i], i)):
        if sum(len(sentences[k].split()) for k in keep) <= max_words or len(keep) == 1:
            break
        keep.remove(i)
    merged = " ".join(sentences[k] for k in keep)
    return " ".join(merged.split()[:max_words])


def merge_proposals(entries: Sequence[MemoryEntry], speakers: Sequence[str] = (), *, max_words: int | None = 40,
                    max_group: int = 6, singletons: bool = False) -> list[Decision]:
    """CONSOLIDATE decisions for the overlap groups of ``entries`` (groups of one too with
    ``singletons``), each with its :func:`merge_texts` abstraction."""
    out = []
    for group in overlap_groups(entries, speakers, max_group=max_group):
        if len(group) > 1 or singletons:
            texts = [e.text for e in group]
            out.append(Decision.consolidate([e.id for e in group], merge_texts(texts, max_words, speakers)))
    return out
