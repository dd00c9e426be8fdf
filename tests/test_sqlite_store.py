"""The SQLite bank store: round trips, keys, and all-or-nothing saves (failed writes and crashes)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memgym.envs.memory_bank import MEM_ALPHA_TIERS, MemoryBank
from memgym.envs.operations import Operation
from memgym.envs.sqlite_store import SCHEMA_VERSION, SQLiteBankStore, StoreError
from memgym.errors import MemgymError


def sample_bank() -> MemoryBank:
    bank = MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",), max_entries=50, max_tokens=500)
    bank.apply(
        [
            Operation.add("Ann moved to Oslo", provenance=("D1:3", "D1:4"), timestamp="2023-05-01"),
            Operation.update(None, "User: Ann, café owner ☕", tier="core"),
            Operation.add("東京 trip in May", tier="episodic"),
            Operation.add("to be deleted"),
        ]
    )
    bank.apply([Operation.update("m1", "Ann lives in Oslo"), Operation.delete("m4")])
    return bank


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteBankStore(tmp_path / "banks.sqlite") as s:
        yield s


def test_round_trip_keeps_everything(store: SQLiteBankStore) -> None:
    bank = sample_bank()
    store.save(bank, key="ann")
    loaded = store.load("ann")
    assert loaded is not None and loaded.to_dict() == bank.to_dict()
    assert loaded.get("m1").history == ["Ann moved to Oslo"]
    assert loaded.get("m1").provenance == ("D1:3", "D1:4")
    assert loaded.total_tokens == bank.total_tokens and loaded.content_hash() == bank.content_hash()
    assert loaded.apply([Operation.add("next")])[0].id == "m5"  # the deleted m4 is not handed out again


def test_empty_bank_and_default_key(store: SQLiteBankStore) -> None:
    store.save(MemoryBank(id_prefix="x"))
    loaded = store.load()
    assert loaded is not None and len(loaded) == 0 and loaded.id_prefix == "x"
    assert store.keys() == ["default"]


def test_keys_delete_and_missing_keys(store: SQLiteBankStore) -> None:
    assert store.load("nobody") is None and store.keys() == []
    store.save(sample_bank(), key="b")
    store.save(MemoryBank(), key="a")
    assert store.keys() == ["a", "b"] and "b" in store and "c" not in store
    assert store.delete("b") is True and store.delete("b") is False
    assert store.keys() == ["a"] and store.load("b") is None
    with sqlite3.connect(store.path) as raw:  # the entries went with the bank
        assert raw.execute("SELECT COUNT(*) FROM entries WHERE key = 'b'").fetchone() == (0,)


def test_save_replaces_the_whole_bank(store: SQLiteBankStore) -> None:
    bank = sample_bank()
    store.save(bank, key="k")
    bank.apply([Operation.delete("m1"), Operation.delete("m3")])
    store.save(bank, key="k")
    assert store.load("k").to_dict() == bank.to_dict()
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM entries WHERE key = 'k'").fetchone() == (1,)


def test_persists_across_connections_and_closed_store_refuses(tmp_path: Path) -> None:
    path = tmp_path / "banks.sqlite"
    with SQLiteBankStore(path) as first:
        first.save(sample_bank(), key="ann")
    with pytest.raises(StoreError, match="is closed"):
        first.keys()
    with SQLiteBankStore(str(path)) as second:
        assert second.load("ann").to_dict() == sample_bank().to_dict()


def test_load_uses_the_given_token_counter(store: SQLiteBankStore) -> None:
    store.save(sample_bank(), key="k")
    assert store.load("k", token_counter=len).total_tokens == sum(len(e.text) for e in sample_bank())


# ----------------------------------------------------------------------------------- atomicity


def test_an_entry_that_cannot_be_serialised_leaves_the_stored_bank_intact(store: SQLiteBankStore) -> None:
    before = sample_bank()
    store.save(before, key="ann")
    after = sample_bank()
    after.apply(
        [Operation.add("fine"), Operation.add("poison", provenance=(object(),)), Operation.add("late")]
    )
    with pytest.raises(StoreError, match=r"could not save bank 'ann' .*not JSON serializable.*unchanged"):
        store.save(after, key="ann")
    assert store.load("ann").to_dict() == before.to_dict()
    with pytest.raises(MemgymError):  # a brand-new key is not half-created either
        store.save(after, key="new")
    assert store.keys() == ["ann"]
    store.save(before, key="ann2")  # the connection is usable after the rollback
    assert store.keys() == ["ann", "ann2"]


def test_a_database_failure_midway_rolls_back(store: SQLiteBankStore) -> None:
    before = sample_bank()
    store.save(before, key="ann")
    # A real write failure inside SQLite on the third entry row, after other rows were written.
    store._db.execute(
        "CREATE TEMP TRIGGER fail_third BEFORE INSERT ON entries WHEN NEW.position = 2 "
        "BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END"
    )
    after = sample_bank()
    after.apply([Operation.update("m1", "changed")])
    with pytest.raises(StoreError, match="disk full"):
        store.save(after, key="ann")
    assert store.load("ann").to_dict() == before.to_dict()


def test_a_process_killed_midway_leaves_the_previous_bank(tmp_path: Path) -> None:
    path = tmp_path / "banks.sqlite"
    with SQLiteBankStore(path) as s:
        s.save(sample_bank(), key="ann")
    # The child dies (os._exit: no cleanup, no rollback) while writing the third entry of a new state.
    child = textwrap.dedent(f"""
        import os
        import memgym.envs.sqlite_store as store_module
        from memgym.envs.memory_bank import MemoryBank
        from memgym.envs.operations import Operation

        real_row = store_module._entry_row
        def dying_row(key, position, entry):
            if position == 2:
                os._exit(17)
            return real_row(key, position, entry)
        store_module._entry_row = dying_row
        bank = MemoryBank()
        bank.apply([Operation.add(f"new {{i}}") for i in range(5)])
        store_module.SQLiteBankStore({str(path)!r}).save(bank, key="ann")
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 17, proc.stderr
    with SQLiteBankStore(path) as s:
        assert s.load("ann").to_dict() == sample_bank().to_dict()


# ---------------------------------------------------------------------------------- bad files


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer memgym"):
        SQLiteBankStore(path)


def test_corrupt_rows_give_a_clear_error(store: SQLiteBankStore) -> None:
    store.save(sample_bank(), key="ann")
    store._db.execute("UPDATE banks SET settings = '{\"tiers\": []}' WHERE key = 'ann'")
    with pytest.raises(StoreError, match="bank 'ann' in .* is corrupt"):
        store.load("ann")


# ------------------------------------------------------------------------------ property test

op_specs = st.tuples(
    st.sampled_from(["ADD", "UPDATE", "DELETE"]), st.integers(0, 9), st.text(min_size=1, max_size=15)
)


@settings(max_examples=50, deadline=None)
@given(specs=st.lists(op_specs, max_size=20), tiered=st.booleans())
def test_random_banks_round_trip(specs: list[tuple], tiered: bool) -> None:
    bank = MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",)) if tiered else MemoryBank()
    for kind, k, text in specs:
        held = [e.id for e in bank]
        bank.apply([Operation(kind, id=held[k % len(held)] if held else None, text=text)])
    with SQLiteBankStore(":memory:") as s:
        s.save(bank, key=text if specs else "k")
        assert s.load(s.keys()[0]).to_dict() == bank.to_dict()
