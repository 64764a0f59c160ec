"""``GET /hearth/projects`` and ``DELETE /hearth/projects/{name}``: the projects on the gateway.

A project is what ``hearth deploy`` applied under one name: a site (its hosts, prefix, header rules and CORS) and
the routes it declared (``RouteSpec.site``). Deleting one takes the site and those routes off the gateway in one
catalog batch; its functions stay (``hearth rm`` deletes a function).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.model import RouteSpec

if TYPE_CHECKING:
    from hearth.platform import Platform


def route_json(route: RouteSpec) -> dict[str, Any]:
    """A route as the native endpoints show it: methods (``["ANY"]`` for any), path and target."""
    shown: dict[str, Any] = {"methods": sorted(route.methods) if route.methods else ["ANY"], "path": route.path,
                             "target": route.target}
    if route.auth is not None:  # the kind and scopes: never where its secrets are
        shown["auth"] = route.auth.kind
        if route.auth.scopes:
            shown["scopes"] = list(route.auth.scopes)
    return shown


class ProjectsApi:
    """The native project operations."""

    def __init__(self, platform: Platform) -> None:
        self.catalog = platform.catalog

    async def list_projects(self, request: ApiRequest) -> ApiResponse:
        routes = self.catalog.routes
        return ok({"projects": [
            {"name": site.name, "hosts": list(site.hosts), "prefix": site.prefix, "header_rules": len(site.headers),
             "cors": site.cors is not None, "layout": "vercel" if site.vercel is not None else "hearth",
             "routes": [route_json(route) for route in routes if route.site == site.name]}
            for site in self.catalog.sites.values()]})

    async def delete_project(self, request: ApiRequest) -> ApiResponse:
        name = request.params["name"]
        removed = self.catalog.delete_project(name)
        kept = sorted({route.function for route in removed} & set(self.catalog.functions))
        return ok({"name": name, "routes": [route_json(route) for route in removed], "functions": kept})
