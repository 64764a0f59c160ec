"""Secrets (``hearth.secrets``), by name; values go in, never out:

    GET    /hearth/secrets                 names, versions, when set, and the functions and routes that read each
    POST   /hearth/secrets/rotate-key      re-seal every secret with a new master key ({"new_key": base64}: given)
    PUT    /hearth/secrets/{name}          set ({"value": "…"}); instances that hold the old value are replaced
    DELETE /hearth/secrets/{name}          remove
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.secrets import SecretInfo
from hearth.secrets.names import check_secret_name
from hearth.secrets.vault import MAX_VALUE_BYTES

if TYPE_CHECKING:
    from hearth.platform import Platform

MAX_BODY = 2 * MAX_VALUE_BYTES + 4096  # a value JSON-escaped


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SecretsApi:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def _users(self) -> dict[str, list[str]]:
        """Secret name → the functions (``name``, or ``name:3`` for a published version alone) that read it."""
        users: dict[str, set[str]] = {}
        catalog = self.platform.catalog
        for name, record in catalog.functions.items():
            for secret in record.latest.secrets:
                users.setdefault(secret, set()).add(name)
            for version, spec in catalog.versions.get(name, {}).items():
                for secret in spec.secrets:
                    if secret not in record.latest.secrets:
                        users.setdefault(secret, set()).add(f"{name}:{version}")
        return {secret: sorted(names) for secret, names in users.items()}

    def _routes(self) -> dict[str, list[str]]:
        """Secret name → the routes (``ANY /path``) whose auth reads it (``token_secret``, ``jwt_hmac_secret``)."""
        routes: dict[str, set[str]] = {}
        for route in self.platform.catalog.routes:
            if route.auth is not None:
                for secret in (route.auth.token_secret, route.auth.jwt_hmac_secret):
                    if secret:
                        routes.setdefault(secret, set()).add(route.route_key(",".join(sorted(route.methods or ()))))
        return {secret: sorted(keys) for secret, keys in routes.items()}

    def _json(self, info: SecretInfo, users: dict[str, list[str]], routes: dict[str, list[str]]) -> dict[str, Any]:
        return {"name": info.name, "version": info.version, "created": _iso(info.created),
                "updated": _iso(info.updated), "functions": users.get(info.name, []),
                "routes": routes.get(info.name, [])}

    async def list_secrets(self, request: ApiRequest) -> ApiResponse:
        users, routes = self._users(), self._routes()
        listing = [self._json(info, users, routes) for info in self.platform.vault.listing()]
        stored = {item["name"] for item in listing}
        missing = sorted(name for name in {*users, *routes} if name not in stored)
        return ok({"secrets": listing, "missing": [{"name": name, "functions": users.get(name, []),
                                                    "routes": routes.get(name, [])} for name in missing]})

    async def put_secret(self, request: ApiRequest) -> ApiResponse:
        name = check_secret_name(request.params["name"])
        value = _field(request.body, "value", f'{{"value": "…"}}: the value of {name}')
        info = self.platform.vault.set(name, value)
        return ok(self._json(info, self._users(), self._routes()))

    async def delete_secret(self, request: ApiRequest) -> ApiResponse:
        name = request.params["name"]
        self.platform.vault.remove(name)
        return ok({"deleted": name, "functions": self._users().get(name, []),
                   "routes": self._routes().get(name, [])})

    async def rotate_key(self, request: ApiRequest) -> ApiResponse:
        new = None
        if request.body.strip():
            text = _field(request.body, "new_key", '{"new_key": "<32 bytes in base64>"}')
            try:
                new = base64.b64decode(text.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise errors.InvalidParameterValue("new_key is not base64; give 32 random bytes in base64, e.g. "
                                                   "`head -c 32 /dev/urandom | base64`") from None
        vault = self.platform.vault
        count = vault.rotate(new)
        return ok({"resealed": count, "key": vault.key.where, "from_environment": vault.key.from_environment})


def _field(body: bytes, key: str, shape: str) -> str:
    """``body[key]`` of a JSON object body; errors never quote the body (it holds a secret)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise errors.InvalidRequestContent(f"the body must be a JSON object: {shape}") from None
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, str):
        raise errors.InvalidRequestContent(f"the body must be a JSON object with a string {key!r}: {shape}")
    return value
