"""The catalog: functions, versions, aliases, concurrency and routes, with Lambda's rules, kept in a real store."""

from __future__ import annotations

import dataclasses
import io
import math
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from hearth import errors
from hearth.catalog import Catalog, Change
from hearth.model import (
    LATEST,
    AliasSpec,
    CorsSpec,
    EventSourceMappingSpec,
    FunctionSpec,
    HeaderRule,
    Project,
    ResponseHeaders,
    RouteSpec,
    ScheduleSpec,
    SiteSpec,
    VercelRouting,
)
from hearth.store import SqliteStore, StoredState
from hearth.store.code import CodePackage, CodeStore

LIMIT = 1000  # Lambda's default: reservations must leave 100 unreserved


class Env:
    """A catalog over a SQLite file and a code store in ``tmp_path``, with a scripted random source."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.db = tmp_path / "state" / "hearth.db"
        self.code = CodeStore(tmp_path / "code")
        self.picks: list[float] = []  # what choose() returns next; empty: 0.99 (no weighted version)
        self.calls = 0
        self.heard: list[str | None] = []
        self._stores: list[SqliteStore] = []
        self.catalog = self.open()

    def choose(self) -> float:
        self.calls += 1
        return self.picks.pop(0) if self.picks else 0.99

    def open(self, limit: int = LIMIT) -> Catalog:
        store = SqliteStore(self.db)
        self._stores.append(store)
        catalog = Catalog(store, self.code, concurrency_limit=limit, choose=self.choose)
        catalog.listeners.append(self.heard.append)
        return catalog

    def stored(self) -> StoredState:
        """What a restarted server would read (a second connection sees only committed writes)."""
        fresh = SqliteStore(self.db)
        try:
            return fresh.load()
        finally:
            fresh.close()

    def package(self, **files: str) -> CodePackage:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in sorted(files.items()):
                archive.writestr(zipfile.ZipInfo(f"{name}.py", (2020, 1, 1, 0, 0, 0)), text)
        package, _ = self.code.put(buffer.getvalue())
        return package

    def close(self) -> None:
        for store in self._stores:
            store.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = Env(tmp_path)
    yield made
    made.close()


def fn(name: str = "hello", package: CodePackage | None = None, **changes: object) -> FunctionSpec:
    """A packaged function spec (code from ``package``), or a live folder one if no package is given."""
    spec = FunctionSpec(name=name, handler="app.handler", code_dir=Path("/live") / name)
    if package is not None:
        spec = dataclasses.replace(spec, code_dir=package.path, code_sha256=package.sha256, code_size=package.size)
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def with_versions(env: Env, count: int, name: str = "hello") -> Catalog:
    """``name`` with ``count`` published versions, each with a different memory size."""
    catalog = env.catalog
    package = env.package(app="def handler(e, c): return 1")
    catalog.create_function(fn(name, package))
    for number in range(1, count + 1):
        catalog.update_function(fn(name, package, memory_mb=128 + number))
        assert catalog.publish_version(name).version == str(number)
    return catalog


def project(root: Path, *functions: FunctionSpec, routes: tuple[RouteSpec, ...] = (),
            aliases: tuple[AliasSpec, ...] = (), provisioned: dict[tuple[str, str], int] | None = None) -> Project:
    return Project(root=root, functions={spec.name: spec for spec in functions}, routes=routes,
                   manifest=root / "hearth.toml", aliases=aliases, provisioned=provisioned or {})


# -- functions -------------------------------------------------------------------------------------------------


def test_create_function_stamps_latest_and_persists(env: Env) -> None:
    package = env.package(app="x = 1")
    created = env.catalog.create_function(fn("hello", package, version="7", revision_id="mine"), reserved=5)
    assert created.version == LATEST
    assert created.revision_id not in ("", "mine")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", created.last_modified)
    assert env.catalog.record("hello").reserved == 5
    assert env.heard == ["hello"]
    stored = env.stored()
    assert stored.functions["hello"].latest == created
    assert stored.functions["hello"].reserved == 5
    assert env.open().record("hello").latest == created


def test_create_function_twice_is_a_conflict(env: Env) -> None:
    env.catalog.create_function(fn())
    with pytest.raises(errors.ResourceConflict, match="Function already exist: hello"):
        env.catalog.create_function(fn(memory_mb=256))
    assert env.catalog.record("hello").latest.memory_mb == 128


def test_create_function_with_too_much_reserved_stores_nothing(env: Env) -> None:
    with pytest.raises(errors.InvalidParameterValue, match=r"minimum value of \[100\]"):
        env.catalog.create_function(fn(), reserved=901)
    assert "hello" not in env.catalog.functions
    assert env.stored().functions == {}
    assert env.heard == []


def test_update_function_changes_the_revision_only_when_something_changed(env: Env) -> None:
    first = env.catalog.create_function(fn())
    env.heard.clear()
    same, changed = env.catalog.update_function(fn(description=""))
    assert (same, changed) == (first, False)
    assert env.heard == []

    updated, changed = env.catalog.update_function(fn(memory_mb=512), revision_id=first.revision_id)
    assert changed
    assert updated.revision_id != first.revision_id
    assert updated.memory_mb == 512
    assert env.heard == ["hello"]
    assert env.stored().functions["hello"].latest == updated


def test_update_function_with_a_stale_revision_is_a_conflict(env: Env) -> None:
    first = env.catalog.create_function(fn())
    env.catalog.update_function(fn(memory_mb=256))
    with pytest.raises(errors.ResourceConflict, match="Revision Id provided does not match.*GetFunction"):
        env.catalog.update_function(fn(memory_mb=512), revision_id=first.revision_id)
    assert env.catalog.record("hello").latest.memory_mb == 256


def test_update_of_an_unknown_function_is_not_found(env: Env) -> None:
    with pytest.raises(errors.ResourceNotFound, match="Function not found: ghost"):
        env.catalog.update_function(fn("ghost"))


# -- versions --------------------------------------------------------------------------------------------------


def test_publish_numbers_versions_and_returns_the_last_one_when_nothing_changed(env: Env) -> None:
    package = env.package(app="x = 1")
    env.catalog.create_function(fn("hello", package, description="from config"))
    one = env.catalog.publish_version("hello", description="first")
    assert (one.version, one.description) == ("1", "first")
    assert one.version_arn.endswith(":function:hello:1")
    assert one.code_sha256 == package.sha256

    again = env.catalog.publish_version("hello", description="a new description is no change")
    assert again is one
    assert env.catalog.record("hello").last_version == 1

    env.catalog.update_function(fn("hello", package, description="from config", timeout_s=10))
    two = env.catalog.publish_version("hello")
    assert (two.version, two.description, two.timeout_s) == ("2", "from config", 10)
    assert env.catalog.spec("hello", "1").timeout_s == 3  # a published version never changes
    stored = env.stored()
    assert stored.versions["hello"] == {"1": one, "2": two}
    assert stored.functions["hello"].last_version == 2


def test_publish_checks_revision_and_code_digest(env: Env) -> None:
    package = env.package(app="x = 1")
    latest = env.catalog.create_function(fn("hello", package))
    with pytest.raises(errors.ResourceConflict, match="Revision Id"):
        env.catalog.publish_version("hello", revision_id="stale")
    with pytest.raises(errors.InvalidParameterValue, match=f"does not match the code of hello:\\$LATEST "
                                                           f"\\({package.sha256}\\)"):
        env.catalog.publish_version("hello", code_sha256="0" * 64)
    assert env.catalog.versions["hello"] == {}
    published = env.catalog.publish_version("hello", revision_id=latest.revision_id, code_sha256=package.sha256)
    assert published.version == "1"


def test_publish_freezes_a_live_folder_into_the_code_store(env: Env) -> None:
    folder = env.tmp_path / "project"
    folder.mkdir()
    (folder / "app.py").write_text("ANSWER = 1\n")
    env.catalog.create_function(fn("hello", code_dir=folder))
    one = env.catalog.publish_version("hello")
    assert re.fullmatch(r"[0-9a-f]{64}", one.code_sha256)
    assert env.code.has(one.code_sha256)
    assert one.code_dir == env.code.root / one.code_sha256
    assert one.code_size > 0
    assert (one.code_dir / "app.py").read_text() == "ANSWER = 1\n"
    latest = env.catalog.record("hello").latest
    assert (latest.code_sha256, latest.code_dir) == ("", folder)  # $LATEST keeps running the folder

    assert env.catalog.publish_version("hello") is one  # same folder content: same version

    (folder / "app.py").write_text("ANSWER = 2\n")
    assert env.catalog.spec("hello", "1") == one
    assert (one.code_dir / "app.py").read_text() == "ANSWER = 1\n"
    two = env.catalog.publish_version("hello")
    assert two.version == "2"
    assert two.code_sha256 != one.code_sha256
    assert (two.code_dir / "app.py").read_text() == "ANSWER = 2\n"


def test_publish_uses_a_snapshot_taken_beforehand(env: Env) -> None:
    folder = env.tmp_path / "project"
    folder.mkdir()
    (folder / "app.py").write_text("ANSWER = 1\n")
    env.catalog.create_function(fn("hello", code_dir=folder))
    snapshot = env.catalog.snapshot("hello")
    assert snapshot is not None
    (folder / "app.py").write_text("ANSWER = 2\n")  # an edit after the snapshot is not in the version
    one = env.catalog.publish_version("hello", snapshot=snapshot)
    assert one.code_sha256 == snapshot.sha256
    assert (one.code_dir / "app.py").read_text() == "ANSWER = 1\n"

    env.catalog.create_function(fn("packaged", env.package(app="x = 1")))
    assert env.catalog.snapshot("packaged") is None


def test_version_numbers_are_never_reused(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.delete_function("hello", "2")
    assert set(catalog.versions["hello"]) == {"1"}
    assert "2" not in env.stored().versions["hello"]
    catalog.update_function(dataclasses.replace(catalog.record("hello").latest, memory_mb=999))
    assert catalog.publish_version("hello").version == "3"

    catalog.delete_function("hello", "3")
    restarted = env.open()
    restarted.update_function(dataclasses.replace(restarted.record("hello").latest, memory_mb=1000))
    assert restarted.publish_version("hello").version == "4"


def test_deleting_a_version_an_alias_uses_is_a_conflict(env: Env) -> None:
    catalog = with_versions(env, 4)
    catalog.put_alias(AliasSpec("hello", "live", "1", weights={"2": 0.5}), create=True)
    catalog.put_alias(AliasSpec("hello", "beta", "1", rules=(HeaderRule("x-env", "3", equals="b"),)), create=True)
    for version, users in (("1", "beta, live"), ("2", "live"), ("3", "beta")):
        with pytest.raises(errors.ResourceConflict, match=f"Version {version} of hello is used by alias\\(es\\) "
                                                          f"{users}"):
            catalog.delete_function("hello", version)
    catalog.delete_function("hello", "4")
    assert set(catalog.versions["hello"]) == {"1", "2", "3"}
    with pytest.raises(errors.ResourceNotFound, match="Function not found: hello:4"):
        catalog.delete_function("hello", "4")


def test_deleting_a_version_drops_its_provisioned_concurrency(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.set_provisioned("hello", "2", 3)
    env.heard.clear()
    catalog.delete_function("hello", "2")
    assert catalog.provisioned == {}
    assert env.stored().provisioned == {}
    assert env.heard == ["hello"]


def test_deleting_a_function_removes_everything_it_has(env: Env) -> None:
    catalog = with_versions(env, 1)
    catalog.create_function(fn("other"))
    catalog.put_alias(AliasSpec("hello", "live", "1"), create=True)
    catalog.set_provisioned("hello", "live", 2)
    mine, theirs = RouteSpec("/hello", "hello"), RouteSpec("/other", "other")
    catalog.apply(project(env.tmp_path, fn("other"), routes=(theirs,)))
    catalog.apply(project(env.tmp_path, catalog.record("hello").latest, routes=(mine,)))
    assert catalog.routes == (theirs, mine)
    env.heard.clear()

    catalog.delete_function("hello")
    assert "hello" not in catalog.functions
    assert "hello" not in catalog.versions and "hello" not in catalog.aliases
    assert catalog.provisioned == {}
    assert catalog.routes == (theirs,)
    assert env.heard == ["hello", None]  # once each, after the commit
    stored = env.stored()
    assert set(stored.functions) == {"other"}
    assert "hello" not in stored.versions and "hello" not in stored.aliases
    assert stored.provisioned == {}
    assert stored.routes == (theirs,)
    with pytest.raises(errors.ResourceNotFound):
        catalog.delete_function("hello")


# -- aliases ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("alias", "error", "message"), [
    (AliasSpec("hello", "123", "1"), errors.InvalidParameterValue, "Alias name '123' is not valid"),
    (AliasSpec("hello", "bad name", "1"), errors.InvalidParameterValue, "Alias name 'bad name' is not valid"),
    (AliasSpec("hello", "x" * 129, "1"), errors.InvalidParameterValue, "is not valid: use 1 to 128"),
    (AliasSpec("hello", "live", "9"), errors.ResourceNotFound,
     r"Function not found: hello:9 \(the version of alias live\); publish it first"),
    (AliasSpec("hello", "live", "1", weights={"9": 0.5}), errors.ResourceNotFound,
     r"hello:9 \(the additional version of alias live\)"),
    (AliasSpec("hello", "live", "other"), errors.InvalidParameterValue, "not at another alias"),
    (AliasSpec("hello", "live", "1", weights={"other": 0.5}), errors.InvalidParameterValue, "not at another alias"),
    (AliasSpec("hello", "live", "1", weights={LATEST: 0.5}), errors.InvalidParameterValue,
     r"\$LATEST cannot be the additional version"),
    (AliasSpec("hello", "live", "1", weights={"2": 0.5, "3": 0.1}), errors.InvalidParameterValue,
     "may name only one additional version"),
    (AliasSpec("hello", "live", LATEST, weights={"2": 0.5}), errors.InvalidParameterValue,
     r"must point at a published version, not \$LATEST"),
    (AliasSpec("hello", "live", "2", weights={"2": 0.5}), errors.InvalidParameterValue,
     "additional version 2 must differ"),
    (AliasSpec("hello", "live", "1", weights={"2": 1.5}), errors.InvalidParameterValue,
     "weight of version 2 must be from 0 to 1, got 1.5"),
    (AliasSpec("hello", "live", "1", weights={"2": -0.1}), errors.InvalidParameterValue, "from 0 to 1"),
    (AliasSpec("hello", "live", "1", weights={"2": math.nan}), errors.InvalidParameterValue, "from 0 to 1"),
    (AliasSpec("hello", "live", "1", rules=(HeaderRule("x-env", "9", equals="a"),)), errors.ResourceNotFound,
     r"hello:9 \(the rule on header 'x-env' of alias live\)"),
    (AliasSpec("hello", "live", "1", rules=(HeaderRule("x-env", "2"),)), errors.InvalidParameterValue,
     "needs either an exact value or a numeric range"),
    (AliasSpec("hello", "live", "1", rules=(HeaderRule("x-env", "2", equals="a", low=1),)),
     errors.InvalidParameterValue, "needs either an exact value or a numeric range"),
    (AliasSpec("hello", "live", "1", rules=(HeaderRule("x-n", "2", low=5, high=1),)), errors.InvalidParameterValue,
     "range of the rule on header 'x-n' is empty: 5 > 1"),
])
def test_invalid_aliases_are_refused(env: Env, alias: AliasSpec, error: type[errors.HearthError],
                                     message: str) -> None:
    catalog = with_versions(env, 3)
    catalog.put_alias(AliasSpec("hello", "other", "1"), create=True)
    env.heard.clear()
    with pytest.raises(error, match=message):
        catalog.put_alias(alias, create=True)
    assert set(catalog.aliases["hello"]) == {"other"}
    assert set(env.stored().aliases["hello"]) == {"other"}
    assert env.heard == []


def test_alias_create_update_and_revisions(env: Env) -> None:
    catalog = with_versions(env, 2)
    with pytest.raises(errors.ResourceNotFound, match="Alias not found"):
        catalog.put_alias(AliasSpec("hello", "live", "1"), create=False)
    with pytest.raises(errors.ResourceNotFound, match="Function not found: ghost"):
        catalog.put_alias(AliasSpec("ghost", "live", "1"), create=True)
    created = catalog.put_alias(AliasSpec("hello", "live", "1", weights={"2": 0.25}), create=True)
    assert created.revision_id
    with pytest.raises(errors.ResourceConflict, match="Alias already exists: .*:function:hello:live"):
        catalog.put_alias(AliasSpec("hello", "live", "2"), create=True)

    same = catalog.put_alias(AliasSpec("hello", "live", "1", weights={"2": 0.25}), create=False)
    assert same is created
    with pytest.raises(errors.ResourceConflict, match="Call the GetAlias API"):
        catalog.put_alias(AliasSpec("hello", "live", "2"), create=False, revision_id="stale")
    moved = catalog.put_alias(AliasSpec("hello", "live", "2"), create=False, revision_id=created.revision_id)
    assert moved.revision_id != created.revision_id
    assert catalog.alias("hello", "live") == moved
    assert env.stored().aliases["hello"]["live"] == moved

    catalog.set_provisioned("hello", "live", 1)
    catalog.delete_alias("hello", "live")
    assert catalog.aliases["hello"] == {}
    assert catalog.provisioned == {}
    assert env.stored().provisioned == {}
    with pytest.raises(errors.ResourceNotFound, match="Alias not found: hello:live"):
        catalog.delete_alias("hello", "live")


def test_header_rules_are_evaluated_in_order_before_weights(env: Env) -> None:
    catalog = with_versions(env, 4)
    catalog.put_alias(AliasSpec("hello", "live", "1", weights={"2": 0.5}, rules=(
        HeaderRule("x-env", "3", equals="gray"),
        HeaderRule("x-user", "4", low=10, high=20),
        HeaderRule("x-env", "4", equals="gray"),  # shadowed by the first rule
    )), create=True)

    env.picks = [0.0] * 10  # the weights would pick version 2 every time
    assert catalog.resolve("hello", "live", {"x-env": "gray"}).version == "3"
    assert catalog.resolve("hello", "live", {"x-user": "15", "x-env": "gray"}).version == "3"
    assert catalog.resolve("hello", "live", {"x-user": "15"}).version == "4"
    assert env.calls == 0  # a matching rule never draws a random number

    assert catalog.resolve("hello", "live", {"x-env": "blue"}).version == "2"
    assert catalog.resolve("hello", "live", {}).version == "2"  # a missing header falls through to the weights
    assert catalog.resolve("hello", "live", None).version == "2"
    assert env.calls == 3


@pytest.mark.parametrize(("value", "matched"), [
    ("10", True), ("20", True), ("10.0", True), ("1e1", True), ("15.5", True), (" 12 ", True),
    ("9.999", False), ("20.001", False), ("-15", False), ("abc", False), ("", False), ("nan", False),
    ("inf", False),
])
def test_range_rules_include_both_bounds(env: Env, value: str, matched: bool) -> None:
    catalog = with_versions(env, 2)
    catalog.put_alias(AliasSpec("hello", "live", "1", rules=(HeaderRule("x-user", "2", low=10, high=20),)),
                      create=True)
    assert catalog.resolve("hello", "live", {"x-user": value}).version == ("2" if matched else "1")


def test_a_missing_header_never_matches_a_rule(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.put_alias(AliasSpec("hello", "live", "1", rules=(HeaderRule("x-env", "2", equals=""),)), create=True)
    assert catalog.resolve("hello", "live", {}).version == "1"
    assert catalog.resolve("hello", "live", {"x-env": ""}).version == "2"


def test_open_ended_range_and_latest_in_a_rule(env: Env) -> None:
    catalog = with_versions(env, 1)
    catalog.put_alias(AliasSpec("hello", "live", "1", rules=(HeaderRule("x-build", LATEST, low=100),)), create=True)
    assert catalog.resolve("hello", "live", {"x-build": "1e9"}).version == LATEST
    assert catalog.resolve("hello", "live", {"x-build": "99"}).version == "1"


def test_weights_pick_the_additional_version_below_its_weight(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.put_alias(AliasSpec("hello", "live", "1", weights={"2": 0.3}), create=True)
    env.picks = [0.0, 0.2999, 0.3, 0.9999]
    assert [catalog.resolve("hello", "live").version for _ in range(4)] == ["2", "2", "1", "1"]


def test_weights_of_zero_and_one(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.put_alias(AliasSpec("hello", "never", "1", weights={"2": 0.0}), create=True)
    catalog.put_alias(AliasSpec("hello", "always", "1", weights={"2": 1.0}), create=True)
    env.picks = [0.0, 0.999999]
    assert catalog.resolve("hello", "never").version == "1"
    assert catalog.resolve("hello", "always").version == "2"


def test_weighted_picks_with_the_real_random_source(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.put_alias(AliasSpec("hello", "live", "1", weights={"2": 0.25}), create=True)
    real = Catalog(catalog.store, env.code, concurrency_limit=LIMIT)  # choose: random.random
    picks = 20_000
    extra = sum(real.resolve("hello", "live").version == "2" for _ in range(picks))
    # Binomial(20000, 0.25): mean 5000, standard deviation sqrt(20000 * 0.25 * 0.75) ≈ 61.2. Six deviations
    # (±367) fail a correct catalog about once in 500 million runs, yet catch any weight off by 0.02 or more.
    sigma = math.sqrt(picks * 0.25 * 0.75)
    assert abs(extra - picks * 0.25) < 6 * sigma


def test_an_alias_of_latest_follows_latest(env: Env) -> None:
    catalog = with_versions(env, 1)
    catalog.put_alias(AliasSpec("hello", "dev", LATEST), create=True)
    assert catalog.resolve("hello", "dev") == catalog.record("hello").latest
    updated, _ = catalog.update_function(dataclasses.replace(catalog.record("hello").latest, memory_mb=2048))
    assert catalog.resolve("hello", "dev") == updated
    assert catalog.spec("hello", "dev") == updated


# -- resolve ---------------------------------------------------------------------------------------------------


def test_resolve_by_qualifier(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.put_alias(AliasSpec("hello", "live", "1"), create=True)
    latest = catalog.record("hello").latest
    assert catalog.resolve("hello", None) == latest
    assert catalog.resolve("hello", LATEST) == latest
    assert catalog.resolve("hello", "2") == catalog.versions["hello"]["2"]
    assert catalog.resolve("hello", "live") == catalog.versions["hello"]["1"]
    assert catalog.spec("hello", "live") == catalog.versions["hello"]["1"]
    with pytest.raises(errors.ResourceNotFound, match="Function not found: ghost"):
        catalog.resolve("ghost", None)
    with pytest.raises(errors.ResourceNotFound, match="Function not found: ghost"):
        catalog.resolve("ghost", "live")
    with pytest.raises(errors.ResourceNotFound, match="Function not found: hello:7; no such version or alias"):
        catalog.resolve("hello", "7")
    with pytest.raises(errors.ResourceNotFound, match="hello:beta"):
        catalog.resolve("hello", "beta")


def test_versions_of_lists_latest_then_versions_in_numeric_order(env: Env) -> None:
    catalog = with_versions(env, 11)
    assert [spec.version for spec in catalog.versions_of("hello")] == [LATEST, *map(str, range(1, 12))]


# -- concurrency -----------------------------------------------------------------------------------------------


def test_reserved_concurrency_leaves_the_unreserved_minimum(env: Env) -> None:
    catalog = env.catalog
    catalog.create_function(fn("a"))
    catalog.create_function(fn("b"))
    assert catalog.set_reserved("a", 500)
    with pytest.raises(errors.InvalidParameterValue, match=r"minimum value of \[100\].*901 would be reserved"):
        catalog.set_reserved("b", 401)
    assert catalog.set_reserved("b", 400)
    assert not catalog.set_reserved("b", 400)
    assert catalog.set_reserved("a", 0)  # 0 disables a function
    with pytest.raises(errors.InvalidParameterValue, match="must be 0 or more"):
        catalog.set_reserved("a", -1)
    assert catalog.set_reserved("a", None)
    assert {name: r.reserved for name, r in env.stored().functions.items()} == {"a": None, "b": 400}


def test_a_small_limit_keeps_a_tenth_unreserved(env: Env) -> None:
    catalog = env.open(limit=50)
    catalog.create_function(fn("a"))
    with pytest.raises(errors.InvalidParameterValue, match=r"minimum value of \[5\]"):
        catalog.set_reserved("a", 46)
    assert catalog.set_reserved("a", 45)


def test_provisioned_concurrency_validation(env: Env) -> None:
    catalog = with_versions(env, 2)
    catalog.put_alias(AliasSpec("hello", "live", "1"), create=True)
    catalog.put_alias(AliasSpec("hello", "dev", LATEST), create=True)
    with pytest.raises(errors.InvalidParameterValue, match=r"cannot be configured on \$LATEST"):
        catalog.set_provisioned("hello", LATEST, 1)
    with pytest.raises(errors.InvalidParameterValue, match=r"alias hello:dev, which points at \$LATEST"):
        catalog.set_provisioned("hello", "dev", 1)
    with pytest.raises(errors.ResourceNotFound, match="hello:7; no such version or alias"):
        catalog.set_provisioned("hello", "7", 1)
    with pytest.raises(errors.ResourceNotFound, match="Function not found: ghost"):
        catalog.set_provisioned("ghost", "1", 1)
    with pytest.raises(errors.InvalidParameterValue, match="at least 1, got 0"):
        catalog.set_provisioned("hello", "1", 0)
    with pytest.raises(errors.InvalidParameterValue, match="exceeds the platform's concurrency limit of 1000"):
        catalog.set_provisioned("hello", "1", 1001)

    catalog.set_reserved("hello", 10)
    assert catalog.set_provisioned("hello", "1", 6)
    assert not catalog.set_provisioned("hello", "1", 6)
    with pytest.raises(errors.InvalidParameterValue, match="of 11 for hello would exceed its reserved "
                                                           "concurrency of 10"):
        catalog.set_provisioned("hello", "live", 5)
    assert catalog.set_provisioned("hello", "live", 4)
    assert catalog.set_provisioned("hello", "1", 2)  # replacing its own count is not counted twice
    with pytest.raises(errors.InvalidParameterValue, match="has 6 provisioned instances; reserved concurrency "
                                                           "cannot be lower \\(5\\)"):
        catalog.set_reserved("hello", 5)
    assert catalog.record("hello").reserved == 10
    assert env.stored().provisioned == {("hello", "1"): 2, ("hello", "live"): 4}

    catalog.delete_provisioned("hello", "1")
    assert catalog.provisioned == {("hello", "live"): 4}
    with pytest.raises(errors.ProvisionedConfigNotFound,
                       match="No Provisioned Concurrency Config found for this function: hello:1"):
        catalog.delete_provisioned("hello", "1")
    assert env.stored().provisioned == {("hello", "live"): 4}


def test_provisioned_versions_count_aliases_for_their_version(env: Env) -> None:
    catalog = with_versions(env, 3)
    catalog.put_alias(AliasSpec("hello", "live", "1"), create=True)
    catalog.put_alias(AliasSpec("hello", "beta", "2"), create=True)
    catalog.set_provisioned("hello", "live", 2)
    catalog.set_provisioned("hello", "1", 3)
    catalog.set_provisioned("hello", "beta", 1)
    assert catalog.provisioned_versions("hello") == {"1": 5, "2": 1}
    live = catalog.alias("hello", "live")
    catalog.put_alias(AliasSpec("hello", "live", "3"), create=False, revision_id=live.revision_id)
    assert catalog.provisioned_versions("hello") == {"1": 3, "2": 1, "3": 2}


# -- batches and listeners -------------------------------------------------------------------------------------


def test_listeners_hear_once_per_batch_after_the_commit(env: Env) -> None:
    seen: list[tuple[str | None, set[str]]] = []

    def listener(subject: str | None) -> None:
        seen.append((subject, set(env.stored().functions)))  # another connection: only committed state

    env.catalog.listeners.append(listener)
    routes = (RouteSpec("/a", "a"), RouteSpec("/b", "b"))
    env.catalog.apply(project(env.tmp_path, fn("a", concurrency=5), fn("b"), routes=routes))
    assert env.heard == ["a", "b", None]
    assert seen == [("a", {"a", "b"}), ("b", {"a", "b"}), (None, {"a", "b"})]


def test_a_failed_batch_leaves_memory_and_store_as_they_were(env: Env) -> None:
    catalog = env.catalog
    before = catalog.create_function(fn("a"))
    catalog.apply(project(env.tmp_path, fn("a"), routes=(RouteSpec("/a", "a"),)))
    env.heard.clear()
    changed = project(env.tmp_path, fn("a", memory_mb=256), fn("b"), fn("c", concurrency=2000),
                      routes=(RouteSpec("/b", "b"),))
    with pytest.raises(errors.InvalidParameterValue, match="ReservedConcurrentExecutions for function c"):
        catalog.apply(changed)
    assert catalog.record("a").latest == before
    assert set(catalog.functions) == {"a"}
    assert set(catalog.versions) == set(catalog.aliases) == {"a"}
    assert catalog.routes == (RouteSpec("/a", "a"),)
    assert env.heard == []
    stored = env.stored()
    assert set(stored.functions) == {"a"}
    assert stored.functions["a"].latest == before
    assert stored.routes == (RouteSpec("/a", "a"),)


def test_an_exception_inside_a_batch_rolls_everything_back(env: Env) -> None:
    catalog = with_versions(env, 1)
    latest = catalog.record("hello").latest
    env.heard.clear()
    with pytest.raises(RuntimeError, match="boom"):
        with catalog.batch():
            assert catalog.publish_version("hello").version == "1"  # unchanged
            catalog.update_function(dataclasses.replace(latest, memory_mb=4096))
            assert catalog.publish_version("hello").version == "2"
            catalog.create_function(fn("new"))
            raise RuntimeError("boom")
    assert set(catalog.versions["hello"]) == {"1"}
    assert catalog.record("hello").last_version == 1
    assert catalog.record("hello").latest == latest
    assert "new" not in catalog.functions
    assert env.heard == []
    stored = env.stored()
    assert set(stored.functions) == {"hello"}
    assert stored.functions["hello"].last_version == 1
    assert set(stored.versions["hello"]) == {"1"}
    catalog.update_function(dataclasses.replace(latest, memory_mb=4096))
    assert catalog.publish_version("hello").version == "2"  # the rolled-back "2" was never taken


# -- apply -----------------------------------------------------------------------------------------------------


def test_apply_reports_created_then_unchanged(env: Env) -> None:
    catalog = env.catalog
    package = env.package(app="def handler(e, c): return 2")
    routes = (RouteSpec("/hi", "hello", frozenset({"GET"})), RouteSpec("/live", "hello", qualifier="live"))
    aliases = (AliasSpec("hello", "live", "1"), AliasSpec("hello", "dev", LATEST))
    declared = project(env.tmp_path, fn("hello", concurrency=5), fn("worker"), routes=routes, aliases=aliases,
                       provisioned={("hello", "live"): 2})

    first = catalog.apply(declared, package)
    assert first == [
        Change("created", "function hello"),
        Change("updated", "concurrency hello", "reserved 5"),
        Change("created", "function worker"),
        Change("skipped", "alias hello:live", "Function not found: hello:1 (the version of alias live); publish it "
                                              "first: run `hearth publish hello`"),
        Change("created", "alias hello:dev", f"→ version {LATEST}"),
        Change("skipped", "provisioned hello:live", "Function not found: hello:live; no such version or alias"),
        Change("created", "route GET /hi", "→ hello"),
        Change("created", "route ANY /live", "→ hello:live"),
    ]
    assert catalog.record("hello").latest.code_sha256 == package.sha256
    assert catalog.record("hello").reserved == 5

    catalog.publish_version("hello")
    second = catalog.apply(declared, package)
    assert ("created", "alias hello:live", "→ version 1") in second
    assert ("updated", "provisioned hello:live", "2 instances") in second
    revisions = {name: r.latest.revision_id for name, r in catalog.functions.items()}
    alias_revisions = {a.name: a.revision_id for a in catalog.aliases["hello"].values()}
    env.heard.clear()

    third = catalog.apply(declared, package)
    assert third == [
        Change("unchanged", "function hello"),
        Change("unchanged", "function worker"),
        Change("unchanged", "alias hello:live", "→ version 1"),
        Change("unchanged", "alias hello:dev", f"→ version {LATEST}"),
        Change("unchanged", "route GET /hi", "→ hello"),
        Change("unchanged", "route ANY /live", "→ hello:live"),
    ]
    assert {name: r.latest.revision_id for name, r in catalog.functions.items()} == revisions
    assert {a.name: a.revision_id for a in catalog.aliases["hello"].values()} == alias_revisions
    assert env.heard == []
    assert catalog.publish_version("hello").version == "1"


def test_apply_reports_updates(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(project(env.tmp_path, fn("hello", concurrency=5), routes=(RouteSpec("/a", "hello"),)))
    before = catalog.record("hello").latest.revision_id
    changes = catalog.apply(project(env.tmp_path, fn("hello", handler="app.other"), routes=(RouteSpec("/b", "hello"),)))
    assert changes == [
        Change("updated", "function hello"),
        Change("updated", "concurrency hello", "unreserved"),
        Change("created", "route ANY /b", "→ hello"),
        Change("deleted", "route ANY /a", "→ hello"),
    ]
    assert catalog.record("hello").latest.revision_id != before
    assert catalog.record("hello").latest.handler == "app.other"
    assert catalog.record("hello").reserved is None
    assert env.stored().routes == (RouteSpec("/b", "hello"),)


def test_apply_keeps_routes_of_other_functions_unless_they_clash(env: Env) -> None:
    catalog = env.catalog
    get, post = frozenset({"GET"}), frozenset({"POST"})
    theirs = (RouteSpec("/other", "other"), RouteSpec("/shared", "other", get), RouteSpec("/any", "other"),
              RouteSpec("/posted", "other", post))
    catalog.apply(project(env.tmp_path, fn("other"), routes=theirs))
    ours = (RouteSpec("/shared", "hello", post), RouteSpec("/any", "hello", get),
            RouteSpec("/posted", "hello", frozenset({"POST", "PUT"})))
    changes = catalog.apply(project(env.tmp_path, fn("hello"), routes=ours))
    assert [c for c in changes if c.subject.startswith("route")] == [
        Change("created", "route POST /shared", "→ hello"),
        Change("created", "route GET /any", "→ hello"),
        Change("created", "route POST,PUT /posted", "→ hello"),
        Change("deleted", "route ANY /any", "→ other"),
        Change("deleted", "route POST /posted", "→ other"),
    ]
    assert catalog.routes == (RouteSpec("/other", "other"), RouteSpec("/shared", "other", get), *ours)
    assert env.stored().routes == catalog.routes
    assert "other" in catalog.functions  # without prune, undeclared functions stay


def test_apply_with_prune_deletes_undeclared_functions(env: Env) -> None:
    catalog = env.catalog
    routes = (RouteSpec("/a", "a"), RouteSpec("/b", "b"))
    catalog.apply(project(env.tmp_path, fn("a"), fn("b"), routes=routes))
    kept = catalog.apply(project(env.tmp_path, fn("a"), routes=routes[:1]))
    assert kept == [Change("unchanged", "function a"), Change("unchanged", "route ANY /a", "→ a")]
    assert set(catalog.functions) == {"a", "b"}
    assert catalog.routes == (routes[1], routes[0])  # b's route belongs to b, not to this project: kept
    env.heard.clear()

    pruned = catalog.apply(project(env.tmp_path, fn("a"), routes=routes[:1]), prune=True)
    assert pruned[0] == Change("deleted", "function b")
    assert Change("unchanged", "function a") in pruned
    assert set(catalog.functions) == {"a"}
    assert catalog.routes == routes[:1]
    assert env.heard == ["b", None]
    stored = env.stored()
    assert set(stored.functions) == {"a"}
    assert stored.routes == routes[:1]


def test_apply_fails_on_an_invalid_alias_instead_of_skipping_it(env: Env) -> None:
    rule = HeaderRule("x-n", LATEST, low=5, high=1)
    with pytest.raises(errors.InvalidParameterValue, match="range of the rule on header 'x-n' is empty"):
        env.catalog.apply(project(env.tmp_path, fn("hello"), aliases=(AliasSpec("hello", "live", LATEST,
                                                                                 rules=(rule,)),)))
    assert env.catalog.functions == {}
    assert env.stored().functions == {}


def test_state_survives_a_restart(env: Env) -> None:
    catalog = with_versions(env, 2)
    rules = (HeaderRule("x-env", "2", equals="gray"), HeaderRule("x-n", "1", low=-1.5, high=2.5))
    catalog.put_alias(AliasSpec("hello", "live", "1", weights={"2": 0.125}, rules=rules), create=True)
    catalog.set_reserved("hello", 20)
    catalog.set_provisioned("hello", "live", 3)
    catalog.apply(project(env.tmp_path, fn("web"), routes=(RouteSpec("/w", "web", frozenset({"GET", "PUT"})),)))

    restarted = env.open()
    assert restarted.functions == catalog.functions
    assert restarted.versions == catalog.versions
    assert restarted.aliases == catalog.aliases
    assert restarted.provisioned == catalog.provisioned
    assert restarted.routes == catalog.routes
    env.picks = [0.1]
    assert restarted.resolve("hello", "live", {"x-n": "2.5"}).version == "1"
    assert restarted.resolve("hello", "live").version == "2"


def test_referenced_code_lists_every_package_in_use(env: Env) -> None:
    one, two = env.package(app="x = 1"), env.package(app="x = 2")
    catalog = env.catalog
    catalog.create_function(fn("hello", one))
    catalog.publish_version("hello")
    catalog.update_function(fn("hello", two))
    catalog.create_function(fn("live"))  # a live folder uses no package
    assert catalog.referenced_code() == {one.sha256, two.sha256}


def test_changing_only_reserved_concurrency_in_a_manifest_is_no_new_revision_or_version(env: Env) -> None:
    catalog = env.catalog
    package = env.package(app="def handler(e, c): return 1")
    catalog.apply(project(env.tmp_path, fn("hello", package)))
    first = catalog.publish_version("hello")
    revision = catalog.record("hello").latest.revision_id
    changes = catalog.apply(project(env.tmp_path, fn("hello", package, concurrency=5)))
    assert ("unchanged", "function hello") in [(c.action, c.subject) for c in changes]
    assert ("updated", "concurrency hello", "reserved 5") in changes
    assert catalog.record("hello").reserved == 5
    assert catalog.record("hello").latest.revision_id == revision
    assert catalog.publish_version("hello") == first


def test_latest_cannot_be_deleted_on_its_own(env: Env) -> None:
    catalog = with_versions(env, 1)
    with pytest.raises(errors.InvalidParameterValue, match=r"\$LATEST of hello cannot be deleted on its own"):
        catalog.delete_function("hello", "$LATEST")
    assert "hello" in catalog.functions and "hello" in env.stored().functions


def test_applying_a_manifest_without_a_provisioned_alias_removes_its_configuration(env: Env) -> None:
    catalog = with_versions(env, 1)
    spec = catalog.record("hello").latest
    alias = AliasSpec(function="hello", name="live", version="1")
    catalog.apply(project(env.tmp_path, spec, aliases=(alias,), provisioned={("hello", "live"): 2}))
    assert catalog.provisioned == {("hello", "live"): 2}
    changes = catalog.apply(project(env.tmp_path, spec, aliases=(alias,)))
    assert ("deleted", "provisioned hello:live") in [(c.action, c.subject) for c in changes]
    assert catalog.provisioned == {} and env.stored().provisioned == {}


# -- header rules and CORS -------------------------------------------------------------------------------------

ASSETS = ResponseHeaders("/assets/**", {"cache-control": "public, max-age=600"})
SCRIPTS = ResponseHeaders("*.js", {"cache-control": "immutable", "x-content-type-options": "nosniff"})
CORS = CorsSpec(allow_origins=("https://app.example.com",), allow_methods=("GET",))


def gateway_project(env: Env, headers: tuple[ResponseHeaders, ...], cors: CorsSpec | None,
                    routes: tuple[RouteSpec, ...] = ()) -> Project:
    return dataclasses.replace(project(env.tmp_path, fn("hello"), routes=routes), headers=headers, cors=cors)


def rules(sites: Mapping[str, SiteSpec]) -> tuple[tuple[ResponseHeaders, ...], CorsSpec | None]:
    """The header rules and CORS of the unnamed project's site."""
    site = sites.get("", SiteSpec(""))
    return site.headers, site.cors


