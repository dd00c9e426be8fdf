"""BM25 retrieval over an inverted index kept in step with the bank, change by change.

:class:`BM25Retriever` tokenises with `bm25s <https://github.com/xhluca/bm25s>`_ (its tokenizer, whose
vocabulary only grows so token ids stay valid as the bank changes, its English stopwords, and
PyStemmer's Snowball stemmer), but keeps the inverted index itself. This part is hand-written because
no maintained BM25 library updates an index in place: bm25s (chosen over the unmaintained
``rank-bm25``) precomputes every (term, document) weight into a sparse matrix, and as those weights
depend on the document count, the mean length and each term's document frequency, any change meant
rebuilding the whole matrix at the next search (0.5 s at 10k entries, 3.8 s at 100k). Here the index
holds only what changes locally: per-term postings (term -> {document: tf}), document lengths and their
running total; the document frequency is a postings length. An ADD / UPDATE / DELETE touches only that
entry's terms, and a search computes the weights of just the documents in the postings of the query's
terms, with bm25s's formulas (its default "lucene" variant and the others), so scores equal bm25s's
for the same tokens (in float64).
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.envs.retrieval.base import _BankRetriever
from memgym.errors import ConfigError, DependencyNotInstalled

__all__ = ["BM25_METHODS", "BM25Retriever"]


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
