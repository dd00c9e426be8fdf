"""The memory bank: entries with stable ids, tiers, provenance and history, changed only by operations.

Every mutation goes through :meth:`MemoryBank.apply`, so a run can be replayed and audited. Invalid
operations are reported in the returned :class:`OpResult` list, never raised, and leave the bank as it
was for that operation.

Provenance (the turns a memory was written from) follows what the text keeps: an UPDATE whose new text
keeps at least half of the old text's words *refines* the memory and adds the new turns to its
provenance; one that keeps less *replaces* it, and the provenance becomes the new turns only. Otherwise a
policy could rewrite one memory turn after turn and have it claim every turn it ever held (RL on the
model-free evidence rewards found exactly that: 10 memories "holding" 73% of the evidence).
"""

from __future__ import annotations

import copy as _copy
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from memgym.envs.operations import Operation, OpResult, clean_text

#: Called after every successful change: ``(event, entry)`` with event "add", "update" or "delete",
#: or ``("reset", None)`` when the whole bank was replaced (restore, load).
BankListener = Callable[[str, "MemoryEntry | None"], None]

FLAT_TIERS: tuple[str, ...] = ("memory",)
MEM_ALPHA_TIERS: tuple[str, ...] = ("core", "semantic", "episodic")


_WORD = re.compile(r"\w+")


def keeps_text(old: str, new: str) -> bool:
    """Whether ``new`` keeps at least half of ``old``'s distinct words (case-insensitive): a refinement
    rather than a replacement (see the module docstring on provenance)."""
    old_words = set(_WORD.findall(old.lower()))
    return not old_words or 2 * len(old_words & set(_WORD.findall(new.lower()))) >= len(old_words)


_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TAG_START = re.compile(r"<(?=/?[A-Za-z!?])")