def test_apply_reports_header_rules_and_cors_and_persists_them(env: Env) -> None:
    catalog = env.catalog
    first = catalog.apply(gateway_project(env, (ASSETS, SCRIPTS), CORS))
    assert first[1:] == [
        Change("created", "headers /assets/**", "cache-control"),
        Change("created", "headers *.js", "cache-control, x-content-type-options"),
        Change("created", "cors", "origins https://app.example.com"),
    ]
    assert rules(env.stored().sites) == ((ASSETS, SCRIPTS), CORS)
    env.heard.clear()

    again = catalog.apply(gateway_project(env, (ASSETS, SCRIPTS), CORS))
    assert again[1:] == [
        Change("unchanged", "headers /assets/**", "cache-control"),
        Change("unchanged", "headers *.js", "cache-control, x-content-type-options"),
        Change("unchanged", "cors", "origins https://app.example.com"),
    ]
    assert env.heard == []  # nothing changed: the platform rebuilds nothing

    edited = ResponseHeaders("*.js", {"cache-control": "no-cache"})
    wider = dataclasses.replace(CORS, allow_origins=("*",))
    third = catalog.apply(gateway_project(env, (edited,), wider))
    assert third[1:] == [
        Change("updated", "headers *.js", "cache-control"),
        Change("deleted", "headers /assets/**", "cache-control"),
        Change("updated", "cors", "origins *"),
    ]
    assert env.heard == [None]  # one notification for the whole batch
    assert rules(catalog.sites) == ((edited,), wider)

    last = catalog.apply(gateway_project(env, (), None))
    assert last[1:] == [Change("deleted", "headers *.js", "cache-control"), Change("deleted", "cors", "origins *")]
    assert rules(env.stored().sites) == ((), None)


