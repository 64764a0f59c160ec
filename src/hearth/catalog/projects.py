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

import dataclasses

from hearth import errors
from hearth.catalog.base import Change
from hearth.catalog.gateway import GatewayCatalog
from hearth.model import Project
from hearth.store.code import CodePackage


class Catalog(GatewayCatalog):
    """The platform's functions and everything that routes or triggers them, backed by a ``Store``."""

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
