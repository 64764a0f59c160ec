"""The catalog's gateway side: routes, sites (a project's hosts, prefix, header rules, CORS and Vercel front) and
taking a project off the gateway."""

from __future__ import annotations

from hearth import errors
from hearth.catalog.base import Change
from hearth.catalog.functions import FunctionCatalog
from hearth.model import (
    CorsSpec,
    Project,
    RouteSpec,
    SiteSpec,
    VercelSpec,
)


class GatewayCatalog(FunctionCatalog):
    """Routes and sites."""

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
