"""The catalog: every function, version, alias, route, concurrency setting, asynchronous invocation config, schedule,
queue and site (a project's hosts, prefix, header rules and CORS) the platform serves.

Every change goes through here — the Lambda API, ``hearth deploy`` (apply a project) and ``hearth dev`` (apply
the manifest at start and after each edit). An operation validates, writes to the store, updates the in-memory
view, then tells the listeners which function changed (``None``: the gateway's routes or sites), so
the platform can re-sync its pools or rebuild its route tables and response policies. A batch (``apply``) is one
store transaction: if any part fails, nothing is written and the in-memory view is reloaded from the store.

Reads on the request path (``resolve``) are plain dictionary lookups.
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
from hearth.config.include import mounts
from hearth.config.package import pack
from hearth.config.queues import ATTRIBUTE_OF, queue_problem
from hearth.model import (
    ALIAS_NAME,
    BATCH_SIZE_RANGE,
    BATCHING_WINDOW_S_RANGE,
    LATEST,
    MAX_EVENT_AGE_S_RANGE,
    MAX_RETRY_ATTEMPTS_RANGE,
    MAXIMUM_CONCURRENCY_RANGE,
    AliasSpec,
    CorsSpec,
    EventInvokeConfig,
    EventSourceMappingSpec,
    FunctionSpec,
    Project,
    QueueSpec,
    RouteSpec,
    ScheduleSpec,
    SiteSpec,
    VercelSpec,
    function_arn,
    parse_destination,
)
from hearth.pool.concurrency import check_reservation
from hearth.store.base import FunctionRecord, Store
from hearth.store.code import CodePackage, CodeStore

VERSION_NUMBER = re.compile(r"^[1-9][0-9]*$")
_MAPPING_IDS = uuid.UUID("0c9f3e55-8a55-4f3e-a2f0-2b6d8f7c1d44")  # namespace of a manifest's mappings' UUIDs
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


class Catalog:
    """The platform's functions and their versions, aliases, routes and concurrency, backed by a ``Store``."""

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

    # -- functions ---------------------------------------------------------------------------------------------

    def create_function(self, spec: FunctionSpec, reserved: int | None = None) -> FunctionSpec:
        """Add a new function at $LATEST; ``ResourceConflict`` if the name is taken."""
        if spec.name in self.functions:
            raise errors.ResourceConflict(f"Function already exist: {spec.name}")
        if reserved is not None:
            check_reservation(self.concurrency_limit, self._reservations(), spec.name, reserved)
        spec = dataclasses.replace(spec, version=LATEST, revision_id=_revision(), last_modified=now_text())
        record = FunctionRecord(latest=spec, reserved=reserved, last_version=0, created=spec.last_modified)
        self.store.put_function(record)
        self.functions[spec.name] = record
        self.versions[spec.name] = {}
        self.aliases[spec.name] = {}
        self._changed(spec.name)
        return spec

    def update_function(self, spec: FunctionSpec, revision_id: str | None = None) -> tuple[FunctionSpec, bool]:
        """Replace $LATEST's code and configuration; returns the spec and whether anything changed."""
        record = self.record(spec.name)
        self._check_revision(record.latest.revision_id, revision_id, "GetFunction")
        if _same_function(record.latest, spec):
            return record.latest, False
        spec = dataclasses.replace(spec, version=LATEST, revision_id=_revision(), last_modified=now_text())
        record = dataclasses.replace(record, latest=spec)
        self.store.put_function(record)
        self.functions[spec.name] = record
        self._changed(spec.name)
        return spec, True

    def delete_function(self, name: str, qualifier: str | None = None) -> None:
        """Delete the function with everything it has, or only one published version of it."""
        self.record(name)
        if qualifier == LATEST:
            raise errors.InvalidParameterValue(f"$LATEST of {name} cannot be deleted on its own; delete the function "
                                               "(no Qualifier) or one of its published versions")
        if qualifier is not None:
            if qualifier not in self.versions[name]:
                raise errors.ResourceNotFound(f"Function not found: {name}:{qualifier}")
            users = sorted(a.name for a in self.aliases[name].values()
                           if a.version == qualifier or qualifier in a.weights
                           or any(rule.version == qualifier for rule in a.rules))
            if users:
                raise errors.ResourceConflict(f"Version {qualifier} of {name} is used by alias(es) "
                                              f"{', '.join(users)}; point them elsewhere first")
            with self.batch():
                self.store.delete_version(name, qualifier)
                self.store.delete_provisioned(name, qualifier)
                del self.versions[name][qualifier]
                self.provisioned.pop((name, qualifier), None)
                self.event_invoke_configs.pop((name, qualifier), None)  # the store's delete_version drops it too
                self._changed(name)
            return
        with self.batch():
            self.store.delete_function(name)
            del self.functions[name]
            self.versions.pop(name, None)
            self.aliases.pop(name, None)
            for key in [key for key in self.provisioned if key[0] == name]:
                del self.provisioned[key]
            for key in [key for key in self.event_invoke_configs if key[0] == name]:
                del self.event_invoke_configs[key]
            for schedule in [spec for spec in self.schedules.values() if spec.function == name]:
                self.delete_schedule(schedule.name)
            for mapping_id in [mapping.uuid for mapping in self.event_source_mappings.values()
                               if mapping.function == name]:
                del self.event_source_mappings[mapping_id]  # the store's delete_function cascades to it
            remaining = tuple(route for route in self.routes if route.function != name)
            if remaining != self.routes:
                self._set_routes(remaining)
            self._changed(name)

    def publish_version(self, name: str, description: str = "", revision_id: str | None = None,
                        code_sha256: str | None = None, snapshot: CodePackage | None = None) -> FunctionSpec:
        """Snapshot $LATEST as the next numbered version; if nothing changed since the last one, that one.

        A live folder's content is frozen first: pass ``snapshot(name)``'s package (taken off the event loop),
        or it is taken here.
        """
        record = self.record(name)
        latest = record.latest
        self._check_revision(latest.revision_id, revision_id, "GetFunction")
        if latest.code_sha256 == "":
            package = snapshot or self.snapshot(name)
            assert package is not None
            latest = dataclasses.replace(latest, code_dir=package.path, code_sha256=package.sha256,
                                         code_size=package.size)
        if code_sha256 is not None and code_sha256 != latest.code_sha256:
            raise errors.InvalidParameterValue(f"CodeSha256 {code_sha256} does not match the code of {name}:"
                                               f"{LATEST} ({latest.code_sha256}); fetch it again with GetFunction")
        published = self.versions[name]
        if published:
            last = published[max(published, key=int)]
            if _same_function(dataclasses.replace(last, description=""),
                              dataclasses.replace(latest, description="")):
                return last
        number = str(record.last_version + 1)
        spec = dataclasses.replace(latest, version=number, description=description or latest.description,
                                   revision_id=_revision(), last_modified=now_text())
        with self.batch():
            self.store.put_version(spec)
            self.store.put_function(dataclasses.replace(record, last_version=record.last_version + 1))
            self.functions[name] = dataclasses.replace(record, last_version=record.last_version + 1)
            published[number] = spec
            self._changed(name)
        return spec

    def snapshot(self, name: str) -> CodePackage | None:
        """Freeze the live folder $LATEST runs from (``hearth dev``) into the code store; None if it is packaged.

        Touches only files and the code store, never the state store, so it may run in a worker thread.
        """
        spec = self.record(name).latest
        if spec.code_sha256:
            return None
        data, _files, _size = pack([spec.code_dir], include=mounts(spec))
        package, _stored = self.code.put(data)
        return package

    # -- aliases -----------------------------------------------------------------------------------------------

    def put_alias(self, alias: AliasSpec, *, create: bool, revision_id: str | None = None) -> AliasSpec:
        """Create (``create``) or replace an alias after checking its name, versions, weights and rules."""
        self.record(alias.function)
        existing = self.aliases[alias.function].get(alias.name)
        if create and existing is not None:
            raise errors.ResourceConflict(f"Alias already exists: {alias.arn}")
        if not create and existing is None:
            raise errors.ResourceNotFound(f"Alias not found: {alias.arn}")
        if existing is not None:
            self._check_revision(existing.revision_id, revision_id, "GetAlias")
        self._check_alias(alias)
        if existing is not None and dataclasses.replace(existing, revision_id="") == alias:
            return existing
        alias = dataclasses.replace(alias, revision_id=_revision())
        self.store.put_alias(alias)
        self.aliases[alias.function][alias.name] = alias
        self._changed(alias.function)
        return alias

    def _check_alias(self, alias: AliasSpec) -> None:
        if not ALIAS_NAME.match(alias.name):
            raise errors.InvalidParameterValue(f"Alias name {alias.name!r} is not valid: use 1 to 128 letters, "
                                               "digits, '-' or '_', not only digits")
        published = self.versions[alias.function]

        def exists(version: str, what: str, latest_ok: bool) -> None:
            if version == LATEST and latest_ok:
                return
            # Not "publish it first" for what can never be published: an alias names a version, not an alias.
            if version == LATEST:
                raise errors.InvalidParameterValue(f"$LATEST cannot be {what} of alias {alias.name}: an alias "
                                                   "pointing at more than one version uses published versions")
            if not VERSION_NUMBER.match(version):
                raise errors.InvalidParameterValue(f"{version!r} cannot be {what} of alias {alias.name}: an alias "
                                                   "points at a version number or $LATEST, not at another alias")
            if version not in published:
                raise errors.ResourceNotFound(f"Function not found: {alias.function}:{version} ({what} of alias "
                                              f"{alias.name}); publish it first")

        exists(alias.version, "the version", latest_ok=True)
        if len(alias.weights) > 1:
            raise errors.InvalidParameterValue("AdditionalVersionWeights may name only one additional version")
        for version, weight in alias.weights.items():
            exists(version, "the additional version", latest_ok=False)
            if alias.version == LATEST:
                raise errors.InvalidParameterValue("An alias with weighted routing must point at a published "
                                                   "version, not $LATEST")
            if version == alias.version:
                raise errors.InvalidParameterValue(f"The additional version {version} must differ from the "
                                                   "alias's version")
            if not 0.0 <= weight <= 1.0:
                raise errors.InvalidParameterValue(f"The weight of version {version} must be from 0 to 1, "
                                                   f"got {weight}")
        for rule in alias.rules:
            exists(rule.version, f"the rule on header {rule.header!r}", latest_ok=True)
            if (rule.equals is None) == (rule.low is None and rule.high is None):
                raise errors.InvalidParameterValue(f"The rule on header {rule.header!r} needs either an exact "
                                                   "value or a numeric range")
            if rule.low is not None and rule.high is not None and rule.low > rule.high:
                raise errors.InvalidParameterValue(f"The range of the rule on header {rule.header!r} is empty: "
                                                   f"{rule.low:g} > {rule.high:g}")

    def delete_alias(self, name: str, alias: str) -> None:
        self.alias(name, alias)
        with self.batch():
            self.store.delete_alias(name, alias)
            self.store.delete_provisioned(name, alias)
            del self.aliases[name][alias]
            self.provisioned.pop((name, alias), None)
            self.event_invoke_configs.pop((name, alias), None)  # the store's delete_alias drops it too
            self._changed(name)

    # -- concurrency -------------------------------------------------------------------------------------------

    def _reservations(self) -> dict[str, int]:
        return {name: r.reserved for name, r in self.functions.items() if r.reserved is not None}

    def set_reserved(self, name: str, count: int | None) -> bool:
        """Set or (``None``) remove ``name``'s reserved concurrency; returns whether it changed."""
        record = self.record(name)
        if count is not None:
            check_reservation(self.concurrency_limit, self._reservations(), name, count)
            provisioned = sum(n for (function, _), n in self.provisioned.items() if function == name)
            if provisioned > count:
                raise errors.InvalidParameterValue(f"{name} has {provisioned} provisioned instances; reserved "
                                                   f"concurrency cannot be lower ({count})")
        if record.reserved == count:
            return False
        record = dataclasses.replace(record, reserved=count)
        self.store.put_function(record)
        self.functions[name] = record
        self._changed(name)
        return True

    def set_provisioned(self, name: str, qualifier: str, count: int) -> bool:
        """Keep ``count`` instances of a version or alias initialized; returns whether it changed."""
        record = self.record(name)
        if qualifier == LATEST:
            raise errors.InvalidParameterValue("Provisioned concurrency cannot be configured on $LATEST; use a "
                                               "published version or an alias")
        if qualifier not in self.versions[name] and qualifier not in self.aliases[name]:
            raise errors.ResourceNotFound(f"Function not found: {name}:{qualifier}; no such version or alias")
        if qualifier in self.aliases[name] and self.aliases[name][qualifier].version == LATEST:
            # provisioned_versions() would never find a version to keep warm: refuse, as Lambda does
            raise errors.InvalidParameterValue(f"Provisioned concurrency cannot be configured on alias "
                                               f"{name}:{qualifier}, which points at $LATEST; point it at a "
                                               "published version")
        if count < 1:
            raise errors.InvalidParameterValue(f"ProvisionedConcurrentExecutions must be at least 1, got {count}")
        others = sum(n for (function, q), n in self.provisioned.items() if function == name and q != qualifier)
        if record.reserved is not None and others + count > record.reserved:
            raise errors.InvalidParameterValue(f"Provisioned concurrency of {others + count} for {name} would "
                                               f"exceed its reserved concurrency of {record.reserved}")
        if others + count > self.concurrency_limit:
            raise errors.InvalidParameterValue(f"Provisioned concurrency of {others + count} exceeds the "
                                               f"platform's concurrency limit of {self.concurrency_limit}")
        if self.provisioned.get((name, qualifier)) == count:
            return False
        self.store.put_provisioned(name, qualifier, count)
        self.provisioned[(name, qualifier)] = count
        self._changed(name)
        return True

    def delete_provisioned(self, name: str, qualifier: str) -> None:
        self.record(name)
        if (name, qualifier) not in self.provisioned:
            raise errors.ProvisionedConfigNotFound(f"No Provisioned Concurrency Config found for this function: "
                                                   f"{name}:{qualifier}")
        self.store.delete_provisioned(name, qualifier)
        del self.provisioned[(name, qualifier)]
        self._changed(name)

    def provisioned_versions(self, name: str) -> dict[str, int]:
        """How many provisioned instances each version of ``name`` should keep (aliases count for their version)."""
        wanted: dict[str, int] = {}
        for (function, qualifier), count in self.provisioned.items():
            if function != name:
                continue
            alias = self.aliases[name].get(qualifier)
            version = alias.version if alias is not None else qualifier
            if version in self.versions[name]:
                wanted[version] = wanted.get(version, 0) + count
        return wanted

    # -- removing a project from the gateway -------------------------------------------------------------------

    def delete_project(self, name: str) -> list[RouteSpec]:
        """Take project ``name`` off the gateway: its site (hosts, prefix, header rules, CORS), the routes and the
        schedules it declared go, in one batch; its functions stay. Returns the routes removed."""
        if name not in self.sites:
            raise errors.ResourceNotFound(f"Project not found: {name!r}; `hearth projects` (GET /hearth/projects) "
                                          "lists the projects on the gateway")
        removed = [route for route in self.routes if route.site == name]
        with self.batch():
            if removed:
                self._set_routes(tuple(route for route in self.routes if route.site != name))
            for schedule in [spec.name for spec in self.schedules.values() if spec.site == name]:
                self.delete_schedule(schedule)
            self.delete_site(name)
        return removed

    # -- event source mappings -----------------------------------------------------------------------------------

    def event_source_mapping(self, key: str) -> EventSourceMappingSpec:
        mapping = self.event_source_mappings.get(key)
        if mapping is None:
            raise errors.ResourceNotFound(f"The resource you requested does not exist. (Event source mapping {key})")
        return mapping

    def put_event_source_mapping(self, mapping: EventSourceMappingSpec) -> EventSourceMappingSpec:
        """Create or replace a mapping after Lambda's checks (its function and qualifier exist; a batch of more
        than 10 needs a batching window); returns what is stored."""
        self.spec(mapping.function, mapping.qualifier)
        if mapping.batch_size > 10 and mapping.maximum_batching_window_s < 1:
            raise errors.InvalidParameterValue("Maximum batch window in seconds must be greater than 0 if maximum "
                                               "batch size is greater than 10")
        for value, name, (low, high) in ((mapping.batch_size, "BatchSize", BATCH_SIZE_RANGE),
                                         (mapping.maximum_batching_window_s, "MaximumBatchingWindowInSeconds",
                                          BATCHING_WINDOW_S_RANGE)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise errors.InvalidParameterValue(f"{name} must be a whole number from {low} to {high}")
        queue = self.queues.get(mapping.queue)
        timeout = self.spec(mapping.function, mapping.qualifier).timeout_s
        if queue is not None and queue.visibility_timeout_s < timeout:
            raise errors.InvalidParameterValue(f"Queue visibility timeout: {queue.visibility_timeout_s} seconds is "
                                               f"less than Function timeout: {timeout:g} seconds; raise the queue's "
                                               "visibility timeout (Lambda advises six times the function timeout)")
        concurrency = mapping.maximum_concurrency
        if concurrency is not None and not MAXIMUM_CONCURRENCY_RANGE[0] <= concurrency <= MAXIMUM_CONCURRENCY_RANGE[1]:
            raise errors.InvalidParameterValue("ScalingConfig.MaximumConcurrency must be from 2 to 1000")
        existing = self.event_source_mappings.get(mapping.uuid)
        if existing is not None and dataclasses.replace(existing, last_modified="") == dataclasses.replace(
                mapping, last_modified=""):
            return existing
        mapping = dataclasses.replace(mapping, last_modified=now_text())
        self.store.put_event_source_mapping(mapping)
        self.event_source_mappings[mapping.uuid] = mapping
        self._changed(None)
        return mapping

    def delete_event_source_mapping(self, key: str) -> EventSourceMappingSpec:
        mapping = self.event_source_mapping(key)
        self.store.delete_event_source_mapping(key)
        del self.event_source_mappings[key]
        self._changed(None)
        return mapping

    def _apply_event_source_mappings(self, project: Project) -> list[Change]:
        """The project's mappings (one per function and queue, with a UUID made from them and the project's name)
        replace the ones it had: those of its site, or, for an unnamed project, those of its functions."""
        wanted = {}
        for mapping in project.event_source_mappings:
            key = str(uuid.uuid5(_MAPPING_IDS, f"{project.name}/{mapping.function}/{mapping.queue}"))
            wanted[key] = dataclasses.replace(mapping, uuid=key, site=project.name)
        changes = []
        for key, mapping in list(self.event_source_mappings.items()):
            mine = mapping.site == project.name and (project.name or mapping.function in project.functions)
            if mine and key not in wanted:
                self.delete_event_source_mapping(key)
                changes.append(Change("deleted", f"queue trigger {mapping.queue} → {mapping.function}"))
        for key, mapping in wanted.items():
            before = self.event_source_mappings.get(key)
            stored = self.put_event_source_mapping(mapping)
            action = "created" if before is None else "unchanged" if stored is before else "updated"
            changes.append(Change(action, f"queue trigger {mapping.queue} → {mapping.function}",
                                  f"batches of {mapping.batch_size}"))
        return changes

    # -- asynchronous invocation configs -----------------------------------------------------------------------

    def event_invoke_config(self, function: str, qualifier: str | None = None) -> EventInvokeConfig:
        """How asynchronous invocations of exactly ``function:qualifier`` (None: ``$LATEST``) are handled: the stored
        config, or Lambda's defaults. A plain lookup that never raises, for events whose function may be gone."""
        qualifier = qualifier or LATEST
        return self.event_invoke_configs.get((function, qualifier)) or EventInvokeConfig(function, qualifier)

    def stored_event_invoke_config(self, function: str, qualifier: str | None = None) -> EventInvokeConfig:
        """The config stored for ``function:qualifier`` (None: ``$LATEST``); ``ResourceNotFound`` when there is none
        (worded as Lambda words it), or when the function, version or alias does not exist."""
        qualifier = qualifier or LATEST
        self.spec(function, qualifier)
        found = self.event_invoke_configs.get((function, qualifier))
        if found is None:
            raise errors.ResourceNotFound(f"The function {function_arn(function, qualifier)} doesn't have an "
                                          "EventInvokeConfig")
        return found

    def put_event_invoke_config(self, config: EventInvokeConfig, *, replace: bool) -> EventInvokeConfig:
        """Store the asynchronous invocation config of ``config.function:config.qualifier`` after Lambda's checks;
        returns what is stored (the stored one, unwritten, when nothing changed).

        ``replace`` is Lambda's Put: ``config`` is the whole config, created or replaced. Without it, Update: a config
        must be stored already; the caller has merged the fields the request gives into it (``api/shapes.py``).
        """
        self.spec(config.function, config.qualifier)  # the function, version or alias must exist
        key = (config.function, config.qualifier)
        existing = self.event_invoke_configs.get(key) if replace else self.stored_event_invoke_config(*key)
        self._check_event_invoke_config(config)
        if existing is not None and dataclasses.replace(existing, last_modified="") == dataclasses.replace(
                config, last_modified=""):
            return existing
        config = dataclasses.replace(config, last_modified=now_text())
        self.store.put_event_invoke_config(config)
        self.event_invoke_configs[key] = config
        self._changed(config.function)
        return config

    def delete_event_invoke_config(self, function: str, qualifier: str | None = None) -> None:
        """Forget the config of ``function:qualifier`` (None: ``$LATEST``); ``ResourceNotFound`` if none is stored."""
        config = self.stored_event_invoke_config(function, qualifier)
        self.store.delete_event_invoke_config(function, config.qualifier)
        del self.event_invoke_configs[(function, config.qualifier)]
        self._changed(function)

    def _check_event_invoke_config(self, config: EventInvokeConfig) -> None:
        for value, name, (low, high) in ((config.maximum_retry_attempts, "MaximumRetryAttempts",
                                          MAX_RETRY_ATTEMPTS_RANGE),
                                         (config.maximum_event_age_s, "MaximumEventAgeInSeconds",
                                          MAX_EVENT_AGE_S_RANGE)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise errors.InvalidParameterValue(f"{name} must be a whole number from {low} to {high}, "
                                                   f"got {value!r}")
        for which, arn in (("OnSuccess", config.on_success), ("OnFailure", config.on_failure)):
            if arn is not None:
                self._check_destination(config.function, which, arn)

    def _check_destination(self, function: str, which: str, arn: str) -> None:
        """A destination names a function that exists (and its version or alias, if it names one) or a well-formed
        queue. Lambda also checks that the function may send to it; Hearth has no IAM, so existence is all. Queues
        cannot be checked yet: Hearth has none, so a well-formed standard queue ARN is accepted as it is."""
        try:
            destination = parse_destination(arn)
        except ValueError as exc:
            raise errors.InvalidParameterValue(f"DestinationConfig.{which}.Destination: {exc}") from None
        if destination.kind != "function":
            return
        invalid = f"The destination ARN {arn} is invalid ({which})"
        if destination.name == function:  # Lambda refuses it: each delivery would start the function again
            raise errors.InvalidParameterValue(f"{invalid}: you can't specify the function as a destination for "
                                               "itself; send the records to another function or a queue")
        if destination.name not in self.functions:
            raise errors.InvalidParameterValue(f"{invalid}: function {destination.name} does not exist; create it "
                                               "first (Hearth checks that a destination function exists, not "
                                               "permissions: it has no IAM)")
        qualifier = destination.qualifier
        if qualifier not in (None, LATEST) and qualifier not in self.versions[destination.name] \
                and qualifier not in self.aliases[destination.name]:
            raise errors.InvalidParameterValue(f"{invalid}: function {destination.name} has no version or alias "
                                               f"{qualifier}")

    # -- routes ------------------------------------------------------------------------------------------------

    def _set_routes(self, routes: tuple[RouteSpec, ...]) -> None:
        self.store.replace_routes(routes)
        self.routes = routes
        self._changed(None)

    # -- sites -------------------------------------------------------------------------------------------------

    def put_site(self, site: SiteSpec) -> bool:
        """Store a project's site (hosts, prefix, header rules, CORS); returns whether it changed. A host another
        site answers is a ``ResourceConflict``."""
        if self.sites.get(site.name) == site:
            return False
        for other in self.sites.values():
            taken = sorted(set(other.hosts) & set(site.hosts)) if other.name != site.name else []
            if taken:
                raise errors.ResourceConflict(
                    f"host {taken[0]} is answered by project {other.name!r} already; remove it from that project's "
                    f"[gateway] hosts first, or give project {site.name!r} another host")
            if (site.vercel is not None and other.vercel is not None and other.name != site.name
                    and not site.hosts and not other.hosts):
                raise errors.ResourceConflict(
                    f"project {other.name!r} is a Vercel project on the default host already, and so is "
                    f"{site.name!r}: only one project's vercel.json routing and static files can come first there; "
                    f"delete project {other.name!r} first, or give one of them hosts (a hearth.toml [gateway] table)")
        self.store.put_site(site)
        self.sites[site.name] = site
        self._changed(None)
        return True

    def delete_site(self, name: str) -> None:
        if name in self.sites:
            self.store.delete_site(name)
            del self.sites[name]
            self._changed(None)

    # -- projects ----------------------------------------------------------------------------------------------

    def apply(self, project: Project, package: CodePackage | None = None, *, prune: bool = False) -> list[Change]:
        """Make the catalog match ``project``: its functions (code from ``package``, or the live folder),
        reserved and provisioned concurrency, aliases, routes, and its site (hosts, prefix, header rules, CORS, under
        the project's name). Functions and sites it does not declare are kept, unless ``prune`` (``hearth dev``,
        where the manifest is the whole truth)."""
        changes: list[Change] = []
        with self.batch():
            if prune:
                for name in sorted(set(self.functions) - set(project.functions)):
                    self.delete_function(name)
                    changes.append(Change("deleted", f"function {name}"))
                for name in [name for name in self.sites if name != project.name]:
                    self.delete_site(name)
                for schedule in [item.name for item in self.schedules.values() if item.site != project.name]:
                    self.delete_schedule(schedule)
            for spec in project.functions.values():
                reserved = spec.concurrency
                spec = dataclasses.replace(spec, concurrency=None)  # kept apart: not part of a version's config
                if package is not None:
                    spec = dataclasses.replace(spec, code_dir=package.path, code_sha256=package.sha256,
                                               code_size=package.size)
                subject = f"function {spec.name}"
                if spec.name not in self.functions:
                    self.create_function(spec)
                    changes.append(Change("created", subject))
                else:
                    _, updated = self.update_function(spec)
                    changes.append(Change("updated" if updated else "unchanged", subject))
                if self.set_reserved(spec.name, reserved):
                    changes.append(Change("updated", f"concurrency {spec.name}",
                                          f"reserved {reserved}" if reserved is not None else "unreserved"))
            for alias in project.aliases:
                changes.append(self._apply_alias(alias))
            dropped = [key for key in self.provisioned
                       if key[0] in project.functions and key not in project.provisioned]
            for name, qualifier in dropped:  # the manifest is the whole truth for the functions it declares
                self.delete_provisioned(name, qualifier)
                changes.append(Change("deleted", f"provisioned {name}:{qualifier}"))
            for (name, qualifier), count in project.provisioned.items():
                try:
                    if self.set_provisioned(name, qualifier, count):
                        changes.append(Change("updated", f"provisioned {name}:{qualifier}", f"{count} instances"))
                except errors.ResourceNotFound as missing:
                    changes.append(Change("skipped", f"provisioned {name}:{qualifier}", missing.message))
            changes.extend(self._apply_event_invoke_configs(project))
            site = project.site
            if package is not None and site.vercel is not None:  # its static files are in the package: keep it
                site = dataclasses.replace(site, vercel=dataclasses.replace(site.vercel, code_sha256=package.sha256))
            changes.extend(self._apply_site(site))
            changes.extend(self._apply_routes(project))
            changes.extend(self._apply_schedules(project))
            changes.extend(self._apply_queues(project, prune=prune))
            changes.extend(self._apply_event_source_mappings(project))
        return changes

    def _apply_schedules(self, project: Project) -> list[Change]:
        """The project's schedules (named ``<project>.<name>`` on the platform) replace the ones it had: those of
        its site, or, for an unnamed project, those of its functions."""
        wanted = {f"{project.name}.{spec.name}" if project.name else spec.name:
                  dataclasses.replace(spec, name=f"{project.name}.{spec.name}" if project.name else spec.name,
                                      site=project.name)
                  for spec in project.schedules}
        owned = [spec for spec in self.schedules.values()
                 if spec.site == project.name and (project.name or spec.function in project.functions)]
        changes = []
        for spec in owned:
            if spec.name not in wanted:
                self.delete_schedule(spec.name)
                changes.append(Change("deleted", f"schedule {spec.name}", f"{spec.expression} → {spec.target}"))
        for name, spec in wanted.items():
            other = self.schedules.get(name)
            if other is not None and other.site != spec.site:
                raise errors.ResourceConflict(f"schedule {name} belongs to project {other.site!r}; rename one")
            action = "unchanged" if other == spec else "updated" if other is not None else "created"
            if action != "unchanged":
                self.put_schedule(spec)
            changes.append(Change(action, f"schedule {name}", f"{spec.expression} → {spec.target}"))
        return changes

    def put_schedule(self, spec: ScheduleSpec) -> None:
        self.store.put_schedule(spec)
        self.schedules[spec.name] = spec
        self._changed(None)

    def delete_schedule(self, name: str) -> None:
        if name in self.schedules:
            self.store.delete_schedule(name)
            del self.schedules[name]
            self._changed(None)

    def _apply_alias(self, alias: AliasSpec) -> Change:
        subject = f"alias {alias.function}:{alias.name}"
        existing = self.aliases[alias.function].get(alias.name)
        try:
            stored = self.put_alias(alias, create=existing is None)
        except errors.ResourceNotFound as missing:  # the version is not published yet: say so, go on
            return Change("skipped", subject, f"{missing.message}: run `hearth publish {alias.function}`")
        if existing is None:
            return Change("created", subject, f"→ version {alias.version}")
        return Change("unchanged" if stored is existing else "updated", subject, f"→ version {alias.version}")

    def _apply_event_invoke_configs(self, project: Project) -> list[Change]:
        """The project's ``[functions.NAME.async]`` tables are the whole truth for its functions' ``$LATEST``: one
        dropped from the manifest is deleted. Configs of versions and aliases (set with the Lambda API) are kept: a
        manifest cannot declare them."""
        declared = {(config.function, config.qualifier) for config in project.event_invoke_configs}
        changes = []
        for function, qualifier in [key for key in self.event_invoke_configs
                                    if key[0] in project.functions and key[1] == LATEST and key not in declared]:
            self.delete_event_invoke_config(function, qualifier)
            changes.append(Change("deleted", _async_subject(function, qualifier)))
        for config in project.event_invoke_configs:
            existing = self.event_invoke_configs.get((config.function, config.qualifier))
            stored = self.put_event_invoke_config(config, replace=True)
            action = "created" if existing is None else "unchanged" if stored is existing else "updated"
            changes.append(Change(action, _async_subject(config.function, config.qualifier), _async_detail(stored)))
        return changes

    def _apply_routes(self, project: Project) -> list[Change]:
        """The project's routes replace the routes of its site and its functions, and any route another project
        has on the same hosts, path, methods and header conditions."""
        ours = set(project.functions)
        hosts = set(project.hosts)

        def clashes(route: RouteSpec) -> bool:
            other = self.sites.get(route.site)
            theirs = set(other.hosts) if other is not None else set()
            if theirs != hosts and not theirs & hosts:
                return False  # answered on other hosts
            return any(route.path == new.path and route.match_headers == new.match_headers
                       and (route.methods is None or new.methods is None or bool(route.methods & new.methods))
                       for new in project.routes)

        mine = project.name or None  # an unnamed project (state from before projects) owns routes by function only
        kept = tuple(r for r in self.routes if r.site != mine and r.function not in ours and not clashes(r))
        routes = kept + tuple(project.routes)
        changes = [Change("created" if route not in self.routes else "unchanged", _route_subject(route),
                          f"→ {route.target}") for route in project.routes]
        changes.extend(Change("deleted", _route_subject(route), f"→ {route.target}")
                       for route in self.routes if route not in routes)
        if routes != self.routes:
            self._set_routes(routes)
        return changes

    def _apply_site(self, site: SiteSpec) -> list[Change]:
        """The project's site replaces the one stored under its name."""
        before = self.sites.get(site.name, SiteSpec(site.name))
        old_sources = {rule.source for rule in before.headers}
        new_sources = {rule.source for rule in site.headers}
        changes = [Change("unchanged" if rule in before.headers else "updated" if rule.source in old_sources
                          else "created", f"headers {rule.source}", ", ".join(rule.headers)) for rule in site.headers]
        changes.extend(Change("deleted", f"headers {rule.source}", ", ".join(rule.headers))
                       for rule in before.headers if rule.source not in new_sources)
        if site.cors != before.cors:
            action = "created" if before.cors is None else "deleted" if site.cors is None else "updated"
            changes.append(Change(action, "cors", _cors_detail(site.cors or before.cors)))
        elif site.cors is not None:
            changes.append(Change("unchanged", "cors", _cors_detail(site.cors)))
        if site.hosts != before.hosts:
            changes.append(Change("updated" if before.hosts else "created", "hosts",
                                  ", ".join(site.hosts) or "any host"))
        if site.prefix != before.prefix:
            changes.append(Change("updated" if before.prefix else "created", "prefix", site.prefix or "/"))
        if site.vercel != before.vercel and site.vercel is not None:
            changes.append(Change("updated" if before.vercel else "created", "vercel.json routing and static files",
                                  _vercel_detail(site.vercel)))
        elif before.vercel is not None and site.vercel is None:
            changes.append(Change("deleted", "vercel.json routing and static files"))
        self.put_site(site)
        return changes

    # -- queues ------------------------------------------------------------------------------------------------
    # Only their settings live here: their messages are in the event store, which the SQS API (api/sqs.py) and the
    # platform's queue service (triggers/queues.py) reach. Deleting a queue here leaves its messages; the SQS API's
    # DeleteQueue purges them explicitly.

    def queue(self, name: str) -> QueueSpec:
        """The queue named ``name``; ``QueueNotFound`` (SQS's QueueDoesNotExist) when there is none."""
        found = self.queues.get(name)
        if found is None:
            raise errors.QueueNotFound(f"The specified queue {name} does not exist.")
        return found

    def create_queue(self, spec: QueueSpec) -> QueueSpec:
        """Add a queue; as SQS's CreateQueue, creating an existing queue with the same settings returns it, and with
        other settings is ``QueueNameExists``."""
        existing = self.queues.get(spec.name)
        if existing is not None:
            if _same_queue(existing, spec):
                return existing
            raise errors.QueueNameExists(f"A queue already exists with the same name ({spec.name}) and different "
                                         f"attributes: {_queue_difference(existing, spec)}")
        self._check_queue(spec)
        spec = dataclasses.replace(spec, created=spec.created or now_text())
        self.store.put_queue(spec)
        self.queues[spec.name] = spec
        self._changed(None)
        return spec

    def update_queue(self, spec: QueueSpec) -> QueueSpec:
        """Replace an existing queue's settings (and owner); returns what is stored (the stored spec, unwritten,
        when nothing changed). Messages already in the queue stay."""
        existing = self.queue(spec.name)
        spec = dataclasses.replace(spec, created=existing.created)
        if spec == existing:
            return existing
        self._check_queue(spec)
        self.store.put_queue(spec)
        self.queues[spec.name] = spec
        self._changed(None)
        return spec

    def delete_queue(self, name: str) -> None:
        """Forget a queue's settings (its messages are the caller's to purge); ``QueueNotFound`` if missing."""
        self.queue(name)
        self.store.delete_queue(name)
        del self.queues[name]
        self._changed(None)

    def _check_queue(self, spec: QueueSpec) -> None:
        problem = queue_problem(spec)
        if problem is not None:
            field, text = problem
            raise errors.InvalidAttributeValue(f"Invalid value for the parameter {ATTRIBUTE_OF[field]} of queue "
                                               f"{spec.name}: {text}")
        if spec.dead_letter_queue is not None and spec.dead_letter_queue not in self.queues:
            raise errors.InvalidAttributeValue(f"Invalid value for the parameter RedrivePolicy of queue {spec.name}: "
                                               f"the dead-letter queue {spec.dead_letter_queue} does not exist; "
                                               "create it first")

    def _apply_queues(self, project: Project, *, prune: bool) -> list[Change]:
        """Create or update the project's queues (its site owns them; one made through the API is adopted). A queue
        the project no longer declares is kept with its messages, unless ``prune`` (``hearth dev``), which also
        deletes other projects' queues; the messages of a pruned queue stay in the event store."""
        site = project.name
        wanted = {spec.name: dataclasses.replace(spec, site=site) for spec in project.queues}
        changes = []
        for spec in list(self.queues.values()):
            if spec.name in wanted or spec.site == "" or (spec.site != site and not prune):
                continue
            if prune:
                self.delete_queue(spec.name)
                changes.append(Change("deleted", f"queue {spec.name}"))
            else:
                changes.append(Change("skipped", f"queue {spec.name}", "no longer in the manifest; kept with its "
                                                                      "messages (aws sqs delete-queue deletes it)"))
        for spec in _dead_letter_queues_first(wanted):
            existing = self.queues.get(spec.name)
            if existing is not None and existing.site not in ("", site):
                raise errors.ResourceConflict(f"queue {spec.name} belongs to project {existing.site!r}; rename one")
            if existing is None:
                self.create_queue(spec)
                action = "created"
            else:
                action = "unchanged" if self.update_queue(spec) is existing else "updated"
            changes.append(Change(action, f"queue {spec.name}", _queue_detail(spec)))
        return changes

    # -- helpers -----------------------------------------------------------------------------------------------

    @staticmethod
    def _check_revision(current: str, expected: str | None, getter: str) -> None:
        if expected is not None and expected != current:
            raise errors.ResourceConflict(f"The Revision Id provided does not match the latest Revision Id. "
                                          f"Call the {getter} API to retrieve the latest Revision Id")


def _async_subject(function: str, qualifier: str) -> str:
    return f"async {function}" if qualifier == LATEST else f"async {function}:{qualifier}"


def _async_detail(config: EventInvokeConfig) -> str:
    parts = [f"{config.maximum_retry_attempts} retries", f"max age {config.maximum_event_age_s}s"]
    parts += [f"{which} → {arn}" for which, arn in (("on success", config.on_success),
                                                     ("on failure", config.on_failure)) if arn is not None]
    return ", ".join(parts)


def _same_queue(a: QueueSpec, b: QueueSpec) -> bool:
    """Equal settings, whoever declared them and whenever."""
    return dataclasses.replace(a, site="", created="") == dataclasses.replace(b, site="", created="")


def _queue_difference(a: QueueSpec, b: QueueSpec) -> str:
    return ", ".join(f"{ATTRIBUTE_OF[f.name]} is {getattr(a, f.name)!r}, not {getattr(b, f.name)!r}"
                     for f in dataclasses.fields(QueueSpec)
                     if f.name in ATTRIBUTE_OF and getattr(a, f.name) != getattr(b, f.name))


def _dead_letter_queues_first(queues: Mapping[str, QueueSpec]) -> list[QueueSpec]:
    """``queues`` ordered so that a dead-letter queue among them comes before the queues that use it."""
    ordered: list[QueueSpec] = []
    placed: set[str] = set()
    pending = list(queues.values())
    while pending:
        ready = [spec for spec in pending if spec.dead_letter_queue not in queues
                 or spec.dead_letter_queue in placed] or pending[:1]  # a cycle: the existence check will say so
        for spec in ready:
            ordered.append(spec)
            placed.add(spec.name)
        pending = [spec for spec in pending if spec.name not in placed]
    return ordered


def _queue_detail(spec: QueueSpec) -> str:
    parts = [f"visibility {spec.visibility_timeout_s} s", f"retention {spec.message_retention_s} s"]
    if spec.delay_s:
        parts.append(f"delay {spec.delay_s} s")
    if spec.dead_letter_queue is not None:
        parts.append(f"after {spec.max_receive_count} receives → {spec.dead_letter_queue}")
    return ", ".join(parts)


def _route_subject(route: RouteSpec) -> str:
    methods = ",".join(sorted(route.methods)) if route.methods else "ANY"
    return f"route {methods} {route.path}"


def _vercel_detail(spec: VercelSpec) -> str:
    routing = spec.routing
    counts = [(len(routing.rewrites), "rewrites"), (len(routing.redirects), "redirects"),
              (len(routing.headers), "header rules"), (len(routing.routes), "routes")]
    parts = [f"{count} {what}" for count, what in counts if count]
    if spec.static_dir is not None:
        parts.append("static files")
    return ", ".join(parts)


def _cors_detail(cors: CorsSpec | None) -> str:
    return "origins " + ", ".join(cors.allow_origins) if cors is not None else ""
