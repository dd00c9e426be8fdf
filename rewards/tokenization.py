"""The tokenisers benchmark code relies on, reproduced without downloads: nltk's ``word_tokenize`` and
``sent_tokenize`` (which need the Punkt model, a data download) and GPT-4o token counts (tiktoken).

Punkt without its data
    ``nltk.word_tokenize`` is ``nltk.sent_tokenize`` (Punkt's pre-trained English model) followed by
    nltk's improved Treebank word tokenizer (``NLTKWordTokenizer``) on each sentence. The Treebank step
    needs no data and is used as is. The sentence step only matters where a sentence ends inside the
    text: the Treebank tokenizer splits off a *final* period only, so ``"home. Then"`` stays ``home.``
    unless the sentences are split first. :func:`sent_tokenize` runs nltk's own Punkt algorithm
    (``PunktSentenceTokenizer``) with parameters written here instead of the trained ones: the common
    English abbreviations (:data:`ABBREVIATIONS`, so ``"Dr. Smith"`` is not a sentence break). What it
    cannot know is the rest of the trained model (rarer abbreviations, collocations, sentence starters
    learned from the training corpus), so a period after a rare abbreviation followed by a capitalised
    word may be split where the trained model would not. On short answers (the QA pairs benchmarks
    score) this almost never arises; ``experiments/protocol_agreement.py`` measures it.

GPT-4o tokens without tiktoken
    MemoryAgentBench packs sentences into chunks of 4,096 ``gpt-4o-mini`` tokens (tiktoken's
    ``o200k_base``). :func:`count_gpt4o_tokens` uses tiktoken when it is installed *and* its encoding is
    already cached; otherwise it counts the pieces of o200k's own pre-tokenisation pattern (words with
    their leading space, numbers in groups of up to three digits, punctuation runs), which is a lower
    bound that is within a few percent for English prose (common words are single tokens).

>>> word_tokenize("I went home. Then I slept!")
['I', 'went', 'home', '.', 'Then', 'I', 'slept', '!']
>>> sent_tokenize("Dr. Smith came at 5 p.m. today. He left.")
['Dr. Smith came at 5 p.m. today.', 'He left.']
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["ABBREVIATIONS", "count_gpt4o_tokens", "sent_tokenize", "word_tokenize"]

#: Abbreviations Punkt should not end a sentence at (lower-case, without the final period): a short
#: hand-written list of common English ones that are not also words ("no.", "sun.", "wed." are left
#: out: a sentence can end with those words).
ABBREVIATIONS: frozenset[str] = frozenset(
    """
    mr mrs ms dr prof sr jr st mt messrs lt sgt capt cmdr gov
    jan feb apr jul aug sept oct nov dec
    e.g i.e etc vs al cf approx dept univ inc ltd corp bros assn
    a.m p.m u.s u.k u.s.a d.c ph.d m.d b.a b.sc blvd hwy apt
    """.split()
)

# o200k_base's pre-tokenisation pattern (tiktoken), written with the ``regex`` module's classes.
_O200K_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)


@cache
def _punkt() -> Any:
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


@cache
def _treebank() -> Any:
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def sent_tokenize(text: str) -> list[str]:
    """Sentences as ``nltk.sent_tokenize`` splits them, with Punkt's algorithm and hand-set parameters."""
    return _punkt().tokenize(text)


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)``: :func:`sent_tokenize`, then nltk's Treebank tokenizer per sentence."""
    return [token for sentence in sent_tokenize(text) for token in _treebank().tokenize(sentence)]


@cache
def _tiktoken() -> Any:
    """tiktoken's o200k_base encoder if it is installed and needs no download, else ``None``."""
    import os

    try:
        import tiktoken
        import tiktoken_ext.openai_public  # noqa: F401  (registers the encodings)
    except ImportError:
        return None
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if not cache_dir or not os.path.isdir(cache_dir):
        return None  # loading would try to download the vocabulary
    try:
        return tiktoken.get_encoding("o200k_base")
    except Exception:  # noqa: BLE001  (any failure to load means: count approximately)
        return None


@cache
def _o200k_pieces() -> Any:
    import regex

    return regex.compile(_O200K_PATTERN)


def count_gpt4o_tokens(text: str) -> int:
    """GPT-4o / gpt-4o-mini tokens of ``text``: exact with a cached tiktoken, else o200k pre-token pieces.

    >>> count_gpt4o_tokens("Hello world, it's 2024!")  # Hello | world | , | it's | ' ' | 202 | 4 | !
    8
    """
    encoder = _tiktoken()
    if encoder is not None:
        return len(encoder.encode(text, allowed_special={"<|endoftext|>"}))
    return sum(1 for _ in _o200k_pieces().finditer(text))
