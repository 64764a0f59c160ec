"""The SQLite state store: every record survives a restart exactly, deletes cascade, transactions are atomic."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import MISSING, fields
from decimal import Decimal
from pathlib import Path

import pytest

from hearth import __version__
from hearth.errors import ConfigError, ServiceError
from hearth.model import (
    AliasSpec,
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
    function_arn,
    queue_arn,
)
from hearth.store import FunctionRecord, SqliteStore, Store, StoredState
from hearth.store.base import decode_route, encode_route
from hearth.store.sqlite import _MIGRATIONS, SCHEMA_VERSION


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "hearth.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(path)
    yield opened
    opened.close()


def reopened(path: Path) -> StoredState:
    """What a restarted server would see."""
    fresh = SqliteStore(path)
    try:
        return fresh.load()
    finally:
        fresh.close()


def spec(name: str = "hello", version: str = "$LATEST", **changes: object) -> FunctionSpec:
    """A spec with no field left at its default, so a field the codec forgets cannot go unnoticed."""
    values: dict[str, object] = dict(
        name=name, handler="app.handler", code_dir=Path("/srv/code") / name, runtime="http",
        memory_mb=512, timeout_s=0.1 + 0.2, concurrency=7, idle_timeout_s=45, env={"A": "1", "ÜNI": "ç"},
        version=version, description="says hello", code_sha256="ab" * 32, code_size=1234,
        revision_id=f"rev-{version}", last_modified="2026-11-21T16:06:46.000+0000",
        server=ServerSpec(("./server", "--port", "{port}"), "/healthz", 2.5, 8), include=("../pkg", "../shared.py"),
        dead_letter_arn="arn:aws:sqs:us-east-1:000000000000:failed",
        price={"gb_second": Decimal("0.0000333334"), "per_million_requests": Decimal("0.25")}, keep_alive=True,
        secrets=("DB_URL", "API_TOKEN"), secrets_as_files=True, isolation="sandbox", network=False,
    )
    values.update(changes)
    return FunctionSpec(**values)  # type: ignore[arg-type]


def record(name: str = "hello", last_version: int = 0) -> FunctionRecord:
    return FunctionRecord(spec(name), reserved=3, last_version=last_version, created="2026-11-21T16:00:00Z")


def alias(function: str = "hello", name: str = "live", version: str = "1") -> AliasSpec:
    return AliasSpec(
        function=function, name=name, version=version, weights={"2": 0.125},
        rules=(HeaderRule("x-beta", "2", equals="yes"), HeaderRule("x-user", "1", low=-1.5, high=100),
               HeaderRule("x-open", "2", low=3)),
        description="production", revision_id="alias-rev",
    )


HEADERS = (
    ResponseHeaders("/assets/**", {"cache-control": "public, max-age=600", "x-ünï": "ç"}),
    ResponseHeaders("*.js", {"cache-control": "immutable"}),
)
CORS = CorsSpec(allow_origins=("https://app.example.com",), allow_methods=("GET", "POST"),
                allow_headers=("content-type",), expose_headers=("x-request-id",), max_age=600,
                allow_credentials=True)
ROUTES = (
    RouteSpec("/z/{proxy+}", "hello", frozenset({"POST", "GET"}), "live", site="shop", strip_prefix="/z",
              match_headers=(("x-env", "gray"), ("x-ü", "ç")), cors=CORS, cors_off=True, asynchronous=True,
              auth=RouteAuth(kind="jwt", token_env="T", token_secret="TS", jwks_url="http://127.0.0.1:9/jwks",
                             jwt_key="PEM", jwt_secret_env="S", jwt_hmac_secret="HS", issuer="https://i",
                             audience=("a",), algorithms=("RS256",), scopes=("read",))),
    RouteSpec("/a", "hello"),
    RouteSpec("/m", "other", frozenset({"DELETE"}), "2"),
    RouteSpec("/t", "hello", auth=RouteAuth(kind="token", token_env="API_TOKEN")),
    RouteSpec("/j", "hello", auth=RouteAuth(kind="jwt", jwks_url="http://127.0.0.1:9/jwks", issuer="https://i",
                                            audience=("a", "b"), algorithms=("RS256", "PS256"), scopes=("read",))),
)
HAS = (RouteCondition("header", "x-ü", "(?<v>ç+)"), RouteCondition("host", "", None))
MISSING_ = (RouteCondition("cookie", "session"),)
LEGACY = LegacyRoute(src="^/(.*)$", dest="/api/main?p=$1", headers=(("x-b", "2"), ("x-a", "1")), status=418,
                     methods=frozenset({"POST", "GET"}), continue_=True, check=True, case_sensitive=True, has=HAS,
                     missing=MISSING_, handle="filesystem")
ROUTING = VercelRouting(
    redirects=(RedirectRule("/old/:p", "/new/:p", 301, HAS, MISSING_),),
    headers=(HeadersRule("/(.*)", (("x-z", "1"), ("x-a", "ç")), HAS, MISSING_),),
    rewrites=(RewriteRule("/u/:id", "https://example.com/:id", HAS, MISSING_, 202),),
    routes=(LEGACY,), clean_urls=True, trailing_slash=False,
)
VERCEL = VercelSpec(ROUTING, Path("/srv/code/public"), static_is_root=True,
                    files=(("/api/users/{id}", "api/users/[id].py"), ("/api", "api/index.py")), code_sha256="cd" * 32)
SITE = SiteSpec("shop", hosts=("shop.example.com", "*.shop.example"), prefix="/v1", headers=HEADERS, cors=CORS,
                vercel=VERCEL)
EVENT_CONFIG = EventInvokeConfig("hello", "live", maximum_retry_attempts=0, maximum_event_age_s=60,
                                 on_success=function_arn("other", "ç"), on_failure=queue_arn("dlq"),
                                 last_modified="2026-11-21T16:06:46.123+0000")
MAPPING = EventSourceMappingSpec("0c9f3e55-8a55-4f3e-a2f0-2b6d8f7c1d44", "jobs", "hello", qualifier="live",
                                 batch_size=100, maximum_batching_window_s=5, maximum_concurrency=3,
                                 report_batch_item_failures=True, enabled=False, site="shop",
                                 last_modified="2026-11-21T16:06:46.123+0000")
SCHEDULE = ScheduleSpec("shop.nightly", "cron(0 3 ? * MON-FRI *)", timezone="Europe/Berlin", function="hello",
                        qualifier="live", input='{"ç": 1}', path="/api/cron", site="shop", missed="once", enabled=False)

QUEUE = QueueSpec("orders", visibility_timeout_s=45, message_retention_s=3600, delay_s=2, receive_wait_s=20,
                  maximum_message_size=2048, dead_letter_queue="orders-dlq", max_receive_count=3, site="shop",
                  created="2026-11-21T16:06:46.123+0000")


def test_the_fixture_spec_sets_every_field() -> None:
    # Guards the round-trip tests below: a new model field left at its default would not be exercised.
    for model, sample in ((FunctionSpec, spec(version="3")), (AliasSpec, alias()), (RouteSpec, ROUTES[0]),
                          (ResponseHeaders, HEADERS[0]), (CorsSpec, CORS), (SiteSpec, SITE), (VercelSpec, VERCEL),
                          (VercelRouting, ROUTING), (LegacyRoute, LEGACY), (RedirectRule, ROUTING.redirects[0]),
                          (HeadersRule, ROUTING.headers[0]), (RewriteRule, ROUTING.rewrites[0]),
                          (RouteCondition, HAS[0]), (EventInvokeConfig, EVENT_CONFIG), (ScheduleSpec, SCHEDULE),
                          (QueueSpec, QUEUE), (EventSourceMappingSpec, MAPPING),
                              (RouteAuth, ROUTES[0].auth)):
        for field in fields(model):
            default = field.default_factory() if field.default_factory is not MISSING else field.default
            assert getattr(sample, field.name) != default, f"{model.__name__}.{field.name}"


def test_every_record_survives_a_restart_exactly(store: SqliteStore, path: Path) -> None:
    store.put_function(record("hello", last_version=2))
    store.put_function(FunctionRecord(spec("other"), reserved=None, last_version=0, created="2026-01-01"))
    store.put_version(spec("hello", "1"))
    store.put_version(spec("hello", "2", memory_mb=1024, env={}))
    store.put_alias(alias())
    store.put_alias(AliasSpec("hello", "bare", "2"))
    store.put_provisioned("hello", "live", 2)
    store.put_provisioned("hello", "1", 1)
    store.replace_routes(ROUTES)
    store.put_site(SITE)
    store.put_site(SiteSpec("blog"))
    store.put_event_invoke_config(EVENT_CONFIG)
    store.put_event_invoke_config(EventInvokeConfig("other"))
    store.put_schedule(SCHEDULE)
    store.put_schedule(ScheduleSpec("gone", "rate(1 day)"))
    store.delete_schedule("gone")
    store.put_queue(QUEUE)
    store.put_queue(QueueSpec("orders-dlq"))
    store.put_queue(QueueSpec("gone"))
    store.delete_queue("gone")
    store.put_event_source_mapping(MAPPING)
    expected = StoredState(
        functions={"hello": record("hello", last_version=2),
                   "other": FunctionRecord(spec("other"), None, 0, "2026-01-01")},
        versions={"hello": {"1": spec("hello", "1"), "2": spec("hello", "2", memory_mb=1024, env={})}},
        aliases={"hello": {"live": alias(), "bare": AliasSpec("hello", "bare", "2")}},
        provisioned={("hello", "live"): 2, ("hello", "1"): 1},
        routes=ROUTES,
        sites={"shop": SITE, "blog": SiteSpec("blog")},
        event_invoke_configs={("hello", "live"): EVENT_CONFIG, ("other", "$LATEST"): EventInvokeConfig("other")},
        schedules={"shop.nightly": SCHEDULE},
        queues={"orders": QUEUE, "orders-dlq": QueueSpec("orders-dlq")},
        event_source_mappings={MAPPING.uuid: MAPPING},
    )
    assert store.load() == expected
    store.close()
    assert reopened(path) == expected


def test_numbers_keep_their_exact_value_and_type(store: SqliteStore, path: Path) -> None:
    store.put_function(record())
    store.close()
    latest = reopened(path).functions["hello"].latest
    assert latest.timeout_s == 0.30000000000000004 and isinstance(latest.timeout_s, float)
    assert latest.idle_timeout_s == 45 and isinstance(latest.idle_timeout_s, int)
    assert isinstance(latest.code_dir, Path)


def test_a_non_finite_number_is_refused_rather_than_stored_as_null(store: SqliteStore) -> None:
    store.put_function(record())
    rules = (HeaderRule("x-n", "1", low=float("-inf")),)
    with pytest.raises(ServiceError, match="finite"):
        store.put_alias(AliasSpec("hello", "live", "1", rules=rules))
    assert store.load().aliases == {}


def test_routes_keep_their_order_and_are_replaced_whole(store: SqliteStore, path: Path) -> None:
    store.replace_routes(ROUTES)
    store.replace_routes(ROUTES[::-1][:2])
    store.close()
    assert reopened(path).routes == ROUTES[::-1][:2]


def test_a_site_is_replaced_in_place_and_can_be_deleted(store: SqliteStore, path: Path) -> None:
    store.put_site(SITE)
    store.put_site(SiteSpec("blog", hosts=("blog.example.com",)))
    edited = SiteSpec("shop", headers=HEADERS[::-1][:1], cors=CorsSpec(allow_origins=("*",)))
    store.put_site(edited)
    store.close()
    state = reopened(path)
    assert list(state.sites.items()) == [("shop", edited), ("blog", SiteSpec("blog", hosts=("blog.example.com",)))]
    again = SqliteStore(path)
    again.delete_site("shop")
    again.close()
    assert list(reopened(path).sites) == ["blog"]


def _version_1_file(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True)
    raw = sqlite3.connect(path)
    for statement in _MIGRATIONS[0]:
        raw.execute(statement)
    raw.execute("INSERT INTO routes (position, spec) VALUES (0, ?)",
                ('{"path": "/a", "function": "hello", "methods": null, "qualifier": null}',))
    raw.execute("PRAGMA user_version = 1")
    return raw


def test_a_version_1_file_is_upgraded_in_place_and_keeps_its_state(path: Path) -> None:
    raw = _version_1_file(path)
    raw.commit()
    raw.close()
    upgraded = SqliteStore(path)
    try:
        assert upgraded.load() == StoredState({}, {}, {}, {}, (RouteSpec("/a", "hello"),))
        upgraded.put_site(SITE)
    finally:
        upgraded.close()
    assert reopened(path).sites == {"shop": SITE}
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
    raw.close()


def test_a_version_2_files_gateway_rules_become_the_unnamed_site(path: Path) -> None:
    raw = _version_1_file(path)
    for statement in _MIGRATIONS[1]:
        raw.execute(statement)
    for position, rule in enumerate(HEADERS):
        raw.execute("INSERT INTO header_rules (position, spec) VALUES (?, ?)",
                    (position, json.dumps({"source": rule.source, "headers": dict(rule.headers)})))
    raw.execute("INSERT INTO cors (id, spec) VALUES (1, ?)", (json.dumps({
        "allow_origins": list(CORS.allow_origins), "allow_methods": list(CORS.allow_methods),
        "allow_headers": list(CORS.allow_headers), "expose_headers": list(CORS.expose_headers),
        "max_age": CORS.max_age, "allow_credentials": CORS.allow_credentials}),))
    raw.execute("PRAGMA user_version = 2")
    raw.commit()
    raw.close()
    state = reopened(path)
    assert state.sites == {"": SiteSpec("", headers=HEADERS, cors=CORS)}
    assert state.routes == (RouteSpec("/a", "hello"),)


def test_a_version_2_file_without_rules_gets_no_site(path: Path) -> None:
    raw = _version_1_file(path)
    for statement in _MIGRATIONS[1]:
        raw.execute(statement)
    raw.execute("PRAGMA user_version = 2")
    raw.commit()
    raw.close()
    assert reopened(path).sites == {}


def test_replacing_a_function_keeps_its_versions_aliases_and_provisioning(store: SqliteStore) -> None:
    store.put_function(record())
    store.put_version(spec(version="1"))
    store.put_alias(alias())
    store.put_provisioned("hello", "live", 1)
    changed = FunctionRecord(spec(memory_mb=2048), reserved=None, last_version=1, created="2026-11-21T16:00:00Z")
    store.put_function(changed)
    state = store.load()
    assert state.functions["hello"] == changed
    assert list(state.versions["hello"]) == ["1"]
    assert list(state.aliases["hello"]) == ["live"]
    assert state.provisioned == {("hello", "live"): 1}


def test_deleting_a_function_cascades_but_keeps_routes_and_other_functions(store: SqliteStore, path: Path) -> None:
    for name in ("hello", "other"):
        store.put_function(record(name))
        store.put_version(spec(name, "1"))
        store.put_alias(alias(name))
        store.put_provisioned(name, "live", 1)
        store.put_event_invoke_config(EventInvokeConfig(name, "live"))
    store.replace_routes(ROUTES)
    store.delete_function("hello")
    store.close()
    state = reopened(path)
    assert list(state.functions) == ["other"]
    assert list(state.versions) == ["other"]
    assert list(state.aliases) == ["other"]
    assert state.provisioned == {("other", "live"): 1}
    assert state.event_invoke_configs == {("other", "live"): EventInvokeConfig("other", "live")}
    assert state.routes == ROUTES


def test_deleting_a_version_or_alias_drops_its_provisioning(store: SqliteStore) -> None:
    store.put_function(record())
    store.put_version(spec(version="1"))
    store.put_version(spec(version="2"))
    store.put_alias(alias())
    for qualifier in ("1", "2", "live"):
        store.put_provisioned("hello", qualifier, 1)
    for qualifier in ("$LATEST", "1", "2", "live"):
        store.put_event_invoke_config(EventInvokeConfig("hello", qualifier))
    store.delete_version("hello", "1")
    store.delete_alias("hello", "live")
    state = store.load()
    assert list(state.versions["hello"]) == ["2"]
    assert state.aliases == {}
    assert state.provisioned == {("hello", "2"): 1}
    assert list(state.event_invoke_configs) == [("hello", "$LATEST"), ("hello", "2")]
    store.delete_provisioned("hello", "2")
    assert store.load().provisioned == {}
    store.delete_event_invoke_config("hello", "2")
    assert list(store.load().event_invoke_configs) == [("hello", "$LATEST")]


def test_last_version_never_goes_down(store: SqliteStore, path: Path) -> None:
    store.put_function(record(last_version=0))
    store.put_version(spec(version="1"))
    store.put_version(spec(version="2"))
    assert store.load().functions["hello"].last_version == 2
    store.delete_version("hello", "2")
    store.delete_version("hello", "1")
    store.put_function(record(last_version=1))  # a stale record must not let version 2 be published again
    store.close()
    state = reopened(path)
    assert state.functions["hello"].last_version == 2
    assert state.versions == {}


def test_only_published_versions_of_stored_functions_are_stored(store: SqliteStore) -> None:
    store.put_function(record())
    for bad in ("$LATEST", "0", "01", "live", "²"):
        with pytest.raises(ServiceError, match="published versions"):
            store.put_version(spec(version=bad))
    with pytest.raises(ServiceError, match="FOREIGN KEY"):
        store.put_version(spec("ghost", "1"))
    with pytest.raises(ServiceError):
        store.put_alias(alias("ghost"))
    with pytest.raises(ServiceError):
        store.put_provisioned("ghost", "1", 1)
    with pytest.raises(ServiceError, match="FOREIGN KEY"):
        store.put_event_invoke_config(EventInvokeConfig("ghost"))
    state = store.load()
    assert state.versions == {} and state.aliases == {} and state.provisioned == {}
    assert state.event_invoke_configs == {}


def test_a_transaction_that_raises_writes_nothing(store: SqliteStore, path: Path) -> None:
    store.put_function(record("kept"))
    with pytest.raises(RuntimeError, match="deploy failed"):
        with store.transaction():
            store.put_function(record())
            store.put_version(spec(version="1"))
            store.replace_routes(ROUTES)
            store.delete_function("kept")
            raise RuntimeError("deploy failed")
    store.close()
    state = reopened(path)
    assert list(state.functions) == ["kept"]
    assert state.versions == {} and state.routes == ()


def test_a_transaction_writes_everything_when_it_ends(store: SqliteStore, path: Path) -> None:
    with store.transaction():
        store.put_function(record())
        with store.transaction():  # nested use, as a deploy calling helpers that open their own
            store.put_version(spec(version="1"))
        store.replace_routes(ROUTES)
        assert list(store.load().versions["hello"]) == ["1"]  # reads inside see the writes so far
    store.close()
    state = reopened(path)
    assert list(state.versions["hello"]) == ["1"] and state.routes == ROUTES


def test_an_inner_transaction_that_raises_undoes_only_its_own_writes(store: SqliteStore) -> None:
    with store.transaction():
        store.put_function(record())
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.put_version(spec(version="1"))
                raise RuntimeError
        store.put_alias(alias())
    state = store.load()
    assert list(state.functions) == ["hello"] and state.versions == {} and list(state.aliases["hello"]) == ["live"]


def test_the_file_is_in_wal_mode_with_foreign_keys_and_a_busy_timeout(store: SqliteStore, path: Path) -> None:
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()
    conn = store._conn  # white-box: per-connection settings are only visible on the connection itself
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_that_is_not_sqlite_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "hearth.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(ConfigError, match=str(path)):
        SqliteStore(path)


def test_a_damaged_page_is_found_when_the_file_is_opened(store: SqliteStore, path: Path) -> None:
    store.put_function(record())
    store.close()  # the last connection checkpoints the WAL into the main file
    raw = sqlite3.connect(path)
    page = raw.execute("PRAGMA page_size").fetchone()[0]
    raw.close()
    data = bytearray(path.read_bytes())
    data[page * 2:page * 3] = b"\xff" * page  # page 3: a table's root
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=f"{path}: the state database is damaged"):
        SqliteStore(path)


def test_a_damaged_row_is_a_config_error_naming_the_file(store: SqliteStore, path: Path) -> None:
    store.put_function(record())
    store.close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE functions SET spec = '{\"name\": \"hello\", \"surprise\": 1}'")
    raw.close()
    with pytest.raises(ConfigError, match=f"{path}.*function hello"):
        reopened(path)


def test_a_newer_schema_is_refused_naming_the_hearth_it_needs(store: SqliteStore, path: Path) -> None:
    store.close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.execute("UPDATE meta SET value = '9.4.0' WHERE key = 'schema_written_by'")
    raw.commit()
    raw.close()
    with pytest.raises(ConfigError, match=f"{path}.*schema version {SCHEMA_VERSION + 1}.*{__version__}.*9.4.0"):
        SqliteStore(path)


def test_a_newer_schema_without_a_writer_note_still_says_what_is_needed(tmp_path: Path) -> None:
    path = tmp_path / "hearth.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    raw.close()
    with pytest.raises(ConfigError, match="a newer Hearth"):
        SqliteStore(path)


def test_memory_stores_work_and_share_nothing() -> None:
    first: Store = SqliteStore.memory()  # also checks, under mypy, that SqliteStore satisfies the protocol
    second = SqliteStore.memory()
    try:
        first.put_function(record())
        with first.transaction():
            first.put_version(spec(version="1"))
        assert list(first.load().versions["hello"]) == ["1"]
        assert second.load() == StoredState({}, {}, {}, {}, ())
    finally:
        first.close()
        second.close()


def test_an_event_invoke_config_is_replaced_in_place(store: SqliteStore, path: Path) -> None:
    store.put_function(record())
    store.put_event_invoke_config(EVENT_CONFIG)
    edited = EventInvokeConfig("hello", "live", maximum_event_age_s=3600)
    store.put_event_invoke_config(edited)
    store.close()
    assert reopened(path).event_invoke_configs == {("hello", "live"): edited}


def test_a_damaged_event_invoke_config_is_a_config_error_naming_it(store: SqliteStore, path: Path) -> None:
    store.put_function(record())
    store.put_event_invoke_config(EVENT_CONFIG)
    store.close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE event_invoke_configs SET spec = '{\"function\": \"hello\", \"retries\": 9}'")
    raw.close()
    with pytest.raises(ConfigError, match=f"{path}.*asynchronous invocation config hello:live"):
        reopened(path)


def test_a_route_stored_before_auth_existed_has_none() -> None:
    old = b'{"path": "/a", "function": "hello", "methods": null, "qualifier": null}'
    assert decode_route(old).auth is None
    assert decode_route(encode_route(ROUTES[4])) == ROUTES[4]
    assert b"token_env" in encode_route(ROUTES[3])
