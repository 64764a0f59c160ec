"""The ``secrets`` table (schema v9): an older file gains it empty; versions count sets; rows hold only bytes the
vault sealed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hearth.store.sqlite import _MIGRATIONS, SCHEMA_VERSION, SqliteStore


def test_a_version_8_file_is_upgraded_with_no_secrets(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    raw = sqlite3.connect(path)
    for steps in _MIGRATIONS[:8]:
        for statement in steps:
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 8")
    raw.commit()
    raw.close()
    store = SqliteStore(path)
    try:
        assert store.secrets() == [] and store.secret("A") is None and store.meta("secrets_key_check") is None
    finally:
        store.close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
    raw.close()


def test_setting_again_bumps_the_version_and_keeps_created(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    try:
        first = store.put_secret("A", b"n" * 12, b"c1", 10.0)
        second = store.put_secret("A", b"m" * 12, b"c2", 20.0)
        assert (first.version, second.version, second.created, second.updated) == (1, 2, 10.0, 20.0)
        store.reseal_secret("A", b"o" * 12, b"c3")
        row = store.secret("A")
        assert row is not None and (row.version, row.nonce, row.ciphertext) == (2, b"o" * 12, b"c3")
        assert store.delete_secret("A") and not store.delete_secret("A")
    finally:
        store.close()
