"""What both retrievers share: :class:`Hit`, the :class:`Retriever` protocol and the bank-following base.

:class:`_BankRetriever` follows a :class:`~memgym.envs.memory_bank.MemoryBank` through
:meth:`MemoryBank.subscribe`, filters tiers, ranks (:func:`_top_k`, ties by bank order) and clones for a
copy of the bank; subclasses keep their own index through its ``_index_*`` hooks and score in ``_score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.errors import ConfigError

__all__ = ["Hit", "Retriever"]


@dataclass(frozen=True)
class Hit:
    """One search result: the id of a bank entry and its score (higher is better)."""

    id: str
    score: float


@runtime_checkable
class Retriever(Protocol):
    """Searches the entries of the one bank it is attached to, following the bank's changes."""

    def attach(self, bank: MemoryBank) -> None:
        """Index ``bank``'s entries and follow its changes (detaching from any previous bank)."""
        ...

    def detach(self) -> None:
        """Stop following the attached bank and forget its entries."""
        ...

    def search(self, query: str, k: int = 10, tiers: Sequence[str] | None = None) -> list[Hit]:
        """The ``k`` best entries for ``query`` (only from ``tiers`` when given), best first."""
        ...

    def retrieve(self, query: str, k: int = 10, tiers: Sequence[str] | None = None) -> list[MemoryEntry]:
        """Like :meth:`search`, returning the bank's entries."""
        ...

    def refresh(self) -> None:
        """Bring the index up to date now instead of at the next search."""
        ...

    def clone_for(self, bank: MemoryBank) -> Retriever:
        """A retriever of the same kind attached to ``bank``, reusing this index if the content is equal."""
        ...

    def __len__(self) -> int: ...


