"""The memory bank: every operation, every refusal code, capacity, tiers, state, and property tests."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memgym.envs.memory_bank import MEM_ALPHA_TIERS, MemoryBank, MemoryEntry, whitespace_tokens
from memgym.envs.operations import Operation, OpErrorCode, OpResult


def state_without_step(bank: MemoryBank) -> dict:
    """``to_dict`` minus the step counter, which every ``apply`` call advances even when it is refused."""
    d = bank.to_dict()
    del d["step"]
    return d


def tiered_bank(**kw) -> MemoryBank:
    return MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",), **kw)


def apply_one(bank: MemoryBank, op: Operation) -> OpResult:
    (result,) = bank.apply([op])
    return result


# ---------------------------------------------------------------------------------------- operations


def test_add_assigns_fresh_ids_strips_text_and_records_origin() -> None:
    bank = MemoryBank()
    r1, r2 = bank.apply(
        [
            Operation.add("  Alice moved to Paris  ", provenance=("D1:3",), timestamp="2023-05-01"),
            Operation.add("Bob likes jazz"),
        ]
    )
    assert (r1.ok, r1.id, r2.ok, r2.id) == (True, "m1", True, "m2")
    entry = bank.get("m1")
    assert entry is not None
    assert (entry.text, entry.tier, entry.provenance, entry.timestamp) == (
        "Alice moved to Paris",
        "memory",
        ("D1:3",),
        "2023-05-01",
    )
    assert entry.created_step == entry.updated_step == 1
    assert [e.id for e in bank] == ["m1", "m2"] and len(bank) == 2 and "m2" in bank


def test_an_update_that_replaces_the_text_replaces_its_provenance() -> None:
    """Rewriting a memory into something else does not let it keep claiming the turns it dropped."""
    bank = MemoryBank()
    bank.apply([Operation.add("Jon lost his job as a banker", provenance=("D1:2",))])
    apply_one(bank, Operation.update("m1", "Gina: Wow, that sounds great!", provenance=("D1:5",)))
    assert bank.get("m1").provenance == ("D1:5",)
    apply_one(bank, Operation.update("m1", "Gina: Wow, that sounds great! Gina opened a store", provenance=("D1:9",)))
    assert bank.get("m1").provenance == ("D1:5", "D1:9")  # a refinement keeps what it refines


def test_update_keeps_id_appends_history_and_merges_provenance() -> None:
    bank = MemoryBank()
    bank.apply([Operation.add("lives in Paris", provenance=("D1:1", "D1:2"), timestamp="t1")])
    result = apply_one(bank, Operation.update("m1", "lives in Rome", provenance=("D1:2", "D2:5")))
    assert result.ok and result.id == "m1"
    entry = bank.get("m1")
    assert entry.text == "lives in Rome"
    assert entry.history == ["lives in Paris"]
    assert entry.provenance == ("D1:1", "D1:2", "D2:5")  # order kept, duplicate dropped
    assert entry.timestamp == "t1"  # an update without a timestamp keeps the old one
    assert (entry.created_step, entry.updated_step) == (1, 2)
    apply_one(bank, Operation.update("m1", "lives in Oslo", timestamp="t3"))
    assert entry.history == ["lives in Paris", "lives in Rome"] and entry.timestamp == "t3"


def test_delete_removes_and_ids_are_never_reused() -> None:
    bank = MemoryBank(id_prefix="f")
    bank.apply([Operation.add("a"), Operation.add("b")])
    result = apply_one(bank, Operation.delete("f2"))
    assert result.ok and result.id == "f2" and "f2" not in bank
    assert apply_one(bank, Operation.add("c")).id == "f3"


def test_noop_changes_nothing_but_counts_a_step() -> None:
    bank = MemoryBank()
    bank.apply([Operation.add("a")])
    before = state_without_step(bank)
    (result,) = bank.apply([Operation.noop()])
    assert result.ok and result.error is None
    assert state_without_step(bank) == before and bank.step == 2


def test_apply_returns_one_result_per_op_in_order() -> None:
    bank = MemoryBank()
    results = bank.apply([Operation.add("a"), Operation.delete("nope"), Operation.noop(), Operation.add("b")])
    assert [(r.ok, r.error) for r in results] == [
        (True, None),
        (False, "unknown_id"),
        (True, None),
        (True, None),
    ]
    assert [r.op.kind for r in results] == ["ADD", "DELETE", "NOOP", "ADD"]
    assert results[1].to_dict()["op"] == {
        "kind": "DELETE",
        "id": "nope",
        "text": None,
        "tier": None,
        "provenance": [],
        "timestamp": None,
    }


# -------------------------------------------------------------------------------------- refusals

# (code, bank factory, setup ops, the refused op); every code of OpErrorCode must appear here.
REFUSALS = [
    ("unknown_id", MemoryBank, [Operation.add("a")], Operation.update("m9", "x")),
    ("unknown_id", MemoryBank, [Operation.add("a")], Operation.delete("m9")),
    ("unknown_id", tiered_bank, [], Operation("DELETE", tier="core")),  # empty single-slot tier
    ("empty_text", MemoryBank, [], Operation.add("   ")),
    ("empty_text", MemoryBank, [], Operation("ADD")),
    ("empty_text", MemoryBank, [Operation.add("a")], Operation.update("m1", "")),
    ("unknown_tier", tiered_bank, [], Operation.add("a", tier="procedural")),
    ("unknown_tier", tiered_bank, [Operation.add("a")], Operation.update("m1", "b", tier="x")),
    (
        "tier_not_allowed",
        tiered_bank,
        [Operation.update(None, "core", tier="core")],
        Operation.add("b", tier="core"),
    ),
    (
        "capacity_entries",
        lambda: MemoryBank(max_entries=2),
        [Operation.add("a"), Operation.add("b")],
        Operation.add("c"),
    ),
    (
        "capacity_tokens",
        lambda: MemoryBank(max_tokens=4),
        [Operation.add("one two three")],
        Operation.add("four five"),
    ),
    (
        "capacity_tokens",
        lambda: MemoryBank(max_tokens=4),
        [Operation.add("one two three")],
        Operation.update("m1", "one two three four five"),
    ),
    ("missing_id", MemoryBank, [Operation.add("a")], Operation.update(None, "b")),
    ("missing_id", MemoryBank, [Operation.add("a")], Operation("DELETE")),
    ("unchanged", MemoryBank, [Operation.add("same")], Operation.update("m1", " same ")),
    ("unknown_kind", MemoryBank, [], Operation("MERGE", text="a")),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("code", "make", "setup", "op"), REFUSALS, ids=[f"{c}-{i}" for i, (c, *_) in enumerate(REFUSALS)]
)
def test_refused_op_reports_code_and_leaves_bank_unchanged(code, make, setup, op) -> None:
    bank = make()
    assert all(r.ok for r in bank.apply(setup))
    events: list[str] = []
    bank.subscribe(lambda event, entry: events.append(event))
    before = state_without_step(bank)
    result = apply_one(bank, op)
    assert (result.ok, result.error) == (False, code)
    assert result.message  # says what to fix
    assert state_without_step(bank) == before
    assert events == []


def test_every_error_code_is_exercised() -> None:
    assert {code for code, *_ in REFUSALS} == set(get_args(OpErrorCode))


def test_refusal_messages_say_what_to_do() -> None:
    bank = MemoryBank(max_entries=1)
    bank.apply([Operation.add("a")])
    assert "UPDATE or DELETE first" in apply_one(bank, Operation.add("b")).message
    tiered = tiered_bank()
    assert "['core', 'semantic', 'episodic']" in apply_one(tiered, Operation.add("a", tier="x")).message


def test_constructor_rejects_inconsistent_tiers() -> None:
    with pytest.raises(ValueError, match="at least one tier"):
        MemoryBank(())
    with pytest.raises(ValueError, match=r"single_slot_tiers \['core'\]"):
        MemoryBank(("memory",), single_slot_tiers=("core",))


# -------------------------------------------------------------------------------------- capacity


def test_capacity_frees_up_after_delete_and_shrinking_updates_pass() -> None:
    bank = MemoryBank(max_entries=2, max_tokens=6)
    bank.apply([Operation.add("a b c"), Operation.add("d e f")])
    assert apply_one(bank, Operation.add("g")).error == "capacity_entries"
    assert apply_one(bank, Operation.update("m1", "a")).ok  # shrinking is always allowed
    assert bank.total_tokens == 4
    assert apply_one(bank, Operation.update("m1", "a b c")).ok  # growing back up to the budget too
    assert apply_one(bank, Operation.delete("m2")).ok
    assert apply_one(bank, Operation.add("x y z")).ok and bank.total_tokens == 6


def test_token_budget_uses_the_given_counter() -> None:
    bank = MemoryBank(max_tokens=10, token_counter=len)  # characters
    assert apply_one(bank, Operation.add("  abcdefgh  ")).ok  # counted after stripping: 8
    assert bank.total_tokens == 8
    assert apply_one(bank, Operation.add("abc")).error == "capacity_tokens"


# ----------------------------------------------------------------------------------------- tiers


def test_single_slot_core_is_written_and_rewritten_by_update_without_id() -> None:
    bank = tiered_bank()
    assert bank.default_tier == "semantic"
    created = apply_one(bank, Operation.update(None, "User: Ann, 34, vet", tier="core"))
    assert created.ok and bank.get(created.id).tier == "core"
    rewritten = apply_one(bank, Operation.update(None, "User: Ann, 35, vet", tier="core"))
    assert rewritten.id == created.id
    core = bank.entries("core")
    assert len(core) == 1 and core[0].history == ["User: Ann, 34, vet"]
    assert apply_one(bank, Operation("DELETE", tier="core")).ok and bank.entries("core") == []


def test_tiers_are_kept_apart() -> None:
    bank = tiered_bank()
    bank.apply([Operation.add("fact"), Operation.add("event", tier="episodic")])
    assert [e.text for e in bank.entries("semantic")] == ["fact"]
    assert [e.text for e in bank.entries("episodic")] == ["event"]
    assert len(bank.entries()) == 2


# ----------------------------------------------------------------------------------------- state


def test_snapshot_and_restore_are_independent_of_later_changes() -> None:
    bank = MemoryBank()
    bank.apply([Operation.add("a"), Operation.add("b")])
    snap = bank.snapshot()
    expected = bank.to_dict()
    bank.apply([Operation.update("m1", "changed"), Operation.delete("m2"), Operation.add("c")])
    assert snap.entries[0].text == "a" and snap.entries[0].history == []
    bank.restore(snap)
    assert bank.to_dict() == expected
    bank.apply([Operation.update("m1", "again")])
    assert snap.entries[0].text == "a"  # restoring did not hand the snapshot's entries to the bank
    assert apply_one(bank, Operation.add("d")).id == "m3"


def test_copy_is_independent_both_ways_and_has_no_listeners() -> None:
    bank = MemoryBank(max_entries=5, id_prefix="x")
    events: list[str] = []
    bank.subscribe(lambda event, entry: events.append(event))
    bank.apply([Operation.add("a"), Operation.update("x1", "b")])
    clone = bank.copy()
    assert clone.to_dict() == bank.to_dict() and clone.max_entries == 5
    events.clear()
    clone.apply([Operation.update("x1", "c"), Operation.add("d")])
    assert bank.get("x1").text == "b" and bank.get("x1").history == ["a"] and len(bank) == 1
    assert events == []
    bank.apply([Operation.delete("x1")])
    assert clone.get("x1").text == "c"


def test_content_hash_is_stable_and_tracks_content() -> None:
    def build() -> MemoryBank:
        b = MemoryBank()
        b.apply([Operation.add("a"), Operation.add("b")])
        return b

    bank, twin = build(), build()
    h0 = bank.content_hash()
    assert (
        h0
        == twin.content_hash()
        == bank.copy().content_hash()
        == MemoryBank.from_json(bank.to_json()).content_hash()
    )
    bank.apply([Operation.noop()])
    assert bank.content_hash() == h0
    seen = {h0}
    for op in (Operation.update("m1", "a2"), Operation.add("c"), Operation.delete("m2")):
        assert apply_one(bank, op).ok
        assert bank.content_hash() not in seen
        seen.add(bank.content_hash())
    assert MemoryBank().content_hash() == MemoryBank(("other",)).content_hash()  # content only, not settings


def test_json_round_trip_keeps_everything() -> None:
    bank = tiered_bank(max_entries=9, max_tokens=99)
    bank.apply(
        [
            Operation.add("café ☕ 東京", provenance=("D1:1",), timestamp="2023"),
            Operation.update(None, "core", tier="core"),
            Operation.add("x", tier="episodic"),
        ]
    )
    bank.apply([Operation.update("m1", "café ☕ 大阪"), Operation.delete("m3")])
    text = bank.to_json()
    assert "東京" in text  # stored as UTF-8, not escaped
    again = MemoryBank.from_json(text)
    assert again.to_dict() == bank.to_dict()
    assert (again.tiers, again.single_slot_tiers, again.max_entries, again.max_tokens) == (
        MEM_ALPHA_TIERS,
        ("core",),
        9,
        99,
    )
    assert again.total_tokens == bank.total_tokens
    assert apply_one(again, Operation.add("y")).id == "m4"  # m3 was deleted: not reused
    assert json.loads(text)["entries"][0]["history"] == ["café ☕ 東京"]


def test_from_dict_without_next_id_never_reuses_an_id() -> None:
    d = {
        "tiers": ["memory"],
        "entries": [MemoryEntry("m1", "a", "memory").to_dict(), MemoryEntry("m3", "c", "memory").to_dict()],
    }
    bank = MemoryBank.from_dict(d)
    assert apply_one(bank, Operation.add("new")).id == "m4"
    assert bank.get("m3").text == "c"


# ---------------------------------------------------------------------------------------- render


def test_render_flat_tiered_subset_and_empty() -> None:
    bank = MemoryBank()
    assert bank.render() == "(no memories)"
    bank.apply([Operation.add("a"), Operation.add("b")])
    assert bank.render() == "[m1] a\n[m2] b"
    assert bank.render(with_ids=False) == "- a\n- b"
    assert bank.render(entries=[bank.get("m2")]) == "[m2] b"
    tiered = tiered_bank()
    tiered.apply([Operation.add("fact"), Operation.update(None, "me", tier="core")])
    assert tiered.render(empty="-") == (
        "<core>\n[m2] me\n</core>\n<semantic>\n[m1] fact\n</semantic>\n<episodic>\n-\n</episodic>"
    )
    assert tiered.render(by_tier=False) == "[m1] fact\n[m2] me"


# ------------------------------------------------------------------------------------- listeners


def test_listeners_receive_each_change_with_its_entry() -> None:
    bank = MemoryBank()
    events: list[tuple[str, str | None, str | None]] = []

    def listener(event: str, entry: MemoryEntry | None) -> None:
        events.append((event, entry.id if entry else None, entry.text if entry else None))

    bank.subscribe(listener)
    bank.apply(
        [
            Operation.add("a"),
            Operation.update("m1", "b"),
            Operation.add("c"),
            Operation.delete("m1"),
            Operation.delete("m1"),
            Operation.noop(),
        ]
    )
    bank.restore(bank.snapshot())
    assert events == [
        ("add", "m1", "a"),
        ("update", "m1", "b"),
        ("add", "m2", "c"),
        ("delete", "m1", "b"),
        ("reset", None, None),
    ]
    bank.unsubscribe(listener)
    bank.apply([Operation.add("d")])
    assert len(events) == 5


# ------------------------------------------------------------------------------ property tests

WORDS = ["Ann", "moved", "to", "Oslo", "likes", "jazz", "café", "☕", "東京", "2023"]


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, percent_good: int = 75) -> st.SearchStrategy:
    """``good`` values most of the time, ``bad`` ones otherwise (``one_of`` would not weight them)."""
    return st.tuples(st.integers(0, 99), good, bad).map(lambda t: t[1] if t[0] < percent_good else t[2])


texts = mostly(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
    st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["", "   ", "\n"])),
)
# ("held", k) picks the k-th id the bank holds when the operation is applied; ("raw", v) is v itself.
id_specs = mostly(
    st.integers(0, 50).map(lambda k: ("held", k)),
    st.one_of(st.none(), st.text(max_size=4), st.integers(-1, 9), st.just("m99")).map(lambda v: ("raw", v)),
)
tiers = mostly(st.none(), st.sampled_from([*MEM_ALPHA_TIERS, "memory", "bogus"]), 60)
op_specs = st.tuples(
    st.sampled_from(["ADD", "ADD", "UPDATE", "UPDATE", "DELETE", "NOOP"]),
    id_specs,
    texts,
    tiers,
    st.lists(st.sampled_from(["D1:1", "D1:2", "D2:1"]), max_size=2).map(tuple),
)
banks = st.builds(
    lambda tiered, max_entries, max_tokens: (
        tiered_bank(max_entries=max_entries, max_tokens=max_tokens)
        if tiered
        else MemoryBank(max_entries=max_entries, max_tokens=max_tokens)
    ),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 6)),
    st.one_of(st.none(), st.integers(0, 25)),
)


def materialise(spec: tuple, bank: MemoryBank) -> Operation:
    """Random operations aim at ids the bank holds, so that updates, deletes and capacity limits are
    reached, mixed with every kind of malformed value."""
    kind, (how, value), text, tier, provenance = spec
    held = [e.id for e in bank]
    entry_id = (held[value % len(held)] if held else "m1") if how == "held" else value
    return Operation(kind, id=entry_id, text=text, tier=tier, provenance=provenance)


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_invariants(bank: MemoryBank) -> None:
    entry_ids = [e.id for e in bank]
    assert len(entry_ids) == len(set(entry_ids)) == len(bank)
    assert bank.total_tokens == sum(whitespace_tokens(e.text) for e in bank)
    if bank.max_entries is not None:
        assert len(bank) <= bank.max_entries
    if bank.max_tokens is not None:
        assert bank.total_tokens <= bank.max_tokens
    for tier in bank.single_slot_tiers:
        assert len(bank.entries(tier)) <= 1
    assert all(e.tier in bank.tiers and e.text == e.text.strip() and e.text for e in bank)


@PROPERTY_SETTINGS
@given(bank=banks, specs=st.lists(op_specs, max_size=40))
def test_random_operation_sequences_keep_the_invariants(bank: MemoryBank, specs: list[tuple]) -> None:
    issued: set[str] = set()
    events: list[str] = []
    bank.subscribe(lambda event, entry: events.append(event))
    for spec in specs:
        op = materialise(spec, bank)
        before = state_without_step(bank)
        before_hash = bank.content_hash()
        target = bank.get(str(op.id)) if op.id is not None else None
        old_text, old_history = (target.text, list(target.history)) if target else (None, None)
        events.clear()

        result = apply_one(bank, op)
        new_ids = {e.id for e in bank} - before_ids(before)
        assert not new_ids & issued, f"id(s) {new_ids & issued} handed out twice"
        assert all(bank.get(i).history == [] for i in new_ids)
        issued |= new_ids

        assert result.error in (None, *get_args(OpErrorCode))
        assert result.ok == (result.error is None)
        check_invariants(bank)
        if not result.ok:
            assert state_without_step(bank) == before and events == [] and bank.content_hash() == before_hash
            continue
        if op.kind == "NOOP":
            assert state_without_step(bank) == before and events == []
            continue
        assert len(events) == 1
        if op.kind == "UPDATE" and target is not None:
            assert target.history == [*old_history, old_text]
            assert target.text == op.text.strip()
        if op.kind == "DELETE":
            assert result.id not in bank


def before_ids(state: dict) -> set[str]:
    return {e["id"] for e in state["entries"]}


@PROPERTY_SETTINGS
@given(bank=banks, specs=st.lists(op_specs, max_size=30), more_specs=st.lists(op_specs, max_size=10))
def test_state_round_trips_after_random_ops(
    bank: MemoryBank, specs: list[tuple], more_specs: list[tuple]
) -> None:
    for spec in specs:
        bank.apply([materialise(spec, bank)])
    more = [materialise(spec, bank) for spec in more_specs]
    saved, snap = bank.to_dict(), bank.snapshot()
    restored = MemoryBank.from_json(bank.to_json())
    assert restored.to_dict() == saved and restored.content_hash() == bank.content_hash()
    clone = bank.copy()
    bank.apply(more)
    assert clone.to_dict() == saved  # the copy did not follow the original
    clone.apply(more)
    restored.apply(more)
    assert clone.to_dict() == restored.to_dict() == bank.to_dict()  # replaying is deterministic
    bank.restore(snap)
    assert bank.to_dict() == saved
    check_invariants(bank)