def prompt_text(text: str, *, one_line: bool = True) -> str:
    r"""Stored text as prompt text that can never be read as the prompt's structure.

    Memories are data a policy wrote: rendered raw, ``"tea\n[m9] ..."`` would show a forged memory line
    and ``"</semantic><core>"`` would close a tier's tags. So line breaks become the two characters
    ``\n`` (with ``one_line``; otherwise each kind of line break becomes a newline), other control
    characters ``\xNN``, and a ``<`` that starts a tag ``&lt;``.

    Example:
        >>> print(prompt_text("tea\n[m9] </core>"))
        tea\n[m9] &lt;/core>
    """
    text = _LINE_BREAK.sub(r"\\n" if one_line else "\n", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _TAG_START.sub("&lt;", text)


def whitespace_tokens(text: str) -> int:
    """Default token counter: whitespace-separated words (pass a tokenizer's counter for exact budgets)."""
    return len(text.split())


@dataclass
class MemoryEntry:
    """One memory: ``history`` holds the previous texts, oldest first (like mem0's history)."""

    id: str
    text: str
    tier: str
    timestamp: str | None = None
    provenance: tuple[str, ...] = ()
    created_step: int = 0
    updated_step: int = 0
    history: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "text": self.text, "tier": self.tier, "timestamp": self.timestamp,
            "provenance": list(self.provenance), "created_step": self.created_step,
            "updated_step": self.updated_step, "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, d: dict) -> MemoryEntry:
        return cls(
            id=d["id"], text=d["text"], tier=d["tier"], timestamp=d.get("timestamp"),
            provenance=tuple(d.get("provenance") or ()), created_step=int(d.get("created_step", 0)),
            updated_step=int(d.get("updated_step", 0)), history=list(d.get("history") or []),
        )


@dataclass(frozen=True)
class BankState:
    """An immutable snapshot of a bank, to restore or to branch G rollouts from one state."""

    entries: tuple[MemoryEntry, ...]
    next_id: int
    step: int


class MemoryBank:
    """An ordered store of :class:`MemoryEntry` with capacity limits.

    Args:
        tiers: the tiers entries may live in; the first is the default for ``ADD`` without a tier.
        single_slot_tiers: tiers that hold at most one entry, rewritten by ``UPDATE`` without an id
            (Mem-α's ``core`` block).
        max_entries: capacity in entries over all tiers (``None``: unlimited).
        max_tokens: capacity in tokens over all entries, counted by ``token_counter``.
        token_counter: counts the tokens of one text (default: whitespace words).
        id_prefix: ids are ``{prefix}{n}`` with n never reused, short enough for a policy to copy.
    """

    def __init__(
        self,
        tiers: Sequence[str] = FLAT_TIERS,
        *,
        single_slot_tiers: Sequence[str] = (),
        max_entries: int | None = None,
        max_tokens: int | None = None,
        token_counter: Callable[[str], int] = whitespace_tokens,
        id_prefix: str = "m",
    ) -> None:
        if not tiers:
            raise ValueError("a memory bank needs at least one tier")
        unknown = set(single_slot_tiers) - set(tiers)
        if unknown:
            raise ValueError(f"single_slot_tiers {sorted(unknown)} are not among tiers {list(tiers)}")
        self.tiers = tuple(tiers)
        self.single_slot_tiers = tuple(single_slot_tiers)
        self.max_entries = max_entries
        self.max_tokens = max_tokens
        self.token_counter = token_counter
        self.id_prefix = id_prefix
        self._entries: dict[str, MemoryEntry] = {}
        self._next_id = 1
        self._tokens = 0
        self.step = 0
        self._listeners: list[BankListener] = []

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[MemoryEntry]:
        return iter(list(self._entries.values()))

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def get(self, entry_id: str) -> MemoryEntry | None:
        return self._entries.get(entry_id)

    def entries(self, tier: str | None = None) -> list[MemoryEntry]:
        return [e for e in self._entries.values() if tier is None or e.tier == tier]

    @property
    def total_tokens(self) -> int:
        return self._tokens

    @property
    def default_tier(self) -> str:
        return next((t for t in self.tiers if t not in self.single_slot_tiers), self.tiers[0])

    # ------------------------------------------------------------------ listeners
    def subscribe(self, listener: BankListener) -> None:
        """Call ``listener`` after every change (retrieval indexes follow the bank this way)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: BankListener) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: str, entry: MemoryEntry | None) -> None:
        for listener in self._listeners:
            listener(event, entry)

    # ------------------------------------------------------------------ writing
    def apply(self, ops: Iterable[Operation]) -> list[OpResult]:
        """Apply operations in order; one result per operation. Counts as one step of the bank."""
        self.step += 1
        return [self._apply_one(op) for op in ops]

    def _refuse(self, op: Operation, code: str, message: str) -> OpResult:
        return OpResult(op=op, ok=False, id=op.id, error=code, message=message)  # type: ignore[arg-type]

    def _check_text(self, op: Operation) -> OpResult | None:
        if not isinstance(op.text, str) or not op.text.strip():
            return self._refuse(op, "empty_text", f"{op.kind} needs a non-empty text")
        return None

    def _check_capacity(self, op: Operation, added_entries: int, added_tokens: int) -> OpResult | None:
        if self.max_entries is not None and len(self._entries) + added_entries > self.max_entries:
            return self._refuse(op, "capacity_entries",
                                f"the bank is full ({self.max_entries} entries); UPDATE or DELETE first")
        if self.max_tokens is not None and self._tokens + added_tokens > self.max_tokens:
            return self._refuse(
                op, "capacity_tokens",
                f"this would use {self._tokens + added_tokens} tokens; the budget is {self.max_tokens}",
            )
        return None

    def _apply_one(self, op: Operation) -> OpResult:
        if op.kind == "NOOP":
            return OpResult(op=op, ok=True)
        if op.kind == "ADD":
            return self._add(op)
        if op.kind == "UPDATE":
            return self._update(op)
        if op.kind == "DELETE":
            return self._delete(op)
        return self._refuse(op, "unknown_kind",
                            f"unknown operation kind {op.kind!r}; use ADD, UPDATE, DELETE or NOOP")

    def _add(self, op: Operation) -> OpResult:
        tier = op.tier or self.default_tier
        if tier not in self.tiers:
            return self._refuse(op, "unknown_tier", f"unknown tier {tier!r}; tiers are {list(self.tiers)}")
        if tier in self.single_slot_tiers and self.entries(tier):
            return self._refuse(op, "tier_not_allowed",
                                f"tier {tier!r} holds one block; rewrite it with UPDATE instead of ADD")
        if (error := self._check_text(op)) is not None:
            return error
        text = clean_text(op.text.strip())  # type: ignore[union-attr]
        tokens = self.token_counter(text)
        if (error := self._check_capacity(op, 1, tokens)) is not None:
            return error
        entry = MemoryEntry(
            id=f"{self.id_prefix}{self._next_id}", text=text, tier=tier,
            timestamp=op.timestamp, provenance=tuple(op.provenance),
            created_step=self.step, updated_step=self.step,
        )
        self._next_id += 1
        self._entries[entry.id] = entry
        self._tokens += tokens
        self._emit("add", entry)
        return OpResult(op=op, ok=True, id=entry.id)

    def _resolve_target(self, op: Operation) -> tuple[MemoryEntry | None, OpResult | None]:
        if op.id is None:
            if op.tier in self.single_slot_tiers:
                existing = self.entries(op.tier)
                return (existing[0] if existing else None), None
            return None, self._refuse(op, "missing_id", f"{op.kind} needs the id of an existing memory")
        entry = self._entries.get(str(op.id))
        if entry is None:
            return None, self._refuse(op, "unknown_id", f"no memory has id {op.id!r}")
        return entry, None

    def _update(self, op: Operation) -> OpResult:
        if op.tier is not None and op.tier not in self.tiers:
            return self._refuse(op, "unknown_tier", f"unknown tier {op.tier!r}; tiers are {list(self.tiers)}")
        entry, error = self._resolve_target(op)
        if error is not None:
            return error
        if entry is None:  # rewriting an empty single-slot tier creates its block
            return self._add(op)
        if (error := self._check_text(op)) is not None:
            return error
        new_text = clean_text(op.text.strip())  # type: ignore[union-attr]
        if new_text == entry.text:
            return self._refuse(op, "unchanged", f"memory {entry.id!r} already says exactly this")
        delta = self.token_counter(new_text) - self.token_counter(entry.text)
        if (error := self._check_capacity(op, 0, max(delta, 0))) is not None:
            return error
        kept = entry.provenance if keeps_text(entry.text, new_text) else ()
        entry.history.append(entry.text)
        entry.text = new_text
        entry.updated_step = self.step
        entry.provenance = tuple(dict.fromkeys(kept + tuple(op.provenance)))
        if op.timestamp is not None:
            entry.timestamp = op.timestamp
        self._tokens += delta
        self._emit("update", entry)
        return OpResult(op=op, ok=True, id=entry.id)

    def _delete(self, op: Operation) -> OpResult:
        entry, error = self._resolve_target(op)
        if error is not None:
            return error
        if entry is None:
            return self._refuse(op, "unknown_id", f"tier {op.tier!r} is empty; nothing to delete")
        del self._entries[entry.id]
        self._tokens -= self.token_counter(entry.text)
        self._emit("delete", entry)
        return OpResult(op=op, ok=True, id=entry.id)

    # ------------------------------------------------------------------ state
    def snapshot(self) -> BankState:
        return BankState(tuple(_copy.deepcopy(list(self._entries.values()))), self._next_id, self.step)

    def restore(self, state: BankState) -> None:
        """Replace the content with a snapshot (listeners get a "reset" event)."""
        self._entries = {e.id: _copy.deepcopy(e) for e in state.entries}
        self._next_id = max(state.next_id, self._first_free_number())
        self.step = state.step
        self._tokens = sum(self.token_counter(e.text) for e in self._entries.values())
        self._emit("reset", None)

    def _first_free_number(self) -> int:
        """One past the highest ``{prefix}{n}`` id held, so restored states never hand out an id twice."""
        numbers = [int(i[len(self.id_prefix):]) for i in self._entries
                   if i.startswith(self.id_prefix) and i[len(self.id_prefix):].isascii()
                   and i[len(self.id_prefix):].isdigit()]
        return max(numbers, default=0) + 1

    def copy(self) -> MemoryBank:
        """An independent bank with the same settings and content, without listeners."""
        clone = MemoryBank(
            self.tiers, single_slot_tiers=self.single_slot_tiers, max_entries=self.max_entries,
            max_tokens=self.max_tokens, token_counter=self.token_counter, id_prefix=self.id_prefix,
        )
        clone.restore(self.snapshot())
        return clone

    def content_hash(self) -> str:
        """A hash of what the bank holds (ids, texts, tiers), for caching answers to the same memory."""
        payload = json.dumps([[e.id, e.tier, e.text] for e in self._entries.values()], ensure_ascii=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {
            "tiers": list(self.tiers), "single_slot_tiers": list(self.single_slot_tiers),
            "max_entries": self.max_entries, "max_tokens": self.max_tokens, "id_prefix": self.id_prefix,
            "next_id": self._next_id, "step": self.step,
            "entries": [e.to_dict() for e in self._entries.values()],
        }

    @classmethod
    def from_dict(cls, d: dict, token_counter: Callable[[str], int] = whitespace_tokens) -> MemoryBank:
        bank = cls(
            d["tiers"], single_slot_tiers=d.get("single_slot_tiers", ()), max_entries=d.get("max_entries"),
            max_tokens=d.get("max_tokens"), token_counter=token_counter, id_prefix=d.get("id_prefix", "m"),
        )
        entries = tuple(MemoryEntry.from_dict(e) for e in d.get("entries", []))
        bank.restore(BankState(entries, int(d.get("next_id", len(entries) + 1)), int(d.get("step", 0))))
        return bank

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, token_counter: Callable[[str], int] = whitespace_tokens) -> MemoryBank:
        return cls.from_dict(json.loads(text), token_counter=token_counter)

    # ------------------------------------------------------------------ prompts
    def render(self, *, with_ids: bool = True, by_tier: bool | None = None,
               entries: Sequence[MemoryEntry] | None = None, empty: str = "(no memories)") -> str:
        """The one place a bank becomes prompt text: ``[id] text`` lines, grouped by tier when tiered.

        Each memory is one line, escaped by :func:`prompt_text`, so no text can add lines or tags.
        """
        chosen = list(self._entries.values()) if entries is None else list(entries)
        by_tier = len(self.tiers) > 1 if by_tier is None else by_tier

        def line(e: MemoryEntry) -> str:
            text = prompt_text(e.text)  # one line, no tags: a memory cannot forge the prompt's structure
            return f"[{e.id}] {text}" if with_ids else f"- {text}"

        if not by_tier:
            return "\n".join(line(e) for e in chosen) or empty
        blocks = []
        for tier in self.tiers:
            lines = [line(e) for e in chosen if e.tier == tier]
            blocks.append(f"<{tier}>\n" + ("\n".join(lines) or empty) + f"\n</{tier}>")
        return "\n".join(blocks)
