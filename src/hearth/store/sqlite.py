"""The default state store: one SQLite file in WAL mode, or an in-memory database for ``hearth dev``.

Keys live in real columns (so SQLite enforces uniqueness and cascades deletes); specs live in a JSON column
(see ``base``). The schema carries its version in ``PRAGMA user_version``: each entry of ``_MIGRATIONS`` takes the
schema one step further, so a later Hearth can upgrade a file in place, and an older Hearth refuses a newer file
instead of misreading it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from hearth import __version__
from hearth.errors import ConfigError, ServiceError
from hearth.model import (
    AliasSpec,
    AuditEntry,
    EventInvokeConfig,
    EventSourceMappingSpec,
    FunctionSpec,
    QueueSpec,
    RouteSpec,
    ScheduleSpec,
    SiteSpec,
)
from hearth.store.base import (
    FunctionRecord,
    SecretRow,
    StoredState,
    decode_alias,
    decode_event_invoke_config,
    decode_event_source_mapping,
    decode_function,
    decode_queue,
    decode_route,
    decode_schedule,
    decode_site,
    encode_alias,
    encode_event_invoke_config,
    encode_event_source_mapping,
    encode_function,
    encode_queue,
    encode_route,
    encode_schedule,
    encode_site,
)

MEMORY = ":memory:"
BUSY_TIMEOUT_S = 5.0  # another process (a CLI, a second server) holding the write lock briefly is not an error

_T = TypeVar("_T")

_VERSION_NUMBER = re.compile(r"[1-9][0-9]*")

# _MIGRATIONS[n] takes the schema from version n to n + 1; append, never edit a released entry.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE functions (
            name TEXT PRIMARY KEY,
            spec BLOB NOT NULL,
            reserved INTEGER,
            last_version INTEGER NOT NULL CHECK (last_version >= 0),
            created TEXT NOT NULL
        )""",
        """CREATE TABLE versions (
            function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
            version INTEGER NOT NULL CHECK (version >= 1),
            spec BLOB NOT NULL,
            PRIMARY KEY (function, version)
        )""",
        """CREATE TABLE aliases (
            function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
            name TEXT NOT NULL,
            spec BLOB NOT NULL,
            PRIMARY KEY (function, name)
        )""",
        """CREATE TABLE provisioned (
            function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
            qualifier TEXT NOT NULL,
            count INTEGER NOT NULL CHECK (count >= 0),
            PRIMARY KEY (function, qualifier)
        )""",
        # Routes may name a function that is not (or no longer) stored: the gateway answers for those.
        """CREATE TABLE routes (
            position INTEGER PRIMARY KEY,
            spec BLOB NOT NULL
        )""",
    ),
    (  # 2: the gateway's response header rules and its CORS configuration (one row at most)
        """CREATE TABLE header_rules (
            position INTEGER PRIMARY KEY,
            spec BLOB NOT NULL
        )""",
        """CREATE TABLE cors (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            spec BLOB NOT NULL
        )""",
    ),
    (  # 3: sites, one per project (its hosts, prefix, header rules and CORS); the gateway-wide rules become the
        # site "" (routes stored before this have no site: "" too)
        """CREATE TABLE sites (
            position INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            spec BLOB NOT NULL
        )""",
        """INSERT INTO sites (position, name, spec)
           SELECT 0, '', json_object(
               'name', '', 'hosts', json('[]'), 'prefix', '',
               'headers', (SELECT json_group_array(json(spec)) FROM (SELECT spec FROM header_rules ORDER BY position)),
               'cors', (SELECT json(spec) FROM cors WHERE id = 1))
           WHERE EXISTS (SELECT 1 FROM header_rules) OR EXISTS (SELECT 1 FROM cors)""",
        "DROP TABLE header_rules",
        "DROP TABLE cors",
    ),
    (  # 4: asynchronous invocation configs (Lambda's EventInvokeConfig), one per function and qualifier
        """CREATE TABLE event_invoke_configs (
            function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
            qualifier TEXT NOT NULL,
            spec BLOB NOT NULL,
            PRIMARY KEY (function, qualifier)
        )""",
    ),
    (  # 5: schedules (their last tick and pause are in the event store, beside the events their ticks send)
        """CREATE TABLE schedules (
            name TEXT PRIMARY KEY,
            spec BLOB NOT NULL
        )""",
    ),
    (  # 6: queues' settings (their messages are in the event store)
        """CREATE TABLE queues (
            name TEXT PRIMARY KEY,
            spec BLOB NOT NULL
        )""",
    ),
    (  # 7: event source mappings (queue → function); a mapping may outlive its queue, not its function
        """CREATE TABLE event_source_mappings (
            uuid TEXT PRIMARY KEY,
            function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
            spec BLOB NOT NULL
        )""",
    ),
    (  # 8: disabled functions (the audit entry that disabled each) and the audit log, which outlives functions
        """CREATE TABLE disabled (
            function TEXT PRIMARY KEY REFERENCES functions (name) ON DELETE CASCADE,
            time REAL NOT NULL,
            reason TEXT NOT NULL
        )""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            time REAL NOT NULL,
            function TEXT NOT NULL,
            action TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX audit_by_function ON audit (function, id)",
    ),
    (  # 9: secrets, AES-GCM encrypted by hearth.secrets (the name is the associated data); never plain text
        """CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            nonce BLOB NOT NULL,
            ciphertext BLOB NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)