def _top_k(
    scores: np.ndarray, order: np.ndarray, candidates: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``k`` best candidates, best first; equal scores go by ``order`` (smaller first).

    ``np.argpartition`` alone would split ties at the k-th score arbitrarily, so every candidate
    scoring at least the k-th score is kept and the survivors are sorted by (score, order).
    """
    rows = np.flatnonzero(candidates)
    values = scores[rows]
    if len(rows) > k:
        kth = np.partition(values, len(values) - k)[len(values) - k]
        keep = values >= kth
        rows, values = rows[keep], values[keep]
    best = np.lexsort((order[rows], -values))[:k]
    return rows[best], values[best]


class _BankRetriever:
    """What both retrievers share: following a bank, tier filters, ranking, cloning.

    Subclasses keep their index in step through the ``_index_*`` hooks and score in ``_score``.
    ``_texts`` and ``_tier_of`` mirror the bank in the bank's own order (updates keep their place).
    """

    def __init__(self, bank: MemoryBank | None = None) -> None:
        self._bank: MemoryBank | None = None
        self._texts: dict[str, str] = {}
        self._tier_of: dict[str, str] = {}
        self._tier_codes: dict[str, int] = {}
        if bank is not None:
            self.attach(bank)

    # ------------------------------------------------------------------ following a bank
    def attach(self, bank: MemoryBank) -> None:
        """Index ``bank``'s current entries and follow its changes; detaches from a previous bank."""
        self.detach()
        self._bank = bank
        bank.subscribe(self._on_change)
        self._reindex()

    def detach(self) -> None:
        """Stop following the attached bank (if any) and forget its entries."""
        if self._bank is not None:
            self._bank.unsubscribe(self._on_change)
            self._bank = None
        self._texts, self._tier_of = {}, {}
        self._index_reset([], {})

    @property
    def bank(self) -> MemoryBank | None:
        """The bank this retriever follows (``None`` when detached)."""
        return self._bank

    def _on_change(self, event: str, entry: MemoryEntry | None) -> None:
        if event == "reset" or entry is None:
            self._reindex()
        elif event == "delete":
            if self._texts.pop(entry.id, None) is not None:
                del self._tier_of[entry.id]
                self._index_delete(entry.id)
        elif event in ("add", "update"):
            self._texts[entry.id] = entry.text
            self._tier_of[entry.id] = entry.tier
            self._tier_code(entry.tier)
            self._index_put(entry.id, entry.text)

    def _reindex(self) -> None:
        old_texts = self._texts
        entries = self._bank.entries() if self._bank is not None else []
        self._texts = {e.id: e.text for e in entries}
        self._tier_of = {e.id: e.tier for e in entries}
        for e in entries:
            self._tier_code(e.tier)
        self._index_reset(entries, old_texts)

    def _tier_code(self, tier: str) -> int:
        return self._tier_codes.setdefault(tier, len(self._tier_codes))

    def __len__(self) -> int:
        return len(self._texts)

    # ------------------------------------------------------------------ searching
    def search(self, query: str, k: int = 10, tiers: Sequence[str] | None = None) -> list[Hit]:
        """The ``k`` best entries for ``query``, best first, ties by bank order (older first).

        Args:
            query: free text; an empty query (or one with no indexable words) returns ``[]``.
            k: how many hits at most; ``k <= 0`` returns ``[]``.
            tiers: only search these tiers (scores are still computed against the whole bank).

        Raises:
            ConfigError: a tier in ``tiers`` is not one of the bank's tiers.
        """
        wanted = self._wanted_tier_codes(tiers)
        if k <= 0 or not self._texts or not isinstance(query, str) or not query.strip():
            return []
        scored = self._score(query)
        if scored is None:
            return []
        ids, scores, order, tier_codes, matched = scored
        if wanted is not None:
            matched = matched & np.isin(tier_codes, wanted)
        rows, values = _top_k(scores, order, matched, k)
        return [Hit(ids[r], float(v)) for r, v in zip(rows.tolist(), values.tolist(), strict=True)]

    def retrieve(self, query: str, k: int = 10, tiers: Sequence[str] | None = None) -> list[MemoryEntry]:
        """Like :meth:`search`, but returns the bank's :class:`MemoryEntry` objects."""
        if self._bank is None:
            return []
        found = (self._bank.get(hit.id) for hit in self.search(query, k, tiers))
        return [entry for entry in found if entry is not None]

    def _wanted_tier_codes(self, tiers: Sequence[str] | None) -> np.ndarray | None:
        if tiers is None:
            return None
        if isinstance(tiers, str):  # a bare "semantic" would otherwise be read letter by letter
            tiers = [tiers]
        known = self._bank.tiers if self._bank is not None else tuple(self._tier_codes)
        unknown = [t for t in tiers if t not in known]
        if unknown:
            raise ConfigError(
                f"unknown tier(s) {unknown} in the search filter; the bank's tiers are {list(known)}"
            )
        return np.array([self._tier_codes[t] for t in tiers if t in self._tier_codes], dtype=np.int64)

    # ------------------------------------------------------------------ branching
    def clone_for(self, bank: MemoryBank) -> _BankRetriever:
        """A retriever with the same settings attached to ``bank`` (e.g. ``bank.copy()``).

        When ``bank`` holds the same entries in the same order as the attached bank, the clone shares
        this retriever's index (copied on the first write by either side), so branching G rollouts
        costs a pass over the ids instead of re-tokenising or re-embedding every entry. Otherwise the
        clone indexes ``bank`` from scratch, so the result is always correct.
        """
        self.refresh()
        clone = self._empty_like()
        if self._same_content(bank):
            clone._texts, clone._tier_of = dict(self._texts), dict(self._tier_of)
            clone._tier_codes = dict(self._tier_codes)
            clone._copy_index_from(self)
            clone._bank = bank
            bank.subscribe(clone._on_change)
        else:
            clone.attach(bank)
        return clone

    def _same_content(self, bank: MemoryBank) -> bool:
        if len(bank) != len(self._texts):
            return False
        return all(
            e.id == eid and e.text == text and e.tier == self._tier_of[eid]
            for e, (eid, text) in zip(bank, self._texts.items(), strict=True)
        )

    # ------------------------------------------------------------------ subclass hooks
    def refresh(self) -> None:
        """Bring the index up to date now (otherwise the next search does it)."""

    def _empty_like(self) -> _BankRetriever:
        raise NotImplementedError

    def _copy_index_from(self, other: Any) -> None:
        raise NotImplementedError

    def _index_put(self, entry_id: str, text: str) -> None:
        raise NotImplementedError

    def _index_delete(self, entry_id: str) -> None:
        raise NotImplementedError

    def _index_reset(self, entries: list[MemoryEntry], old_texts: dict[str, str]) -> None:
        raise NotImplementedError

    def _score(self, query: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(ids, scores, order, tier codes, matched)`` per row, or ``None`` for no match.

        Rows that hold no entry (a BM25 slot left free by a delete) must not be ``matched``.
        """
        raise NotImplementedError
