"""``POST /hearth/deploy``: store a project's code package and make the catalog match its manifest.

The project's name (which site it is: its hosts, prefix, header rules and CORS) is ``[gateway] name`` in the
manifest, else ``X-Hearth-Project`` (``hearth deploy`` sends the folder's name), else "".

The body is the manifest text followed by the code zip ``hearth deploy`` builds (the project folder with its
installed requirements, without ``hearth.toml``); ``X-Hearth-Manifest-Length`` says where one ends. A Vercel
project (``X-Hearth-Layout: vercel``) sends as its manifest a JSON object with the text of its ``vercel.json`` and
of the ``hearth.toml`` that places it (its ``[gateway]``), each null when absent: its functions are found in the
package's ``api/``, and its routing and static files (in the package) become its site's. The manifest
travels apart from the code so that editing only routes, aliases or concurrency leaves the code package — and so
the functions' revisions — unchanged. Identical bytes are stored once, and applying an unchanged project changes
nothing: no new revision, no new instances.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.api.projects import route_json
from hearth.config.manifest import MANIFEST_NAME, PROJECT_NAME, parse_project, parse_vercel_project
from hearth.config.vercel import CONFIG_NAME
from hearth.model import FunctionSpec

MANIFEST_LENGTH_HEADER = "x-hearth-manifest-length"
PROJECT_HEADER = "x-hearth-project"  # the project's name when its manifest gives none (the CLI sends the folder's)
LAYOUT_HEADER = "x-hearth-layout"  # "hearth" (the default: the manifest is hearth.toml) or "vercel"
LAYOUTS = ("hearth", "vercel")

if TYPE_CHECKING:
    from hearth.platform import Platform
    from hearth.store.code import CodeStore


class DeployApi:
    """The native deploy operation."""

    def __init__(self, platform: Platform, code: CodeStore) -> None:
        self.platform = platform
        self.code = code

    def _check_secrets(self, specs: Iterable[FunctionSpec]) -> None:
        """Refuse a project whose functions read secrets that are not set (nothing is applied)."""
        wanted = [(spec.name, secret) for spec in specs for secret in spec.secrets]
        absent = set(self.platform.vault.missing(secret for _, secret in wanted))
        missing = [(function, secret) for function, secret in wanted if secret in absent]
        if missing:
            raise _secrets_problem(missing)

    async def deploy(self, request: ApiRequest) -> ApiResponse:
        manifest, code = _split(request)
        name = request.headers.get(PROJECT_HEADER, "")
        if name and not PROJECT_NAME.match(name):
            raise errors.InvalidParameterValue(f"{PROJECT_HEADER} {name!r} is not a project name: use letters, "
                                               "digits, '.', '-' and '_' (1 to 64 characters)")
        layout = request.headers.get(LAYOUT_HEADER, "hearth")
        if layout not in LAYOUTS:
            raise errors.InvalidParameterValue(f"{LAYOUT_HEADER} {layout!r} is not a project layout; use one of "
                                               f"{', '.join(LAYOUTS)}")
        texts = _vercel_texts(manifest) if layout == "vercel" else {}
        package, stored = await asyncio.to_thread(self.code.put, code)
        if layout == "vercel":
            project = await asyncio.to_thread(
                parse_vercel_project, package.path, name, texts[MANIFEST_NAME], Path(f"{MANIFEST_NAME} (deployed)"),
                texts[CONFIG_NAME], Path(f"{CONFIG_NAME} (deployed)"))
        else:
            project = parse_project(manifest, package.path, Path(f"{MANIFEST_NAME} (deployed)"), name)
        self._check_secrets(project.functions.values())
        changes = self.platform.catalog.apply(project, package)
        return ok({
            "package": {"sha256": package.sha256, "size": package.size, "stored": stored},
            "gateway": self.platform.gateway_url,
            "changes": [{"action": c.action, "subject": c.subject, "detail": c.detail} for c in changes],
            "routes": [route_json(route) for route in project.routes],
        })


def _secrets_problem(missing: list[tuple[str, str]]) -> errors.SecretNotFound:
    function, secret = missing[0]
    more = f" (and {len(missing) - 1} more: {', '.join(s for _, s in missing[1:])})" if len(missing) > 1 else ""
    return errors.SecretNotFound(f"function {function} reads the secret {secret}, which is not set{more}; set it "
                                 f"first with `hearth secret set {secret}`, then deploy again")


def _vercel_texts(manifest: str) -> dict[str, str | None]:
    """The ``vercel.json`` and ``hearth.toml`` texts of a Vercel project's deploy manifest."""
    try:
        doc = json.loads(manifest)
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or set(doc) != {CONFIG_NAME, MANIFEST_NAME} or \
            not all(value is None or isinstance(value, str) for value in doc.values()):
        raise errors.InvalidParameterValue(f"A Vercel project's manifest must be a JSON object with the texts of "
                                           f"its {CONFIG_NAME} and {MANIFEST_NAME} (null when absent); "
                                           "`hearth deploy` builds and sends it")
    return doc


def _split(request: ApiRequest) -> tuple[str, bytes]:
    """The manifest text and the code zip of a deploy request."""
    try:
        length = int(request.headers[MANIFEST_LENGTH_HEADER])
    except (KeyError, ValueError):
        raise errors.InvalidParameterValue(f"{MANIFEST_LENGTH_HEADER} must give the manifest's length in bytes; "
                                           "`hearth deploy` builds and sends this request") from None
    if not 0 < length < len(request.body):
        raise errors.InvalidParameterValue(f"{MANIFEST_LENGTH_HEADER} is {length}, but the body has "
                                           f"{len(request.body)} bytes: it must hold the manifest and then the zip")
    try:
        manifest = request.body[:length].decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidParameterValue(f"The manifest is not UTF-8 text; save {MANIFEST_NAME} as UTF-8") from None
    return manifest, request.body[length:]