class SqliteStore:
    """A ``Store`` on one SQLite connection, used from one thread; ``SqliteStore.memory()`` keeps nothing."""

    def __init__(self, path: Path | str) -> None:
        self.location = str(path)
        self._depth = 0  # how many transaction() blocks are open
        self._conn = self._open()

    @classmethod
    def memory(cls) -> SqliteStore:
        """An ephemeral store that lives as long as this object (``hearth dev``)."""
        return cls(MEMORY)

    @property
    def ephemeral(self) -> bool:
        return self.location == MEMORY

    # -- opening -------------------------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            if not self.ephemeral:
                Path(self.location).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: the module issues no implicit BEGIN; transaction() does it explicitly.
            conn = sqlite3.connect(self.location, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._unusable(exc) from exc
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._unusable(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        found = _user_version(conn)  # the first read: a file that is not SQLite fails here
        if found > SCHEMA_VERSION:
            raise self._too_new(conn, found)
        if not self.ephemeral:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                detail = " ".join(problems[0].split())  # SQLite's report spans lines
                raise ConfigError(f"{self.location}: the state database is damaged ({detail}); "
                                  f"restore it from a backup or move it away to start empty")
            # WAL: readers never block the writer, and a commit appends to the log instead of rewriting pages;
            # NORMAL: commits do not fsync (checkpoints do), which WAL keeps safe from corruption.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if found < SCHEMA_VERSION:
            self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = _user_version(conn)  # again, under the write lock: another process may have just migrated
            if found > SCHEMA_VERSION:
                raise self._too_new(conn, found)
            for steps in _MIGRATIONS[found:]:
                for statement in steps:
                    conn.execute(statement)
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_written_by', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (__version__,))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _too_new(self, conn: sqlite3.Connection, found: int) -> ConfigError:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_written_by'").fetchone()
        except sqlite3.Error:
            row = None
        needed = f"Hearth {row[0]} or later" if row else "a newer Hearth"
        return ConfigError(f"{self.location}: the state database has schema version {found}, but Hearth "
                           f"{__version__} reads up to version {SCHEMA_VERSION}; it needs {needed}")

    def _unusable(self, exc: BaseException) -> ConfigError:
        return ConfigError(f"{self.location}: cannot open the state database ({exc}); check that the path is "
                           f"a Hearth state file you may write, or move it away to start empty")

    # -- transactions --------------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them are stored when the block ends, none if it raises. Nested blocks are
        savepoints, so an inner block that raises undoes only its own writes if the outer block carries on."""
        depth = self._depth
        savepoint = f"hearth_{depth}"
        self._run("start a transaction", "BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if depth == 0:
                self._run("roll back a transaction", "ROLLBACK")
            else:
                self._run("roll back a savepoint", f"ROLLBACK TO {savepoint}")
                self._run("release a savepoint", f"RELEASE {savepoint}")
            raise
        self._depth -= 1
        if depth == 0:
            try:
                self._run("commit a transaction", "COMMIT")
            except ServiceError:
                self._conn.rollback()  # a failed COMMIT leaves the transaction open; never leak it into the next
                raise
        else:
            self._run("release a savepoint", f"RELEASE {savepoint}")

    def _run(self, what: str, sql: str, params: Sequence[object] = ()) -> None:
        try:
            self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise ServiceError(f"state store ({self.location}): cannot {what}: {exc}") from exc

    # -- reading -------------------------------------------------------------------------------------------------

    def load(self) -> StoredState:
        """Everything stored, read in one snapshot. A damaged row raises ``ConfigError`` naming the file."""
        try:
            if self._depth == 0:
                self._conn.execute("BEGIN")  # deferred: a read snapshot without taking the write lock
            try:
                return self._read()
            finally:
                if self._depth == 0:
                    self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.location}: cannot read the state database ({exc})") from exc

    def _read(self) -> StoredState:
        conn = self._conn
        functions: dict[str, FunctionRecord] = {}
        for name, spec, reserved, last_version, created in conn.execute(
                "SELECT name, spec, reserved, last_version, created FROM functions ORDER BY name"):
            latest = self._decode("function", name, decode_function, spec)
            functions[name] = FunctionRecord(latest, reserved, last_version, created)
        versions: dict[str, dict[str, FunctionSpec]] = {}
        for function, version, spec in conn.execute(
                "SELECT function, version, spec FROM versions ORDER BY function, version"):
            key = f"{function}:{version}"
            versions.setdefault(function, {})[str(version)] = self._decode("version", key, decode_function, spec)
        aliases: dict[str, dict[str, AliasSpec]] = {}
        for function, name, spec in conn.execute("SELECT function, name, spec FROM aliases ORDER BY function, name"):
            aliases.setdefault(function, {})[name] = self._decode("alias", f"{function}:{name}", decode_alias, spec)
        provisioned = {(function, qualifier): count for function, qualifier, count in conn.execute(
            "SELECT function, qualifier, count FROM provisioned ORDER BY function, qualifier")}
        routes = tuple(self._decode("route", str(position), decode_route, spec)
                       for position, spec in conn.execute("SELECT position, spec FROM routes ORDER BY position"))
        sites = {name: self._decode("site", repr(name), decode_site, spec)
                 for name, spec in conn.execute("SELECT name, spec FROM sites ORDER BY position")}
        event_invoke_configs = {
            (function, qualifier): self._decode("asynchronous invocation config", f"{function}:{qualifier}",
                                                decode_event_invoke_config, spec)
            for function, qualifier, spec in conn.execute(
                "SELECT function, qualifier, spec FROM event_invoke_configs ORDER BY function, qualifier")}
        schedules = {name: self._decode("schedule", repr(name), decode_schedule, spec)
                     for name, spec in conn.execute("SELECT name, spec FROM schedules ORDER BY name")}
        queues = {name: self._decode("queue", repr(name), decode_queue, spec)
                  for name, spec in conn.execute("SELECT name, spec FROM queues ORDER BY name")}
        mappings = {uuid: self._decode("event source mapping", uuid, decode_event_source_mapping, spec)
                    for uuid, spec in conn.execute("SELECT uuid, spec FROM event_source_mappings ORDER BY uuid")}
        disabled = {function: AuditEntry(time, function, "disabled", reason) for function, time, reason in
                    conn.execute("SELECT function, time, reason FROM disabled ORDER BY function")}
        return StoredState(functions, versions, aliases, provisioned, routes, sites, event_invoke_configs, schedules,
                           queues, mappings, disabled)

    def _decode(self, kind: str, key: str, decode: Callable[[bytes], _T], data: bytes) -> _T:
        try:
            return decode(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"{self.location}: the stored {kind} {key} cannot be read ({exc}); "
                              f"the state database is damaged or was written by another program") from exc

    # -- writing -------------------------------------------------------------------------------------------------

    def put_function(self, record: FunctionRecord) -> None:
        """Insert or replace a function; its versions, aliases and provisioned settings are kept."""
        # An upsert, not INSERT OR REPLACE: REPLACE deletes the old row first, which would cascade to its versions.
        # last_version never goes down, so a stale record cannot make a version number come back.
        self._write(f"store function {record.latest.name!r}", (
            ("INSERT INTO functions (name, spec, reserved, last_version, created) VALUES (?, ?, ?, ?, ?) "
             "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, reserved = excluded.reserved, "
             "last_version = max(last_version, excluded.last_version), created = excluded.created",
             (record.latest.name, encode_function(record.latest), record.reserved, record.last_version,
              record.created)),
        ))

    def delete_function(self, name: str) -> None:
        """Delete a function with its versions, aliases, provisioned settings and asynchronous invocation configs
        (routes are kept)."""
        self._write(f"delete function {name!r}", (("DELETE FROM functions WHERE name = ?", (name,)),))

    def put_version(self, spec: FunctionSpec) -> None:
        """Store a published version of a stored function, and raise its ``last_version`` to match."""
        if not _VERSION_NUMBER.fullmatch(spec.version):
            raise ServiceError(f"cannot store version {spec.version!r} of {spec.name!r}: "
                               f"only published versions (1, 2, …) are stored as versions")
        number = int(spec.version)
        self._write(f"store version {number} of {spec.name!r}", (
            ("INSERT INTO versions (function, version, spec) VALUES (?, ?, ?) "
             "ON CONFLICT (function, version) DO UPDATE SET spec = excluded.spec",
             (spec.name, number, encode_function(spec))),
            ("UPDATE functions SET last_version = max(last_version, ?) WHERE name = ?", (number, spec.name)),
        ))

    def delete_version(self, function: str, version: str) -> None:
        """Delete a published version, the provisioned instances requested for it and its asynchronous invocation
        config."""
        # The column is an integer; a qualifier that is not a version number names no stored version.
        number = int(version) if _VERSION_NUMBER.fullmatch(version) else None
        self._write(f"delete version {version} of {function!r}", (
            ("DELETE FROM versions WHERE function = ? AND version = ?", (function, number)),
            ("DELETE FROM provisioned WHERE function = ? AND qualifier = ?", (function, version)),
            ("DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?", (function, version)),
        ))

    def put_alias(self, alias: AliasSpec) -> None:
        """Insert or replace an alias of a stored function."""
        self._write(f"store alias {alias.function}:{alias.name}", (
            ("INSERT INTO aliases (function, name, spec) VALUES (?, ?, ?) "
             "ON CONFLICT (function, name) DO UPDATE SET spec = excluded.spec",
             (alias.function, alias.name, encode_alias(alias))),
        ))

    def delete_alias(self, function: str, name: str) -> None:
        """Delete an alias, the provisioned instances requested for it and its asynchronous invocation config."""
        self._write(f"delete alias {function}:{name}", (
            ("DELETE FROM aliases WHERE function = ? AND name = ?", (function, name)),
            ("DELETE FROM provisioned WHERE function = ? AND qualifier = ?", (function, name)),
            ("DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?", (function, name)),
        ))

    def put_provisioned(self, function: str, qualifier: str, count: int) -> None:
        """Set the provisioned instances requested for a version or alias of a stored function."""
        self._write(f"store provisioned concurrency of {function}:{qualifier}", (
            ("INSERT INTO provisioned (function, qualifier, count) VALUES (?, ?, ?) "
             "ON CONFLICT (function, qualifier) DO UPDATE SET count = excluded.count",
             (function, qualifier, count)),
        ))

    def delete_provisioned(self, function: str, qualifier: str) -> None:
        """Forget the provisioned instances requested for a version or alias."""
        self._write(f"delete provisioned concurrency of {function}:{qualifier}", (
            ("DELETE FROM provisioned WHERE function = ? AND qualifier = ?", (function, qualifier)),
        ))

    def put_event_invoke_config(self, config: EventInvokeConfig) -> None:
        """Insert or replace the asynchronous invocation config of a stored function's qualifier."""
        self._write(f"store asynchronous invocation config of {config.function}:{config.qualifier}", (
            ("INSERT INTO event_invoke_configs (function, qualifier, spec) VALUES (?, ?, ?) "
             "ON CONFLICT (function, qualifier) DO UPDATE SET spec = excluded.spec",
             (config.function, config.qualifier, encode_event_invoke_config(config))),
        ))

    def delete_event_invoke_config(self, function: str, qualifier: str) -> None:
        """Forget the asynchronous invocation config of a function's qualifier."""
        self._write(f"delete asynchronous invocation config of {function}:{qualifier}", (
            ("DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?", (function, qualifier)),
        ))

    def put_schedule(self, schedule: ScheduleSpec) -> None:
        """Insert or replace a schedule."""
        self._write(f"store schedule {schedule.name!r}", (
            ("INSERT INTO schedules (name, spec) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
             (schedule.name, encode_schedule(schedule))),
        ))

    def delete_schedule(self, name: str) -> None:
        """Forget a schedule."""
        self._write(f"delete schedule {name!r}", (("DELETE FROM schedules WHERE name = ?", (name,)),))

    def put_queue(self, queue: QueueSpec) -> None:
        """Insert or replace a queue's settings."""
        self._write(f"store queue {queue.name!r}", (
            ("INSERT INTO queues (name, spec) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
             (queue.name, encode_queue(queue))),
        ))

    def delete_queue(self, name: str) -> None:
        """Forget a queue's settings."""
        self._write(f"delete queue {name!r}", (("DELETE FROM queues WHERE name = ?", (name,)),))

    def put_event_source_mapping(self, mapping: EventSourceMappingSpec) -> None:
        """Insert or replace an event source mapping (of a stored function)."""
        self._write(f"store event source mapping {mapping.uuid}", (
            ("INSERT INTO event_source_mappings (uuid, function, spec) VALUES (?, ?, ?) ON CONFLICT (uuid) "
             "DO UPDATE SET function = excluded.function, spec = excluded.spec",
             (mapping.uuid, mapping.function, encode_event_source_mapping(mapping))),
        ))

    def delete_event_source_mapping(self, uuid: str) -> None:
        """Forget an event source mapping."""
        self._write(f"delete event source mapping {uuid}", (
            ("DELETE FROM event_source_mappings WHERE uuid = ?", (uuid,)),))

    def put_disabled(self, entry: AuditEntry) -> None:
        """Mark a stored function disabled, by the audit entry that disabled it."""
        self._write(f"disable function {entry.function!r}", (
            ("INSERT INTO disabled (function, time, reason) VALUES (?, ?, ?) ON CONFLICT (function) "
             "DO UPDATE SET time = excluded.time, reason = excluded.reason",
             (entry.function, entry.time, entry.reason)),
        ))

    def delete_disabled(self, function: str) -> None:
        """Mark a function enabled again."""
        self._write(f"enable function {function!r}", (("DELETE FROM disabled WHERE function = ?", (function,)),))

    def add_audit(self, entry: AuditEntry) -> None:
        """Append one entry to the audit log."""
        self._write(f"record {entry.action} {entry.function!r} in the audit log", (
            ("INSERT INTO audit (time, function, action, reason) VALUES (?, ?, ?, ?)",
             (entry.time, entry.function, entry.action, entry.reason)),
        ))

    def audit(self, function: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries first, of one function or of all."""
        sql = "SELECT time, function, action, reason FROM audit"
        params: tuple[object, ...] = ()
        if function is not None:
            sql, params = sql + " WHERE function = ?", (function,)
        try:
            rows = self._conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        except sqlite3.Error as exc:
            raise ServiceError(f"state store ({self.location}): cannot read the audit log: {exc}") from exc
        return [AuditEntry(*row) for row in rows]

    def last_audit(self, action: str) -> dict[str, float]:
        """Each function's latest audit entry of ``action``: its time."""
        try:
            rows = self._conn.execute("SELECT function, max(time) FROM audit WHERE action = ? GROUP BY function",
                                      (action,)).fetchall()
        except sqlite3.Error as exc:
            raise ServiceError(f"state store ({self.location}): cannot read the audit log: {exc}") from exc
        return {function: float(time) for function, time in rows}

    def secret(self, name: str) -> SecretRow | None:
        """One stored secret, or None."""
        rows = self._select("read a secret", "SELECT name, nonce, ciphertext, version, created, updated FROM secrets "
                            "WHERE name = ?", (name,))
        return rows[0] if rows else None

    def secrets(self) -> list[SecretRow]:
        """Every stored secret, by name."""
        return self._select("read the secrets", "SELECT name, nonce, ciphertext, version, created, updated "
                            "FROM secrets ORDER BY name")

    def _select(self, what: str, sql: str, params: Sequence[object] = ()) -> list[SecretRow]:
        try:
            rows = self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise ServiceError(f"state store ({self.location}): cannot {what}: {exc}") from exc
        return [SecretRow(name, bytes(nonce), bytes(ciphertext), int(version), float(created), float(updated))
                for name, nonce, ciphertext, version, created, updated in rows]

    def put_secret(self, name: str, nonce: bytes, ciphertext: bytes, now: float) -> SecretRow:
        """Store a secret's new ciphertext (a new one at version 1; else the next version, ``created`` kept)."""
        with self.transaction():
            self._run(f"store secret {name!r}",
                      "INSERT INTO secrets (name, nonce, ciphertext, version, created, updated) "
                      "VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, "
                      "ciphertext = excluded.ciphertext, version = version + 1, updated = excluded.updated",
                      (name, nonce, ciphertext, now, now))
            row = self.secret(name)
        assert row is not None
        return row

    def reseal_secret(self, name: str, nonce: bytes, ciphertext: bytes) -> None:
        """Replace a secret's ciphertext without a new version (master key rotation)."""
        self._write(f"re-encrypt secret {name!r}", (
            ("UPDATE secrets SET nonce = ?, ciphertext = ? WHERE name = ?", (nonce, ciphertext, name)),))

    def delete_secret(self, name: str) -> bool:
        """Forget a secret; False if there was none."""
        with self.transaction():
            found = self.secret(name) is not None
            self._run(f"delete secret {name!r}", "DELETE FROM secrets WHERE name = ?", (name,))
        return found

    def meta(self, key: str) -> str | None:
        """A value of the ``meta`` table."""
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise ServiceError(f"state store ({self.location}): cannot read {key}: {exc}") from exc
        return None if row is None else str(row[0])

    def put_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table."""
        self._write(f"store {key}", (("INSERT INTO meta (key, value) VALUES (?, ?) "
                                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)),))

    def replace_routes(self, routes: Sequence[RouteSpec]) -> None:
        """Replace the whole route table, keeping the given order."""
        encoded = [(position, encode_route(route)) for position, route in enumerate(routes)]
        with self.transaction():
            self._run("replace routes", "DELETE FROM routes")
            for position, spec in encoded:
                self._run("replace routes", "INSERT INTO routes (position, spec) VALUES (?, ?)", (position, spec))

    def put_site(self, site: SiteSpec) -> None:
        """Insert or replace a site; a new one comes after the others."""
        self._write(f"store site {site.name!r}", (
            ("INSERT INTO sites (position, name, spec) "
             "VALUES ((SELECT coalesce(max(position), -1) + 1 FROM sites), ?, ?) "
             "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec", (site.name, encode_site(site))),
        ))

    def delete_site(self, name: str) -> None:
        """Forget a site."""
        self._write(f"delete site {name!r}", (("DELETE FROM sites WHERE name = ?", (name,)),))

    def _write(self, what: str, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        with self.transaction():
            for sql, params in statements:
                self._run(what, sql, params)

    def close(self) -> None:
        """Close the connection; a transaction still open is rolled back."""
        self._conn.close()


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])
