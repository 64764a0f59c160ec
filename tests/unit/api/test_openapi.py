"""The control API's OpenAPI description is made from its route table."""

from __future__ import annotations

import re
from typing import Any

from hearth.api import openapi


class Route:
    def __init__(self, method: str, pattern: str, operation: Any, public: bool = False) -> None:
        self.method = method
        self.pattern = re.compile("^" + pattern + "/?$")
        self.operation = operation
        self.max_body = 1024
        self.public = public


async def invoke() -> None:
    """Invoke a function."""


async def logs() -> None:
    """Query the log store."""


async def health() -> None:
    """Readiness."""


async def call() -> None:
    """The SQS JSON protocol."""


def test_paths_parameters_and_bodies_come_from_the_routes() -> None:
    document = openapi.describe([
        Route("POST", "/2015-03-31/functions/(?P<name>[^/]+)/invocations", invoke),
        Route("GET", "/hearth/logs", logs),
        Route("GET", "/hearth/health", health, public=True),
        Route("POST", "/2015-03-31/event-source-mappings/?", logs),
        Route("POST", "", call),
    ], "9.9")
    assert document["openapi"] == "3.0.3" and document["info"]["version"] == "9.9"
    assert sorted(document["paths"]) == [  # the SQS route ("/") is left out
        "/2015-03-31/event-source-mappings", "/2015-03-31/functions/{name}/invocations", "/hearth/health",
        "/hearth/logs"]
    post = document["paths"]["/2015-03-31/functions/{name}/invocations"]["post"]
    assert post["operationId"] == "invoke" and post["summary"] == "Invoke a function."
    assert post["parameters"][0] == {"name": "name", "in": "path", "required": True,
                                     "schema": {"type": "string", "minLength": 1}}
    assert {"name": "Qualifier", "in": "query", "required": False, "schema": {"type": "string"}} in post["parameters"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {}
    assert "security" not in post and document["paths"]["/hearth/health"]["get"]["security"] == []
    names = [parameter["name"] for parameter in document["paths"]["/hearth/logs"]["get"]["parameters"]]
    assert "follow" in names and "function" in names
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


def test_a_pattern_that_is_not_a_plain_path_is_not_described() -> None:
    assert openapi.template("^/a/(?P<name>[^/]+)/b/?$") == "/a/{name}/b"
    assert openapi.template("^/a/(x|y)/?$") is None
    assert openapi.template("^/?$") is None
