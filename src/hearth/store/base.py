"""What every state store shares: the records it keeps, the ``Store`` interface, and the JSON form of the specs.

A store persists the control plane (functions, versions, aliases, provisioned concurrency, asynchronous invocation
configs, schedules, queues, routes, the sites: each project's hosts, prefix, header rules and CORS; and which
functions are disabled, with the audit log of disabling and enabling; and the secrets, encrypted by
``hearth.secrets``, which the store never sees in plain text) so that
``hearth serve`` comes back with the same state after a restart. Instances are never persisted.

Specs are kept as JSON documents, one per row, next to proper key columns. The documents are built from the
dataclass fields, so a field added to the model is stored without touching this module; a field of a type JSON
cannot hold fails loudly when it is written rather than being lost on the next restart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson

from hearth.errors import ServiceError
from hearth.model import (
    AliasSpec,
    AuditEntry,
    CorsSpec,
    EventInvokeConfig,
    EventSourceMappingSpec,
    FunctionSpec,
    HeaderRule,
    HeadersRule,
    LegacyRoute,
    QueueSpec,
    RedirectRule,
    ResponseHeaders,
    RewriteRule,
    RouteAuth,
    RouteCondition,
    RouteSpec,
    ScheduleSpec,
    ServerSpec,
    SiteSpec,
    VercelRouting,
    VercelSpec,
)


@dataclass(frozen=True)
class SecretRow:
    """One stored secret: its AES-GCM nonce and ciphertext (``hearth.secrets`` seals and opens them), how often it
    was set, and when (epoch seconds)."""

    name: str
    nonce: bytes
    ciphertext: bytes
    version: int  # 1 on the first set, +1 on each later one
    created: float
    updated: float


@dataclass(frozen=True)
class FunctionRecord:
    """A stored function: its ``$LATEST`` spec and the settings that belong to the function, not to a version."""

    latest: FunctionSpec
    reserved: int | None  # reserved concurrency; None: unreserved
    last_version: int  # highest version number ever published; numbers are never reused, even after deletes
    created: str  # ISO 8601


@dataclass(frozen=True)
class StoredState:
    """Everything a store holds, as ``load`` returns it at start-up."""

    functions: dict[str, FunctionRecord]
    versions: dict[str, dict[str, FunctionSpec]]  # function → version number string → spec
    aliases: dict[str, dict[str, AliasSpec]]  # function → alias name → alias
    provisioned: dict[tuple[str, str], int]  # (function, qualifier) → requested instances
    routes: tuple[RouteSpec, ...]  # in declaration order
    sites: dict[str, SiteSpec] = dataclass_field(default_factory=dict)  # by name, in the order first stored
    event_invoke_configs: dict[tuple[str, str], EventInvokeConfig] = dataclass_field(default_factory=dict)
    schedules: dict[str, ScheduleSpec] = dataclass_field(default_factory=dict)  # by name
    queues: dict[str, QueueSpec] = dataclass_field(default_factory=dict)  # by name (their messages: event store)
    event_source_mappings: dict[str, EventSourceMappingSpec] = dataclass_field(default_factory=dict)  # by UUID
    disabled: dict[str, AuditEntry] = dataclass_field(default_factory=dict)  # function → the entry that disabled it


class Store(Protocol):
    """Persistence for the control plane. Each write outside ``transaction()`` commits on its own."""

    def load(self) -> StoredState:
        """Everything stored, read as one consistent snapshot."""

    def put_function(self, record: FunctionRecord) -> None:
        """Insert or replace a function; its versions, aliases and provisioned settings are kept."""

    def delete_function(self, name: str) -> None:
        """Delete a function with its versions, aliases, provisioned settings and asynchronous invocation configs."""

    def put_version(self, spec: FunctionSpec) -> None:
        """Store a published version; ``spec.version`` is ``"1"``, ``"2"``, …"""

    def delete_version(self, function: str, version: str) -> None:
        """Delete a published version, its provisioned setting and its asynchronous invocation config."""

    def put_alias(self, alias: AliasSpec) -> None:
        """Insert or replace an alias."""

    def delete_alias(self, function: str, name: str) -> None:
        """Delete an alias, its provisioned setting and its asynchronous invocation config."""

    def put_provisioned(self, function: str, qualifier: str, count: int) -> None:
        """Set the provisioned instances requested for a version or alias."""

    def delete_provisioned(self, function: str, qualifier: str) -> None:
        """Forget the provisioned instances requested for a version or alias."""

    def put_event_invoke_config(self, config: EventInvokeConfig) -> None:
        """Insert or replace the asynchronous invocation config of a function's ``$LATEST``, version or alias."""

    def delete_event_invoke_config(self, function: str, qualifier: str) -> None:
        """Forget the asynchronous invocation config of a function's ``$LATEST``, version or alias."""

    def put_schedule(self, schedule: ScheduleSpec) -> None:
        """Insert or replace a schedule (its last tick and pause live in the event store)."""

    def delete_schedule(self, name: str) -> None:
        """Forget a schedule."""

    def put_queue(self, queue: QueueSpec) -> None:
        """Insert or replace a queue's settings (its messages live in the event store)."""

    def delete_queue(self, name: str) -> None:
        """Forget a queue's settings."""

    def put_event_source_mapping(self, mapping: EventSourceMappingSpec) -> None:
        """Insert or replace an event source mapping."""

    def delete_event_source_mapping(self, uuid: str) -> None:
        """Forget an event source mapping."""

    def put_disabled(self, entry: AuditEntry) -> None:
        """Mark a function disabled, by the audit entry that disabled it (deleting the function forgets it)."""

    def delete_disabled(self, function: str) -> None:
        """Mark a function enabled again."""

    def add_audit(self, entry: AuditEntry) -> None:
        """Append one entry to the audit log (kept after its function is deleted)."""

    def audit(self, function: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries first, of one function or of all."""

    def last_audit(self, action: str) -> dict[str, float]:
        """Each function's latest audit entry of ``action``: its time."""

    def replace_routes(self, routes: Sequence[RouteSpec]) -> None:
        """Replace the whole route table, keeping the given order."""

    def put_site(self, site: SiteSpec) -> None:
        """Insert or replace a site (a project's hosts, prefix, header rules and CORS)."""

    def delete_site(self, name: str) -> None:
        """Forget a site."""

    def secret(self, name: str) -> SecretRow | None:
        """One stored secret, or None."""

    def secrets(self) -> list[SecretRow]:
        """Every stored secret, by name."""

    def put_secret(self, name: str, nonce: bytes, ciphertext: bytes, now: float) -> SecretRow:
        """Store a secret's new ciphertext (a new one at version 1; else the next version, ``created`` kept)."""

    def reseal_secret(self, name: str, nonce: bytes, ciphertext: bytes) -> None:
        """Replace a secret's ciphertext without a new version (master key rotation)."""

    def delete_secret(self, name: str) -> bool:
        """Forget a secret; False if there was none."""

    def meta(self, key: str) -> str | None:
        """A value of the store's small key-value table (e.g. the secrets' key check)."""

    def put_meta(self, key: str, value: str) -> None:
        """Set a value of the store's small key-value table."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes so that all or none of them are stored; nesting is allowed."""

    def close(self) -> None:
        """Release the store; further calls are errors."""


def encode_function(spec: FunctionSpec) -> bytes:
    """A FunctionSpec as a JSON document."""
    doc = _fields(spec)
    doc["code_dir"] = str(spec.code_dir)
    doc["env"] = dict(spec.env)
    doc["server"] = None if spec.server is None else _fields(spec.server)
    doc["price"] = {key: str(value) for key, value in spec.price.items()}  # exact, as written
    return _dumps(doc, f"function {spec.name!r}")


def decode_function(data: bytes | str) -> FunctionSpec:
    """The FunctionSpec ``encode_function`` wrote; raises ``ValueError`` or ``TypeError`` on a damaged document."""
    doc = _loads(data)
    doc["code_dir"] = Path(doc["code_dir"])
    server = doc.get("server")
    if server is not None:
        doc["server"] = ServerSpec(**{**server, "command": tuple(server["command"])})
    doc["include"] = tuple(doc.get("include", ()))  # a JSON array; documents from before the field have none
    doc["secrets"] = tuple(doc.get("secrets", ()))
    doc["price"] = {str(key): Decimal(value) for key, value in doc.get("price", {}).items()}
    return FunctionSpec(**doc)


def encode_alias(alias: AliasSpec) -> bytes:
    """An AliasSpec, with its weights and header rules, as a JSON document."""
    doc = _fields(alias)
    doc["weights"] = dict(alias.weights)
    doc["rules"] = [_fields(rule) for rule in alias.rules]
    return _dumps(doc, f"alias {alias.function}:{alias.name}")


def decode_alias(data: bytes | str) -> AliasSpec:
    """The AliasSpec ``encode_alias`` wrote; raises ``ValueError`` or ``TypeError`` on a damaged document."""
    doc = _loads(data)
    doc["rules"] = tuple(HeaderRule(**rule) for rule in doc.get("rules", ()))
    return AliasSpec(**doc)


def encode_event_invoke_config(config: EventInvokeConfig) -> bytes:
    """An EventInvokeConfig as a JSON document."""
    return _dumps(_fields(config), f"asynchronous invocation config of {config.function}:{config.qualifier}")


def decode_event_invoke_config(data: bytes | str) -> EventInvokeConfig:
    """The EventInvokeConfig ``encode_event_invoke_config`` wrote; raises ``ValueError`` or ``TypeError`` on a
    damaged document."""
    return EventInvokeConfig(**_loads(data))


def encode_schedule(schedule: ScheduleSpec) -> bytes:
    """A ScheduleSpec as a JSON document."""
    return _dumps(_fields(schedule), f"schedule {schedule.name!r}")


def decode_schedule(data: bytes | str) -> ScheduleSpec:
    """The ScheduleSpec ``encode_schedule`` wrote; raises ``ValueError`` or ``TypeError`` on a damaged document."""
    return ScheduleSpec(**_loads(data))


def encode_queue(queue: QueueSpec) -> bytes:
    """A QueueSpec as a JSON document."""
    return _dumps(_fields(queue), f"queue {queue.name!r}")


def decode_queue(data: bytes | str) -> QueueSpec:
    """The QueueSpec ``encode_queue`` wrote; raises ``ValueError`` or ``TypeError`` on a damaged document."""
    return QueueSpec(**_loads(data))


def encode_event_source_mapping(mapping: EventSourceMappingSpec) -> bytes:
    """An EventSourceMappingSpec as a JSON document."""
    return _dumps(_fields(mapping), f"event source mapping {mapping.uuid}")


def decode_event_source_mapping(data: bytes | str) -> EventSourceMappingSpec:
    """The EventSourceMappingSpec ``encode_event_source_mapping`` wrote; raises ``ValueError`` or ``TypeError``."""
    return EventSourceMappingSpec(**_loads(data))


def encode_route(route: RouteSpec) -> bytes:
    """A RouteSpec as a JSON document; its method set becomes a sorted list, or null for any method."""
    doc = _fields(route)
    doc["methods"] = None if route.methods is None else sorted(route.methods)
    doc["cors"] = None if route.cors is None else _fields(route.cors)
    doc["auth"] = None if route.auth is None else _fields(route.auth)  # references to secrets, never a secret
    return _dumps(doc, f"route {route.path}")


def decode_route(data: bytes | str) -> RouteSpec:
    """The RouteSpec ``encode_route`` wrote; raises ``ValueError`` or ``TypeError`` on a damaged document.
    Documents from before a field was added lack it and get its default."""
    doc = _loads(data)
    methods = doc.get("methods")
    doc["methods"] = None if methods is None else frozenset(methods)
    doc["match_headers"] = tuple((str(name), str(value)) for name, value in doc.get("match_headers", ()))
    cors = doc.get("cors")
    doc["cors"] = None if cors is None else _cors(cors)
    auth = doc.get("auth")
    doc["auth"] = None if auth is None else _route_auth(auth)
    return RouteSpec(**doc)


def _route_auth(doc: Any) -> RouteAuth:
    if not isinstance(doc, dict):
        raise ValueError("a route's auth must be an object")
    for key in ("audience", "algorithms", "scopes"):
        doc[key] = tuple(str(item) for item in doc.get(key, ()))
    return RouteAuth(**doc)


def encode_site(site: SiteSpec) -> bytes:
    """A SiteSpec as a JSON document (header rules keep their order, as do their headers)."""
    doc = _fields(site)
    doc["headers"] = [{"source": rule.source, "headers": dict(rule.headers)} for rule in site.headers]
    doc["cors"] = None if site.cors is None else _fields(site.cors)
    doc["vercel"] = None if site.vercel is None else _vercel_doc(site.vercel)
    return _dumps(doc, f"site {site.name!r}")


def decode_site(data: bytes | str) -> SiteSpec:
    """The SiteSpec ``encode_site`` wrote; raises ``ValueError`` or ``TypeError`` on a damaged document."""
    doc = _loads(data)
    rules = []
    for rule in doc.get("headers", ()):
        if not isinstance(rule, dict) or not isinstance(rule.get("headers"), dict):
            raise ValueError("a header rule must be an object with a headers object")
        rules.append(ResponseHeaders(**rule))
    doc["headers"] = tuple(rules)
    doc["hosts"] = tuple(doc.get("hosts", ()))
    cors = doc.get("cors")
    doc["cors"] = None if cors is None else _cors(cors)
    vercel = doc.get("vercel")
    doc["vercel"] = None if vercel is None else _vercel(vercel)
    return SiteSpec(**doc)


def _vercel_doc(spec: VercelSpec) -> dict[str, Any]:
    """A site's Vercel routing as JSON: every rule a plain object; a legacy route's method set a sorted list."""
    routing = spec.routing
    doc = _fields(spec)
    doc["static_dir"] = None if spec.static_dir is None else str(spec.static_dir)
    doc["routing"] = {
        "redirects": [_rule_doc(rule) for rule in routing.redirects],
        "headers": [_rule_doc(rule) for rule in routing.headers],
        "rewrites": [_rule_doc(rule) for rule in routing.rewrites],
        "routes": [_rule_doc(route) | {"methods": None if route.methods is None else sorted(route.methods)}
                   for route in routing.routes],
        "clean_urls": routing.clean_urls,
        "trailing_slash": routing.trailing_slash,
    }
    return doc


def _rule_doc(rule: RedirectRule | HeadersRule | RewriteRule | LegacyRoute) -> dict[str, Any]:
    doc = _fields(rule)
    doc["has"] = [_fields(condition) for condition in rule.has]
    doc["missing"] = [_fields(condition) for condition in rule.missing]
    return doc


def _vercel(doc: dict[str, Any]) -> VercelSpec:
    raw = doc["routing"]

    def rule(item: dict[str, Any]) -> dict[str, Any]:
        item = dict(item, has=tuple(RouteCondition(**c) for c in item.get("has", ())),
                    missing=tuple(RouteCondition(**c) for c in item.get("missing", ())))
        if "headers" in item:
            item["headers"] = tuple((str(name), str(value)) for name, value in item["headers"])
        return item

    routes = []
    for item in raw.get("routes", ()):
        item = rule(item)
        item["methods"] = None if item.get("methods") is None else frozenset(item["methods"])
        routes.append(LegacyRoute(**item))
    routing = VercelRouting(
        redirects=tuple(RedirectRule(**rule(item)) for item in raw.get("redirects", ())),
        headers=tuple(HeadersRule(**rule(item)) for item in raw.get("headers", ())),
        rewrites=tuple(RewriteRule(**rule(item)) for item in raw.get("rewrites", ())),
        routes=tuple(routes),
        clean_urls=bool(raw.get("clean_urls", False)),
        trailing_slash=raw.get("trailing_slash"),
    )
    static_dir = doc.get("static_dir")
    return VercelSpec(routing, None if static_dir is None else Path(static_dir), bool(doc.get("static_is_root")),
                      tuple((str(path), str(handler)) for path, handler in doc.get("files", ())),
                      str(doc.get("code_sha256", "")))


def _cors(doc: dict[str, Any]) -> CorsSpec:
    for key in ("allow_origins", "allow_methods", "allow_headers", "expose_headers"):
        doc[key] = tuple(doc.get(key, ()))
    return CorsSpec(**doc)


def _fields(obj: Any) -> dict[str, Any]:
    # Shallow on purpose: asdict() would deep-copy and turn nested dataclasses into dicts we convert ourselves.
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _dumps(doc: dict[str, Any], what: str) -> bytes:
    _check_finite(doc, what)
    try:
        return orjson.dumps(doc)
    except TypeError as exc:  # a model field of a type JSON cannot hold: a bug here, not the caller's
        raise ServiceError(f"cannot store {what}: {exc}") from exc


def _check_finite(value: object, what: str) -> None:
    # orjson writes NaN and ±inf as null, which would come back as None after a restart.
    if isinstance(value, float) and not math.isfinite(value):
        raise ServiceError(f"cannot store {what}: {value} is not a finite number")
    if isinstance(value, dict):
        for item in value.values():
            _check_finite(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_finite(item, what)


def _loads(data: bytes | str) -> dict[str, Any]:
    doc = orjson.loads(data)
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, found {type(doc).__name__}")
    return doc
