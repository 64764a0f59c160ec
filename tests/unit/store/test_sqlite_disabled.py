"""Schema version 8: disabled functions survive a restart and go with their function; the audit log outlives it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hearth.model import AuditEntry, FunctionSpec
from hearth.store import SqliteStore
from hearth.store.base import FunctionRecord
from hearth.store.sqlite import _MIGRATIONS, SCHEMA_VERSION


def record(name: str) -> FunctionRecord:
    return FunctionRecord(FunctionSpec(name, "app.main", Path("/srv")), None, 0, "2026-11-21T16:00:00Z")


def test_disabled_functions_survive_a_restart_and_go_with_their_function(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    for name in ("idle", "other"):
        store.put_function(record(name))
    off = AuditEntry(1_800_000_000.5, "idle", "disabled", "no invocations for 30 days")
    store.put_disabled(off)
    store.put_disabled(AuditEntry(1_800_000_001.0, "other", "disabled", "by hand"))
    store.close()
    store = SqliteStore(path)
    try:
        assert store.load().disabled == {"idle": off, "other": AuditEntry(1_800_000_001.0, "other", "disabled",
                                                                          "by hand")}
        store.delete_disabled("other")
        store.delete_function("idle")  # cascades: a new function of that name starts enabled
        assert store.load().disabled == {}
    finally:
        store.close()


def test_the_audit_log_is_newest_first_per_function_and_outlives_its_function(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    try:
        store.put_function(record("f"))
        entries = [AuditEntry(100.0, "f", "disabled", "idle"), AuditEntry(200.0, "g", "disabled", "by hand"),
                   AuditEntry(300.0, "f", "enabled", "hearth enable"), AuditEntry(400.0, "f", "disabled", "idle")]
        for entry in entries:
            store.add_audit(entry)
        store.delete_function("f")
        assert store.audit() == entries[::-1]
        assert store.audit("f", limit=2) == [entries[3], entries[2]]
        assert store.last_audit("enabled") == {"f": 300.0} and store.last_audit("disabled") == {"f": 400.0,
                                                                                              "g": 200.0}
    finally:
        store.close()


def test_a_version_7_file_is_upgraded_with_nothing_disabled(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    raw = sqlite3.connect(path)
    for steps in _MIGRATIONS[:7]:
        for statement in steps:
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 7")
    raw.commit()
    raw.close()
    store = SqliteStore(path)
    try:
        assert store.load().disabled == {} and store.audit() == []
    finally:
        store.close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
    raw.close()
