"""``POST /hearth/deploy``: store a project package and make the catalog match its manifest.

The body is the zip ``hearth deploy`` builds (the project folder with its installed requirements and its
``hearth.toml`` at the root). Identical bytes are stored once, and applying an unchanged project changes nothing:
no new revision, no new instances.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.config.manifest import MANIFEST_NAME, load_project

if TYPE_CHECKING:
    from hearth.platform import Platform
    from hearth.store.code import CodeStore


class DeployApi:
    """The native deploy operation."""

    def __init__(self, platform: Platform, code: CodeStore) -> None:
        self.platform = platform
        self.code = code

    async def deploy(self, request: ApiRequest) -> ApiResponse:
        if not request.body:
            raise errors.InvalidParameterValue("The body must be the project's zip package; `hearth deploy` "
                                               "builds and sends it")
        package, stored = await asyncio.to_thread(self.code.put, request.body)
        if not (package.path / MANIFEST_NAME).is_file():
            raise errors.InvalidParameterValue(f"The package has no {MANIFEST_NAME} at its root; deploy a project "
                                               "folder")
        project = await asyncio.to_thread(load_project, package.path)
        changes = self.platform.catalog.apply(project, package)
        return ok({
            "package": {"sha256": package.sha256, "size": package.size, "stored": stored},
            "gateway": self.platform.gateway_url,
            "changes": [{"action": c.action, "subject": c.subject, "detail": c.detail} for c in changes],
            "routes": [{"methods": sorted(r.methods) if r.methods else ["ANY"], "path": r.path,
                        "target": r.target} for r in project.routes],
        })
