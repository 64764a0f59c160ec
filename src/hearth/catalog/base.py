"""The catalog's foundation: what it holds (loaded from the store), the reads on the request path, batches and
the listeners it tells of every change. The layers above add the operations: ``triggers.py`` (asynchronous
invocation configs, schedules, queues, event source mappings), ``functions.py`` (functions, versions, aliases,
concurrency), ``gateway.py`` (routes, sites, projects on the gateway) and ``projects.py`` (applying a project).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import random
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from hearth import errors
from hearth.model import (
    LATEST,
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
from hearth.store.base import FunctionRecord, Store
from hearth.store.code import CodeStore

VERSION_NUMBER = re.compile(r"^[1-9][0-9]*\Z")
Listener = Callable[[str | None], None]


class Change(NamedTuple):
    """One line of what an operation did: ``created``, ``updated``, ``unchanged``, ``deleted`` or ``skipped``."""

    action: str
    subject: str  # "function hello", "alias hello:live", "route GET /hello", "headers /assets/**", "cors"
    detail: str = ""


def now_text() -> str:
    """Lambda's ``LastModified`` format: ``2026-11-21T10:10:10.123+0000``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _revision() -> str:
    return str(uuid.uuid4())


def _same_function(a: FunctionSpec, b: FunctionSpec) -> bool:
    """Equal code and configuration, ignoring what changes with every write (revision, time, version)."""
    blank = {"revision_id": "", "last_modified": "", "version": LATEST}
    return dataclasses.replace(a, **blank) == dataclasses.replace(b, **blank)  # type: ignore[arg-type]


class CatalogBase:
    """What the catalog holds, its reads and its batches; the operations are in the layers above."""

    def __init__(self, store: Store, code: CodeStore, *, concurrency_limit: int,
                 choose: Callable[[], float] = random.random) -> None:
        self.store = store
        self.code = code
        self.concurrency_limit = concurrency_limit
        self.choose = choose  # the source of weighted-alias picks, a seam for tests
        self.listeners: list[Listener] = []
        self._pending: set[str | None] | None = None  # changes held back while a batch runs
        self._load()

    def _load(self) -> None:
        state = self.store.load()
        self.functions: dict[str, FunctionRecord] = dict(state.functions)
        self.versions: dict[str, dict[str, FunctionSpec]] = {name: dict(v) for name, v in state.versions.items()}
        self.aliases: dict[str, dict[str, AliasSpec]] = {name: dict(a) for name, a in state.aliases.items()}
        self.provisioned: dict[tuple[str, str], int] = dict(state.provisioned)
        self.routes: tuple[RouteSpec, ...] = tuple(state.routes)
        self.sites: dict[str, SiteSpec] = dict(state.sites)
        # (function, qualifier) → its asynchronous invocation config; see event_invoke_config()
        self.event_invoke_configs: dict[tuple[str, str], EventInvokeConfig] = dict(state.event_invoke_configs)
        self.schedules: dict[str, ScheduleSpec] = dict(state.schedules)  # by name, "<project>.<name>"
        self.queues: dict[str, QueueSpec] = dict(state.queues)  # by name; their messages are in the event store
        self.event_source_mappings: dict[str, EventSourceMappingSpec] = dict(state.event_source_mappings)  # by UUID
        # Disabled functions (billing/idle.py) → the audit entry that disabled each: calls are refused, triggers held.
        self.disabled: dict[str, AuditEntry] = dict(state.disabled)
        for name in self.functions:
            self.versions.setdefault(name, {})
            self.aliases.setdefault(name, {})

    # -- reads -------------------------------------------------------------------------------------------------

    def record(self, name: str) -> FunctionRecord:
        record = self.functions.get(name)
        if record is None:
            raise errors.ResourceNotFound(f"Function not found: {name}")
        return record

    def spec(self, name: str, qualifier: str | None = None) -> FunctionSpec:
        """The spec of ``name`` at ``qualifier`` ($LATEST, a version, or an alias: its main version)."""
        record = self.record(name)
        if qualifier is None or qualifier == LATEST:
            return record.latest
        version = self.versions[name].get(qualifier)
        if version is not None:
            return version
        alias = self.aliases[name].get(qualifier)
        if alias is not None:
            return self.spec(name, alias.version)
        raise errors.ResourceNotFound(f"Function not found: {name}:{qualifier}; no such version or alias")

    def alias(self, name: str, alias: str) -> AliasSpec:
        self.record(name)
        found = self.aliases[name].get(alias)
        if found is None:
            raise errors.ResourceNotFound(f"Alias not found: {name}:{alias}")
        return found

    def resolve(self, name: str, qualifier: str | None, headers: Mapping[str, str] | None = None) -> FunctionSpec:
        """The version a call to ``name[:qualifier]`` runs: header rules first, then the alias's weights."""
        if qualifier is None:
            record = self.functions.get(name)
            if record is None:
                raise errors.ResourceNotFound(f"Function not found: {name}")
            return record.latest
        aliases = self.aliases.get(name)
        alias = aliases.get(qualifier) if aliases is not None else None
        if alias is None:
            return self.spec(name, qualifier)
        versions = self.versions[name]
        if alias.rules and headers is not None:
            for rule in alias.rules:
                if rule.matches(headers.get(rule.header)):
                    return versions[rule.version] if rule.version != LATEST else self.functions[name].latest
        for version, weight in alias.weights.items():
            if self.choose() < weight:
                return versions[version]
        return versions[alias.version] if alias.version != LATEST else self.functions[name].latest

    def versions_of(self, name: str) -> list[FunctionSpec]:
        """$LATEST, then the published versions in order."""
        record = self.record(name)
        published = sorted(self.versions[name].values(), key=lambda spec: int(spec.version))
        return [record.latest, *published]

    def referenced_code(self) -> set[str]:
        """Every code package some function or version still uses."""
        used = {record.latest.code_sha256 for record in self.functions.values()}
        used.update(spec.code_sha256 for versions in self.versions.values() for spec in versions.values())
        used.update(site.vercel.code_sha256 for site in self.sites.values() if site.vercel is not None)
        used.discard("")
        return used

    # -- batches and notification ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group operations into one transaction; listeners hear of the changes once it has committed."""
        if self._pending is not None:
            yield
            return
        self._pending = set()
        try:
            with self.store.transaction():
                yield
        except BaseException:
            self._pending = None
            self._load()  # memory may hold part of the batch: the store has none of it
            raise
        changed, self._pending = self._pending, None
        for subject in sorted(changed, key=lambda s: (s is None, s or "")):
            self._notify(subject)

    def _changed(self, subject: str | None) -> None:
        if self._pending is not None:
            self._pending.add(subject)
        else:
            self._notify(subject)

    def _notify(self, subject: str | None) -> None:
        for listener in self.listeners:
            listener(subject)

    # -- helpers -----------------------------------------------------------------------------------------------

    # -- routes ------------------------------------------------------------------------------------------------

    def _set_routes(self, routes: tuple[RouteSpec, ...]) -> None:
        self.store.replace_routes(routes)
        self.routes = routes
        self._changed(None)

    @staticmethod
    def _check_revision(current: str, expected: str | None, getter: str) -> None:
        if expected is not None and expected != current:
            raise errors.ResourceConflict(f"The Revision Id provided does not match the latest Revision Id. "
                                          f"Call the {getter} API to retrieve the latest Revision Id")