def test_a_manifest_without_rules_or_cors_reports_nothing_about_them(env: Env) -> None:
    assert env.catalog.apply(gateway_project(env, (), None)) == [Change("created", "function hello")]


def test_reordering_rules_is_stored_because_a_later_rule_wins(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(gateway_project(env, (ASSETS, SCRIPTS), None))
    env.heard.clear()
    catalog.apply(gateway_project(env, (SCRIPTS, ASSETS), None))
    assert rules(env.stored().sites)[0] == (SCRIPTS, ASSETS)
    assert env.heard == [None]


def test_header_rules_and_cors_survive_a_restart(env: Env) -> None:
    env.catalog.apply(gateway_project(env, (ASSETS,), CORS))
    restarted = env.open()
    assert rules(restarted.sites) == ((ASSETS,), CORS)


def test_a_failed_apply_keeps_the_previous_rules(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = env.catalog
    catalog.apply(gateway_project(env, (ASSETS,), CORS))

    def broken_store(routes: Sequence[RouteSpec]) -> None:  # fails after the site was written in the batch
        raise errors.ServiceError("disk full")

    monkeypatch.setattr(catalog.store, "replace_routes", broken_store)
    with pytest.raises(errors.ServiceError, match="disk full"):
        catalog.apply(gateway_project(env, (SCRIPTS,), None, (RouteSpec("/new", "hello"),)))
    assert rules(catalog.sites) == ((ASSETS,), CORS)
    assert rules(env.stored().sites) == ((ASSETS,), CORS)


# --- sites: projects by name, their hosts ------------------------------------------------------------------------


def site_project(env: Env, name: str, function: str, *paths: str, hosts: tuple[str, ...] = (),
                 cors: CorsSpec | None = None) -> Project:
    routes = tuple(RouteSpec(path, function, site=name) for path in paths)
    return dataclasses.replace(project(env.tmp_path, fn(function), routes=routes), name=name, hosts=hosts,
                               cors=cors)


def test_each_project_keeps_its_own_cors_and_rules(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(site_project(env, "shop", "shop", "/shop", cors=CORS))
    changes = catalog.apply(site_project(env, "blog", "blog", "/blog"))
    assert not [c for c in changes if c.subject == "cors"]  # the shop's CORS is not the blog's to delete
    assert catalog.sites["shop"].cors == CORS and catalog.sites["blog"].cors is None
    assert env.stored().sites == catalog.sites


def test_a_named_project_owns_its_routes_even_when_it_renames_its_functions(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(site_project(env, "shop", "old", "/items"))
    catalog.apply(site_project(env, "blog", "blog", "/posts"))
    changes = catalog.apply(site_project(env, "shop", "new", "/goods"))
    assert Change("deleted", "route ANY /items", "→ old") in changes
    assert [route.path for route in catalog.routes] == ["/posts", "/goods"]


def test_routes_on_other_hosts_do_not_clash(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(site_project(env, "shop", "shop", "/items", hosts=("shop.example",)))
    catalog.apply(site_project(env, "blog", "blog", "/items", hosts=("blog.example",)))
    catalog.apply(site_project(env, "plain", "plain", "/items"))
    assert [(route.site, route.path) for route in catalog.routes] == [
        ("shop", "/items"), ("blog", "/items"), ("plain", "/items")]
    catalog.apply(site_project(env, "other", "other", "/items"))  # the same (no) host as plain: it replaces it
    assert [route.site for route in catalog.routes] == ["shop", "blog", "other"]


def test_a_host_another_project_answers_is_refused_and_nothing_is_applied(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(site_project(env, "shop", "shop", "/items", hosts=("shop.example",)))
    with pytest.raises(errors.ResourceConflict, match="host shop.example is answered by project 'shop' already"):
        catalog.apply(site_project(env, "thief", "thief", "/x", hosts=("shop.example", "thief.example")))
    assert "thief" not in catalog.functions and "thief" not in catalog.sites
    assert [route.site for route in catalog.routes] == ["shop"]
    assert env.stored().sites == catalog.sites


def test_prune_forgets_the_sites_of_other_projects(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(site_project(env, "first", "a", "/a", cors=CORS), prune=True)
    catalog.apply(site_project(env, "renamed", "a", "/a"), prune=True)
    assert list(catalog.sites) == ["renamed"] and list(env.stored().sites) == ["renamed"]


def vercel_project(env: Env, name: str, hosts: tuple[str, ...] = ()) -> Project:
    base = site_project(env, name, name, f"/api/{name}", hosts=hosts)
    return dataclasses.replace(base, layout="vercel", routing=VercelRouting(clean_urls=True),
                               static_dir=env.tmp_path / name / "public")


def test_one_vercel_project_per_host_scope_and_its_package_is_kept(env: Env) -> None:
    catalog = env.catalog
    package = env.package(**{"public/index": "<h1>hi</h1>"})
    catalog.apply(vercel_project(env, "site"), package)
    stored = catalog.sites["site"].vercel
    assert stored is not None and stored.code_sha256 == package.sha256 and stored.routing.clean_urls
    assert package.sha256 in catalog.referenced_code()  # its static files: kept by the code store's sweep
    with pytest.raises(errors.ResourceConflict, match="project 'site' is a Vercel project on the default host"):
        catalog.apply(vercel_project(env, "other"))
    assert "other" not in catalog.sites and "other" not in catalog.functions
    catalog.apply(vercel_project(env, "other", hosts=("other.example",)))  # its own host: its own front
    catalog.apply(site_project(env, "plain", "plain", "/plain"))  # a hearth.toml project may share the default
    assert env.stored().sites == catalog.sites
    changes = catalog.apply(dataclasses.replace(vercel_project(env, "site"), routing=VercelRouting()), package)
    assert [c.action for c in changes if c.subject == "vercel.json routing and static files"] == ["updated"]


def test_delete_project_takes_its_site_and_routes_off_the_gateway_but_keeps_its_functions(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(site_project(env, "shop", "shop", "/items", "/cart", hosts=("shop.example",), cors=CORS))
    catalog.apply(site_project(env, "blog", "blog", "/posts"))
    to_shop = RouteSpec("/shop", "shop", site="other")  # another project's route to the shop's function: it stays
    catalog.apply(dataclasses.replace(project(env.tmp_path, fn("other"), routes=(to_shop,)), name="other"))
    env.heard.clear()
    removed = catalog.delete_project("shop")
    assert [route.path for route in removed] == ["/items", "/cart"]
    assert env.heard == [None]  # one batch: the gateway rebuilds once
    assert list(catalog.sites) == ["blog", "other"]
    assert [(route.site, route.path) for route in catalog.routes] == [("blog", "/posts"), ("other", "/shop")]
    assert "shop" in catalog.functions
    stored = env.stored()
    assert (stored.sites, stored.routes, set(stored.functions)) == (catalog.sites, catalog.routes,
                                                                   {"shop", "blog", "other"})
    with pytest.raises(errors.ResourceNotFound, match=r"Project not found: 'shop'; `hearth projects`"):
        catalog.delete_project("shop")
    assert env.heard == [None]


def test_delete_project_without_routes_forgets_its_site(env: Env) -> None:
    env.catalog.apply(site_project(env, "empty", "fn", hosts=("empty.example",)))
    env.catalog.delete_project("empty")
    assert env.catalog.sites == {} and env.stored().sites == {}


def scheduled_project(env: Env, name: str, *schedules: ScheduleSpec) -> Project:
    return dataclasses.replace(site_project(env, name, "job", f"/{name}"), schedules=schedules)


def test_a_projects_schedules_are_named_under_it_and_replace_its_old_ones(env: Env) -> None:
    catalog = env.catalog
    changes = catalog.apply(scheduled_project(env, "ops", ScheduleSpec("job", "rate(5 minutes)", function="job"),
                                              ScheduleSpec("job.1", "rate(1 hour)", function="job")))
    assert sorted(catalog.schedules) == ["ops.job", "ops.job.1"]
    assert catalog.schedules["ops.job"].site == "ops"
    assert [c.action for c in changes if c.subject.startswith("schedule ")] == ["created", "created"]
    changes = catalog.apply(scheduled_project(env, "ops", ScheduleSpec("job", "rate(10 minutes)", function="job")))
    assert {c.subject: c.action for c in changes if c.subject.startswith("schedule ")} == {
        "schedule ops.job.1": "deleted", "schedule ops.job": "updated"}
    catalog.apply(site_project(env, "other", "other", "/other"))  # another project keeps its hands off
    assert sorted(catalog.schedules) == ["ops.job"] and env.stored().schedules == catalog.schedules
    catalog.delete_function("job")
    assert catalog.schedules == {} and env.stored().schedules == {}


def test_deleting_a_project_or_pruning_takes_its_schedules(env: Env) -> None:
    catalog = env.catalog
    catalog.apply(scheduled_project(env, "ops", ScheduleSpec("job", "rate(5 minutes)", function="job")))
    catalog.delete_project("ops")
    assert catalog.schedules == {}
    catalog.apply(scheduled_project(env, "ops", ScheduleSpec("job", "rate(5 minutes)", function="job")))
    catalog.apply(site_project(env, "dev", "dev", "/dev"), prune=True)
    assert catalog.schedules == {} and env.stored().schedules == {}


def triggered_project(env: Env, name: str, *mappings: EventSourceMappingSpec) -> Project:
    return dataclasses.replace(site_project(env, name, "worker", f"/{name}"), event_source_mappings=mappings)


def test_a_projects_queue_triggers_get_stable_uuids_and_replace_its_old_ones(env: Env) -> None:
    catalog = env.catalog
    jobs = EventSourceMappingSpec("", "jobs", "worker", batch_size=5)
    changes = catalog.apply(triggered_project(env, "ops", jobs, EventSourceMappingSpec("", "other", "worker")))
    assert [c.action for c in changes if c.subject.startswith("queue trigger")] == ["created", "created"]
    first = {m.queue: m.uuid for m in catalog.event_source_mappings.values()}
    changes = catalog.apply(triggered_project(env, "ops", dataclasses.replace(jobs, batch_size=7)))
    assert {c.subject: c.action for c in changes if c.subject.startswith("queue trigger")} == {
        "queue trigger other → worker": "deleted", "queue trigger jobs → worker": "updated"}
    [mapping] = catalog.event_source_mappings.values()
    assert (mapping.uuid, mapping.batch_size, mapping.site) == (first["jobs"], 7, "ops")
    assert env.stored().event_source_mappings == catalog.event_source_mappings
    with pytest.raises(errors.InvalidParameterValue, match="Maximum batch window in seconds must be greater"):
        catalog.put_event_source_mapping(dataclasses.replace(mapping, batch_size=100))
    catalog.delete_function("worker")
    assert catalog.event_source_mappings == {} and env.stored().event_source_mappings == {}
