"""Several projects on one gateway: which routes and which response policy answer a request, by its ``Host``.

Each project applied to the catalog is a site (``SiteSpec``): the hosts it answers, the prefix its routes live
under, its header rules and its CORS. ``SiteMap`` is built from the catalog's routes and sites on every change
and is read-only afterwards:

- ``front(headers)``: the ``Front`` for the request's ``Host`` (port and a trailing dot ignored, case folded): the
  site that names the host exactly, else the one whose ``*.example.com`` names a parent of it (any depth; the
  longest pattern wins), else the default front, which holds the routes of every site that names no host (they
  share one table, as they did before sites existed). With no site naming a host, there is no lookup at all.
- ``Front.policy(route)``: the response policy of a matched route: its site's header rules (under the site's
  prefix) with the route's own CORS (``cors = {…}``), none (``cors = false``) or its site's.
- ``Front.fallback(path)``: the policy of a request no route matched (a 404, or a CORS preflight for a method no
  route takes): the site whose prefix holds the path (the longest prefix; among equal ones the site stored last).
- ``Front.preflight(path, headers)``: the gateway's answer to a CORS preflight, with the policy of the route that
  would take the requested method.
- ``Front.authorize(route, headers)``: the route's auth (``auth.py``), for a route that has ``auth``; each such
  route's ``Authorizer`` is built here, from the platform's ``Authorization`` (its secrets and key sets).
- ``Front.vercel``: the routing and static files of the front's Vercel project (``gateway/vercel_site.py``), which
  come before its route table; a front holds at most one (the catalog refuses a second on the same hosts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hearth.gateway.auth import Authorization, Authorizer
from hearth.gateway.policy import ResponsePolicy
from hearth.gateway.routes import Match, RouteTable
from hearth.gateway.vercel_site import VercelSite
from hearth.model import RouteSpec, SiteSpec

RawHeaders = Sequence[tuple[bytes, bytes]]


class Front:
    """The routes and policies of one host's sites (or of the sites that name no host)."""

    def __init__(self, routes: Iterable[RouteSpec], sites: Sequence[SiteSpec],
                 authorization: Authorization | None = None) -> None:
        self.routes = RouteTable(routes)
        authorization = authorization or Authorization()
        self._authorizers: dict[int, Authorizer] = {  # id(route) → its authorizer, for routes with auth only
            id(route): authorization.authorizer(route.auth, f"route {route.route_key('ANY')}")
            for route in self.routes.routes if route.auth is not None}
        self.sites = tuple(sites)
        by_name = {site.name: site for site in self.sites}
        base = {site.name: ResponsePolicy.build(site.headers, site.cors, site.prefix) for site in self.sites}
        self._policies: dict[int, ResponsePolicy | None] = {}  # id(route) → policy; the routes live in the table
        for route in self.routes.routes:
            site = by_name.get(route.site)
            if site is None:
                self._policies[id(route)] = None
            elif route.cors is None and not route.cors_off:
                self._policies[id(route)] = base[site.name]
            else:
                self._policies[id(route)] = ResponsePolicy.build(site.headers, route.cors, site.prefix)
        # Longest prefix first; among equal prefixes the site stored last wins.
        ordered = sorted(enumerate(self.sites), key=lambda item: (-len(item[1].prefix), -item[0]))
        self._fallbacks = tuple((site.prefix, base[site.name]) for _, site in ordered)
        # Whether any policy here has CORS: without, a preflight is an OPTIONS request like any other.
        self.cors = any(site.cors is not None for site in self.sites) or \
            any(route.cors is not None for route in self.routes.routes)
        vercel = [site.vercel for site in self.sites if site.vercel is not None]
        self.vercel = VercelSite.for_site(vercel[-1]) if vercel else None

    def match(self, method: str, path: str, headers: RawHeaders) -> Match | None:
        return self.routes.match(method, path, headers)

    async def authorize(self, route: RouteSpec, headers: RawHeaders) -> dict[str, Any] | None:
        """Check a request to ``route`` (which has ``auth``): the event's ``requestContext.authorizer``, or None;
        raises ``Unauthorized``, ``Forbidden`` or ``AuthorizerUnavailable``."""
        return await self._authorizers[id(route)].authorize(headers)

    def policy(self, route: RouteSpec) -> ResponsePolicy | None:
        """The response policy of a matched ``route``."""
        return self._policies.get(id(route))

    def fallback(self, path: str) -> ResponsePolicy | None:
        """The response policy for a request to ``path`` that no route matched."""
        for prefix, policy in self._fallbacks:
            if not prefix or path == prefix or path.startswith(prefix + "/"):
                return policy
        return None

    def preflight(self, path: str, headers: RawHeaders) -> tuple[int, list[tuple[bytes, bytes]]] | None:
        """The answer to a CORS preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) under
        the policy of the route that takes the requested method, or None when it is not a preflight or that
        route's policy has no CORS (the request then goes on to its route, as any other)."""
        requested = None
        for name, value in headers:
            if name == b"access-control-request-method":
                requested = value.decode("latin-1").upper()
                break
        if requested is None:
            return None
        match = self.routes.match(requested, path, headers)
        policy = self.policy(match.route) if match is not None else self.fallback(path)
        if policy is None:
            return None
        return policy.preflight("OPTIONS", path, headers)


class SiteMap:
    """The gateway's fronts by host; see the module docstring."""

    def __init__(self, routes: Iterable[RouteSpec], sites: Mapping[str, SiteSpec],
                 authorization: Authorization | None = None) -> None:
        routes = tuple(routes)
        hosted = {name: site for name, site in sites.items() if site.hosts}
        self.default = Front((route for route in routes if route.site not in hosted),
                             [site for site in sites.values() if not site.hosts], authorization)
        self._exact: dict[str, Front] = {}
        wildcards: list[tuple[str, Front]] = []
        for name, site in hosted.items():
            front = Front((route for route in routes if route.site == name), [site], authorization)
            for host in site.hosts:
                if host.startswith("*."):
                    wildcards.append((host[1:], front))  # ".example.com"
                else:
                    self._exact[host] = front
        self._wildcards = tuple(sorted(wildcards, key=lambda item: -len(item[0])))
        self.by_host = bool(hosted)

    def front(self, headers: RawHeaders) -> Front:
        """The front that answers a request with these headers."""
        if not self.by_host:
            return self.default
        host = ""
        for name, value in headers:
            if name == b"host":
                host = value.decode("latin-1").lower()
                break
        if host.startswith("["):  # an IPv6 literal: [::1]:8080
            host = host.split("]", 1)[0] + "]"
        else:
            host = host.rsplit(":", 1)[0] if ":" in host else host
        host = host.rstrip(".")
        found = self._exact.get(host)
        if found is not None:
            return found
        for suffix, front in self._wildcards:
            if host.endswith(suffix) and len(host) > len(suffix):
                return front
        return self.default
