"""The catalog's functions, versions, aliases and concurrency settings."""

from __future__ import annotations

import dataclasses
import datetime

from hearth import errors
from hearth.catalog.base import VERSION_NUMBER, Change, _revision, _same_function, now_text
from hearth.catalog.triggers import TriggerCatalog
from hearth.config.include import mounts
from hearth.config.package import pack
from hearth.model import (
    ALIAS_NAME,
    LATEST,
    AliasSpec,
    AuditEntry,
    FunctionSpec,
)
from hearth.pool.concurrency import check_reservation
from hearth.store.base import FunctionRecord
from hearth.store.code import CodePackage


class FunctionCatalog(TriggerCatalog):
    """Functions, versions, aliases, reserved and provisioned concurrency."""

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
            self.disabled.pop(name, None)  # the store's delete_function cascades to it; the audit log stays
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

    # -- disabling -----------------------------------------------------------------------------------------------

    def disable_function(self, name: str, reason: str, at: float) -> AuditEntry | None:
        """Disable ``name`` (calls refused, triggers held, provisioned instances released by the platform) and
        record why in the audit log; returns the entry, or None when it was disabled already."""
        self.record(name)
        if name in self.disabled:
            return None
        entry = AuditEntry(at, name, "disabled", reason)
        with self.batch():
            self.store.put_disabled(entry)
            self.store.add_audit(entry)
            self.disabled[name] = entry
            self._changed(name)
        return entry

    def enable_function(self, name: str, reason: str, at: float) -> AuditEntry | None:
        """Undo ``disable_function`` and record it; returns the entry, or None when ``name`` was not disabled."""
        self.record(name)
        if name not in self.disabled:
            return None
        entry = AuditEntry(at, name, "enabled", reason)
        with self.batch():
            self.store.delete_disabled(name)
            self.store.add_audit(entry)
            del self.disabled[name]
            self._changed(name)
        return entry

    def disabled_error(self, name: str) -> errors.FunctionDisabled:
        """What a call to disabled ``name`` is answered."""
        entry = self.disabled[name]
        since = datetime.datetime.fromtimestamp(entry.time, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return errors.FunctionDisabled(f"Function {name} is disabled since {since} ({entry.reason}); enable it "
                                       f"with `hearth enable {name}`")

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
