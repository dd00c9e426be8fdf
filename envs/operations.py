"""Typed memory operations and their results: the only way a memory bank changes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Literal

OpKind = Literal["ADD", "UPDATE", "DELETE", "NOOP"]
OP_KINDS: tuple[str, ...] = ("ADD", "UPDATE", "DELETE", "NOOP")

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    r"""``text`` as valid Unicode: every surrogate code point (which UTF-8 cannot encode) becomes U+FFFD.

    A policy's or a file's text may hold a lone surrogate (``"\ud83d"`` from a cut emoji escape); once
    stored it would break whatever encodes it later (hashes, tokenizers, JSON files), so the parser, the
    loaders and the bank clean texts where they come in.

    Example:
        >>> clean_text("tea \ud83d!") == "tea \ufffd!"
        True
    """
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


#: Why an operation was refused; stable strings that trainers count and tests match.
OpErrorCode = Literal[
    "unknown_id",
    "empty_text",
    "unknown_tier",
    "tier_not_allowed",
    "capacity_entries",
    "capacity_tokens",
    "missing_id",
    "unchanged",
    "unknown_kind",
]


@dataclass(frozen=True)
class Operation:
    """One change to a memory bank.

    - ``ADD(text, tier)``: insert a new entry into ``tier`` (the bank's default tier when ``None``).
    - ``UPDATE(id, text)``: replace an entry's text, keeping its id and appending the old text to its
      history. On a single-slot tier such as Mem-α's ``core`` block, ``UPDATE(text, tier="core")`` with
      no id rewrites the block (creating it if empty).
    - ``DELETE(id)``: remove an entry.
    - ``NOOP``: change nothing (Mem0's ``NONE`` means the same).

    ``provenance`` lists the conversation turn ids the content came from; ``timestamp`` is the
    conversation time at which it was written.
    """

    kind: OpKind
    id: str | None = None
    text: str | None = None
    tier: str | None = None
    provenance: tuple[str, ...] = ()
    timestamp: str | None = None

    def __post_init__(self) -> None:
        for name in ("id", "text", "tier"):  # whatever built it, an operation holds valid Unicode
            value = getattr(self, name)
            if isinstance(value, str) and _SURROGATE.search(value):
                object.__setattr__(self, name, clean_text(value))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["provenance"] = list(self.provenance)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Operation:
        return cls(
            kind=d["kind"], id=d.get("id"), text=d.get("text"), tier=d.get("tier"),
            provenance=tuple(d.get("provenance") or ()), timestamp=d.get("timestamp"),
        )

    # Short constructors so call sites read like the op they build.
    @classmethod
    def add(cls, text: str, tier: str | None = None, **kw) -> Operation:
        return cls("ADD", text=text, tier=tier, **kw)

    @classmethod
    def update(cls, id: str | None, text: str, tier: str | None = None, **kw) -> Operation:
        return cls("UPDATE", id=id, text=text, tier=tier, **kw)

    @classmethod
    def delete(cls, id: str) -> Operation:
        return cls("DELETE", id=id)

    @classmethod
    def noop(cls) -> Operation:
        return cls("NOOP")


@dataclass(frozen=True)
class OpResult:
    """What happened to one operation: ``ok`` with the affected id, or an error code and message."""

    op: Operation
    ok: bool
    id: str | None = None
    error: OpErrorCode | None = None
    message: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"op": self.op.to_dict(), "ok": self.ok, "id": self.id, "error": self.error,
                "message": self.message}
