"""Save memory banks to SQLite, each save one transaction, so a crash never leaves half a bank.

A store holds many banks under string keys (one per episode, per user, per checkpoint). ``save``
replaces a key's whole state (settings, counters and every entry) inside a single transaction: if
anything fails midway, whether serialising an entry or the disk, the previous state of that key is what
remains. Entries are rows (not one JSON blob), so a store can be inspected with any SQLite client.

Example:
    >>> from memgym.envs.memory_bank import MemoryBank
    >>> from memgym.envs.operations import Operation
    >>> bank = MemoryBank()
    >>> _ = bank.apply([Operation.add("Alice lives in Paris")])
    >>> with SQLiteBankStore(":memory:") as store:
    ...     store.save(bank, key="alice")
    ...     store.load("alice").render()
    '[m1] Alice lives in Paris'
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from types import TracebackType

from memgym.envs.memory_bank import MemoryBank, whitespace_tokens
from memgym.errors import MemgymError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS banks (
    key TEXT PRIMARY KEY,
    settings TEXT NOT NULL,      -- JSON: tiers, single_slot_tiers, max_entries, max_tokens, id_prefix
    next_id INTEGER NOT NULL,
    step INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT NOT NULL REFERENCES banks(key) ON DELETE CASCADE,
    position INTEGER NOT NULL,   -- the bank's order
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    tier TEXT NOT NULL,
    timestamp TEXT,
    provenance TEXT NOT NULL,    -- JSON list of turn ids
    created_step INTEGER NOT NULL,
    updated_step INTEGER NOT NULL,
    history TEXT NOT NULL,       -- JSON list of previous texts, oldest first
    PRIMARY KEY (key, id)
);
"""

_SETTINGS = ("tiers", "single_slot_tiers", "max_entries", "max_tokens", "id_prefix")


class StoreError(MemgymError):
    """A bank could not be saved or loaded; a failed save leaves the stored bank as it was."""


class SQLiteBankStore:
    """Memory banks in one SQLite file, keyed by name.

    Args:
        path: the database file (created if missing), or ``":memory:"`` for a store that lives as long
            as this object.
        timeout: seconds to wait for another process's write lock before giving up.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        # Autocommit mode: transactions are opened explicitly, so their extent is visible in the code.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None
        )
        self._conn.execute("PRAGMA foreign_keys = ON")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self.close()
            raise StoreError(
                f"{self.path} was written by a newer memgym (store schema {version}; this one reads "
                f"{SCHEMA_VERSION}); upgrade memgym to read it"
            )
        self._conn.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SQLiteBankStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store {self.path} is closed")
        return self._conn

    # ------------------------------------------------------------------ writing
    def save(self, bank: MemoryBank, key: str = "default") -> None:
        """Replace the bank stored under ``key`` with ``bank``, all or nothing.

        Raises:
            StoreError: an entry could not be serialised or the database refused the write; the bank
                previously stored under ``key`` (if any) is unchanged.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # take the write lock now, not halfway through
        try:
            state = bank.to_dict()
            settings = json.dumps({name: state[name] for name in _SETTINGS}, ensure_ascii=False)
            db.execute("DELETE FROM entries WHERE key = ?", (key,))
            db.execute(
                "INSERT OR REPLACE INTO banks (key, settings, next_id, step) VALUES (?, ?, ?, ?)",
                (key, settings, state["next_id"], state["step"]),
            )
            for position, entry in enumerate(state["entries"]):
                db.execute(
                    "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _entry_row(key, position, entry),
                )
        except BaseException as exc:  # roll back on anything, KeyboardInterrupt included
            db.execute("ROLLBACK")
            if not isinstance(exc, Exception):
                raise
            raise StoreError(
                f"could not save bank {key!r} to {self.path}: {type(exc).__name__}: {exc}; "
                "the stored bank is unchanged"
            ) from exc
        db.execute("COMMIT")

    def delete(self, key: str) -> bool:
        """Remove the bank stored under ``key``; returns whether there was one."""
        with_entries = self._db.execute("DELETE FROM banks WHERE key = ?", (key,))  # cascades to entries
        return with_entries.rowcount > 0

    # ------------------------------------------------------------------ reading
    def keys(self) -> list[str]:
        """The stored keys, sorted."""
        return [row[0] for row in self._db.execute("SELECT key FROM banks ORDER BY key")]

    def __contains__(self, key: object) -> bool:
        return self._db.execute("SELECT 1 FROM banks WHERE key = ?", (key,)).fetchone() is not None

    def load(
        self, key: str = "default", *, token_counter: Callable[[str], int] = whitespace_tokens
    ) -> MemoryBank | None:
        """The bank stored under ``key``, or ``None`` when there is none.

        Args:
            key: the name it was saved under.
            token_counter: the counter of the new bank (functions are not stored; pass the one the
                saved bank used when its token budget matters).
        """
        db = self._db
        db.execute("BEGIN")  # one read snapshot for the bank row and its entries
        try:
            row = db.execute("SELECT settings, next_id, step FROM banks WHERE key = ?", (key,)).fetchone()
            rows = db.execute(
                "SELECT id, text, tier, timestamp, provenance, created_step, updated_step, history "
                "FROM entries WHERE key = ? ORDER BY position",
                (key,),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        if row is None:
            return None
        try:
            state = json.loads(row[0]) | {"next_id": row[1], "step": row[2]}
            state["entries"] = [_entry_dict(r) for r in rows]
            return MemoryBank.from_dict(state, token_counter=token_counter)
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"bank {key!r} in {self.path} is corrupt: {type(exc).__name__}: {exc}") from exc


def _entry_row(key: str, position: int, entry: dict) -> tuple:
    return (
        key,
        position,
        entry["id"],
        entry["text"],
        entry["tier"],
        entry["timestamp"],
        json.dumps(entry["provenance"], ensure_ascii=False),
        entry["created_step"],
        entry["updated_step"],
        json.dumps(entry["history"], ensure_ascii=False),
    )


def _entry_dict(row: tuple) -> dict:
    entry_id, text, tier, timestamp, provenance, created, updated, history = row
    return {
        "id": entry_id,
        "text": text,
        "tier": tier,
        "timestamp": timestamp,
        "provenance": json.loads(provenance),
        "created_step": created,
        "updated_step": updated,
        "history": json.loads(history),
    }
