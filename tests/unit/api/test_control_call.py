"""``ControlApi.call``: one operation of the route table run in-process (what the dashboard reads and acts through),
with the API's own validation; and the mount of the dashboard under ``/dashboard``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hearth import errors
from hearth.api.app import ControlApi
from hearth.catalog import Catalog
from hearth.config.settings import Settings
from hearth.model import AliasSpec, FunctionSpec
from hearth.platform import Platform
from hearth.store import SqliteStore
from hearth.store.code import CodeStore


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ControlApi]:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text("def main(event, context):\n    return 1\n")
    catalog = Catalog(SqliteStore.memory(), CodeStore(tmp_path / "code"), concurrency_limit=10)
    catalog.create_function(FunctionSpec("fn", "app.main", code))
    catalog.publish_version("fn")
    catalog.update_function(FunctionSpec("fn", "app.main", code, memory_mb=256))
    catalog.publish_version("fn")
    catalog.put_alias(AliasSpec("fn", "live", "1"), create=True)
    platform = Platform(catalog, Settings())
    yield ControlApi(platform, None)
    asyncio.run(platform.close())


def test_an_operation_runs_in_process_and_answers_as_over_http(api: ControlApi) -> None:
    answer = asyncio.run(api.call("GET", "/2015-03-31/functions", {"MaxItems": "10"}))
    assert answer.status == 200
    assert [item["FunctionName"] for item in orjson.loads(answer.body)["Functions"]] == ["fn"]


def test_an_alias_update_gets_update_alias_validation(api: ControlApi) -> None:
    body = orjson.dumps({"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}})
    answer = asyncio.run(api.call("PUT", "/2015-03-31/functions/fn/aliases/live", None, body))
    assert orjson.loads(answer.body)["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert dict(api.platform.catalog.alias("fn", "live").weights) == {"2": 0.25}
    for weights in ({"2": 1.5}, {"9": 0.5}):
        with pytest.raises(errors.HearthError):
            asyncio.run(api.call("PUT", "/2015-03-31/functions/fn/aliases/live", None,
                                 orjson.dumps({"RoutingConfig": {"AdditionalVersionWeights": weights}})))
    assert dict(api.platform.catalog.alias("fn", "live").weights) == {"2": 0.25}
    with pytest.raises(errors.ResourceConflict):  # a stale RevisionId: someone changed it since the page was made
        asyncio.run(api.call("PUT", "/2015-03-31/functions/fn/aliases/live", None,
                             orjson.dumps({"RoutingConfig": {}, "RevisionId": "stale"})))


def test_errors_are_raised_not_rendered(api: ControlApi) -> None:
    with pytest.raises(errors.ResourceNotFound):
        asyncio.run(api.call("GET", "/nowhere"))
    with pytest.raises(errors.RequestTooLarge):
        asyncio.run(api.call("PUT", "/hearth/secrets/NAME", None, b"x" * (2 * 1024 * 1024)))


def asgi_get(api: ControlApi, path: str) -> tuple[int, dict[str, str]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"127.0.0.1")], "scheme": "http"}
    asyncio.run(api(scope, receive, send))
    return sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}


def test_the_dashboard_is_mounted_under_its_prefix_only(api: ControlApi) -> None:
    status, headers = asgi_get(api, "/dashboard")
    assert status == 308 and headers["location"] == "/dashboard/"
    status, headers = asgi_get(api, "/dashboard/static/dashboard.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    status, headers = asgi_get(api, "/dashboards")  # not the dashboard: the API's own 404
    assert status == 404 and headers["x-amzn-errortype"] == "ResourceNotFoundException"
