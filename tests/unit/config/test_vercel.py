"""Vercel layouts: ``api/**/*.py`` and ``vercel.json`` become a ``Project`` (functions, routes, routing rules,
static folder, crons); every mistake is one ``ConfigError`` naming the file and key; what Hearth leaves out is
named in one warning."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from hearth.config.manifest import load_project
from hearth.config.vercel import function_name, glob_regex
from hearth.errors import ConfigError
from hearth.gateway.routes import RouteTable
from hearth.model import (
    FunctionSpec,
    HeadersRule,
    LegacyRoute,
    Project,
    RedirectRule,
    RewriteRule,
    RouteCondition,
    RouteSpec,
    ScheduleSpec,
    VercelRouting,
)

HANDLER = "def handler(event, context):\n    return {'statusCode': 200}\n"


def tree(root: Path, files: dict[str, str] | list[str], config: dict[str, Any] | str | None = None) -> Path:
    names = files if isinstance(files, dict) else dict.fromkeys(files, HANDLER)
    for name, text in names.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if config is not None:
        (root / "vercel.json").write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    return root


def load(root: Path, files: dict[str, str] | list[str], config: dict[str, Any] | str | None = None) -> Project:
    return load_project(tree(root, files, config))


def error(root: Path, files: dict[str, str] | list[str], config: dict[str, Any] | str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(root, files, config)
    return caught.value.message


API = ["api/index.py", "api/user.py", "api/get-user.py", "api/users/[id].py", "api/users/[id]/posts.py",
       "api/users/me.py", "api/docs/[...slug].py", "api/files/[[...path]].py", "api/teams/index.py",
       "api/_lib/db.py", "api/_helper.py", "api/.secret.py", "api/node_modules/dep/x.py", "api/data.json",
       "lib/shared.py", "index.html"]


def test_every_python_file_under_api_is_a_function_at_its_path(tmp_path: Path) -> None:
    project = load(tmp_path, API)
    root = tmp_path.resolve()
    assert project.layout == "vercel"
    assert project.manifest == root / "vercel.json"
    assert project.static_dir == root  # no public/: the project root, as Vercel does
    assert {name: spec.handler for name, spec in project.functions.items()} == {
        "api-index": "api/index.py",
        "api-user": "api/user.py",
        "api-get--user": "api/get-user.py",
        "api-users-_id": "api/users/[id].py",
        "api-users-_id-posts": "api/users/[id]/posts.py",
        "api-users-me": "api/users/me.py",
        "api-docs-__slug": "api/docs/[...slug].py",
        "api-files-___path": "api/files/[[...path]].py",
        "api-teams-index": "api/teams/index.py",
    }
    assert project.functions["api-user"] == FunctionSpec(name="api-user", handler="api/user.py", code_dir=root,
                                                          runtime="python", memory_mb=1024, timeout_s=10)
    # static paths first, then dynamic ones (more static segments first), catch-alls last
    assert [(route.path, route.function) for route in project.routes] == [
        ("/api", "api-index"),
        ("/api/files", "api-files-___path"),  # an optional catch-all answers its folder too
        ("/api/get-user", "api-get--user"),
        ("/api/teams", "api-teams-index"),
        ("/api/user", "api-user"),
        ("/api/users/me", "api-users-me"),
        ("/api/users/{id}/posts", "api-users-_id-posts"),
        ("/api/users/{id}", "api-users-_id"),
        ("/api/docs/{slug+}", "api-docs-__slug"),
        ("/api/files/{path+}", "api-files-___path"),
    ]
    assert all(route.methods is None for route in project.routes)


@pytest.mark.parametrize(("path", "function", "params"), [
    ("/api", "api-index", {}),
    ("/api/", "api-index", {}),
    ("/api/users/me", "api-users-me", {}),  # static before dynamic
    ("/api/users/42", "api-users-_id", {"id": "42"}),
    ("/api/users/42/posts", "api-users-_id-posts", {"id": "42"}),
    ("/api/docs/a/b/c", "api-docs-__slug", {"slug": "a/b/c"}),
    ("/api/files", "api-files-___path", {}),
    ("/api/files/x/y", "api-files-___path", {"path": "x/y"}),
])
def test_the_route_table_serves_them_with_vercels_precedence(tmp_path: Path, path: str, function: str,
                                                            params: dict[str, str]) -> None:
    match = RouteTable(load(tmp_path, API).routes).match("GET", path)
    assert match is not None and (match.route.function, match.params) == (function, params)
    assert RouteTable(load(tmp_path, API).routes).match("GET", "/api/docs") is None  # a catch-all needs one segment


def hashed(prefix: str, relative: str) -> str:
    return f"{prefix}-{hashlib.sha256(relative.encode()).hexdigest()[:8]}"


@pytest.mark.parametrize(("relative", "name"), [
    ("api/index.py", "api-index"),
    ("api/users/[id].py", "api-users-_id"),
    ("api/get-user.py", "api-get--user"),
    ("api/get_user.py", "api-get_user"),
    ("api/[org]/[repo]/[...path].py", "api-_org-_repo-__path"),
    ("api/a/[[...rest]].py", "api-a-___rest"),
    # what the readable form cannot spell gets 8 hex digits of the path's SHA-256
    ("api/hello world.py", hashed("api-hello-world", "api/hello world.py")),
    ("api/café.py", hashed("api-caf", "api/café.py")),
    ("api/-x.py", hashed("api-x", "api/-x.py")),
    ("api/x-.py", hashed("api-x", "api/x-.py")),
    ("api/[_id].py", hashed("api-_id", "api/[_id].py")),  # "__id" would read as a catch-all
    ("api/" + "y" * 70 + ".py", hashed("api-" + "y" * 51, "api/" + "y" * 70 + ".py")),
])
def test_function_names_are_valid_stable_and_readable(relative: str, name: str) -> None:
    assert function_name(relative) == name
    assert len(name) <= 64


def test_function_names_never_collide_for_different_paths() -> None:
    paths = ["api/a-b.py", "api/a/b.py", "api/a_b.py", "api/[a]/b.py", "api/_a/b.py", "api/a--b.py", "api/a/-b.py",
             "api/a/[...b].py", "api/a/[[...b]].py", "api/a/[b].py", "api/" + "x" * 70 + ".py",
             "api/" + "x" * 71 + ".py"]
    names = [function_name(path) for path in paths]
    assert len(set(names)) == len(names)
    assert all(len(name) <= 64 for name in names)


def test_functions_config_sets_memory_and_duration_first_match_wins(tmp_path: Path) -> None:
    project = load(tmp_path, ["api/a.py", "api/slow/b.py", "api/slow/c.py"], {"functions": {
        "api/slow/c.py": {"memory": 3008},
        "api/slow/*.py": {"maxDuration": 60, "memory": 512},
        "api/**/*.py": {"maxDuration": 30, "includeFiles": "data/**"},
    }})
    assert [(spec.memory_mb, spec.timeout_s) for spec in project.functions.values()] == [
        (1024, 30), (512, 60), (3008, 10)]


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("api/*.py", "api/a.py", True),
    ("api/*.py", "api/x/a.py", False),
    ("api/**/*.py", "api/a.py", True),
    ("api/**/*.py", "api/x/y/a.py", True),
    ("api/{a,b}.py", "api/b.py", True),
    ("api/{a,b}.py", "api/c.py", False),
    ("api/[ab].py", "api/a.py", True),
    ("api/[!ab].py", "api/a.py", False),
    ("api/?.py", "api/a.py", True),
    ("api/users/[id].py", "api/users/[id].py", False),  # a class, as minimatch reads it; exact names match anyway
])
def test_function_globs(pattern: str, path: str, matches: bool) -> None:
    assert (glob_regex(pattern).fullmatch(path) is not None) is matches


@pytest.mark.parametrize(("functions", "message"), [
    ({"api/nothing.py": {"memory": 512}}, 'functions.api/nothing.py: matches no Python file under api/'),
    ({"api/*.py": {"memory": 64}}, "functions.api/*.py.memory: must be a whole number of MB from 128 to 10240, "
                                   "got 64"),
    ({"api/*.py": {"maxDuration": 1.5}}, "functions.api/*.py.maxDuration: must be a whole number of seconds from 1 "
                                         "to 900, got 1.5"),
    ({"api/*.py": {"maxDuration": 901}}, "maxDuration: must be a whole number of seconds from 1 to 900, got 901"),
    ({"api/*.py": {}}, "functions.api/*.py: must be an object with at least one property"),
    ({"/api/*.py": {"memory": 512}}, "functions./api/*.py: a pattern names files relative to the project folder"),
    ({"api/*.py": {"includeFiles": ["a"]}}, "functions.api/*.py.includeFiles: must be a glob pattern string"),
    ({"api/{a.py": {"memory": 512}}, "must close with '}'"),
    ([], "functions: must be an object of glob patterns"),
])
def test_bad_functions_config(tmp_path: Path, functions: Any, message: str) -> None:
    assert message in error(tmp_path, ["api/a.py"], {"functions": functions})


def test_every_vercel_json_key_is_read(tmp_path: Path) -> None:
    project = load(tmp_path, ["api/a.py", "public/index.html"], {
        "$schema": "https://openapi.vercel.sh/vercel.json",
        "cleanUrls": True,
        "trailingSlash": False,
        "public": True,
        "env": {"GREETING": "hi"},
        "redirects": [
            {"source": "/old", "destination": "/new"},
            {"source": "/tmp", "destination": "/x", "permanent": False},
            {"source": "/gone/:p*", "destination": "https://e.com/:p*", "statusCode": 301,
             "has": [{"type": "query", "key": "v", "value": "(?<version>\\d+)"}],
             "missing": [{"type": "cookie", "key": "keep"}]},
        ],
        "rewrites": [
            {"source": "/u/:id", "destination": "/api/a?id=:id", "statusCode": 203,
             "has": [{"type": "host", "value": "(?<sub>.*)\\.example\\.com"}]},
        ],
        "headers": [
            {"source": "/(.*)", "headers": [{"key": "X-Frame-Options", "value": "DENY"},
                                            {"key": "Cache-Control", "value": "no-store"}],
             "has": [{"type": "header", "key": "X-Debug"}]},
        ],
        "crons": [{"path": "/api/a", "schedule": "0 5 * * *"}, {"path": "/api/a?x=1", "schedule": "*/10 * * * 1-5"}],
    })
    assert project.routing == VercelRouting(
        redirects=(
            RedirectRule("/old", "/new", 308),
            RedirectRule("/tmp", "/x", 307),
            RedirectRule("/gone/:p*", "https://e.com/:p*", 301, has=(RouteCondition("query", "v", "(?<version>\\d+)"),),
                         missing=(RouteCondition("cookie", "keep"),)),
        ),
        rewrites=(RewriteRule("/u/:id", "/api/a?id=:id",
                              has=(RouteCondition("host", "", "(?<sub>.*)\\.example\\.com"),), status=203),),
        headers=(HeadersRule("/(.*)", (("X-Frame-Options", "DENY"), ("Cache-Control", "no-store")),
                             has=(RouteCondition("header", "x-debug"),)),),
        clean_urls=True,
        trailing_slash=False,
    )
    assert project.schedules == (ScheduleSpec("cron.0", "0 5 * * *", path="/api/a"),
                                 ScheduleSpec("cron.1", "*/10 * * * 1-5", path="/api/a?x=1"))
    assert project.static_dir == tmp_path.resolve() / "public"
    assert project.functions["api-a"].env == {"GREETING": "hi"}


def test_legacy_routes_are_read_with_their_phases(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    project = load(tmp_path, ["api/main.py"], {"routes": [
        {"src": "/(.*)", "headers": {"X-A": "1"}, "continue": True},
        {"source": "/old", "status": 308, "headers": {"Location": "/new"}},
        {"src": "/form", "methods": ["post", "PUT"], "dest": "/api/main.py", "check": True, "caseSensitive": True},
        {"handle": "filesystem"},
        {"src": "/(.*)", "destination": "/api/main.py", "statusCode": 200,
         "has": [{"type": "cookie", "key": "s", "value": "1"}]},
        {"handle": "error"},
        {"src": "/.*", "dest": "/404.html", "status": 404},
    ]})
    assert project.routing.routes == (
        LegacyRoute(src="/(.*)", headers=(("X-A", "1"),), continue_=True),
        LegacyRoute(src="/old", status=308, headers=(("Location", "/new"),)),
        LegacyRoute(src="/form", dest="/api/main.py", methods=frozenset({"POST", "PUT"}), check=True,
                    case_sensitive=True),
        LegacyRoute(handle="filesystem"),
        LegacyRoute(src="/(.*)", dest="/api/main.py", status=200, has=(RouteCondition("cookie", "s", "1"),)),
    )
    assert "routes[6] (in the 'error' phase, which Hearth does not run)" in caplog.text


BAD_CONFIGS = [
    ({"rewrites": {}}, "vercel.json: rewrites: must be an array"),
    ({"rewrites": [{"destination": "/x"}]}, "rewrites[0].source: required: a string"),
    ({"rewrites": [{"source": "/x"}]}, "rewrites[0].destination: required: a string"),
    ({"rewrites": [{"source": "/blog/*", "destination": "/x"}]}, "rewrites[0].source: unexpected '*' at position 6"),
    ({"rewrites": [{"source": "x", "destination": "/x"}]}, 'rewrites[0].source: a source is a path starting with "/"'),
    ({"rewrites": [{"source": "/a/:id", "destination": "/b/:slug"}]},
     "rewrites[0].destination: uses :slug, which neither the source nor has defines"),
    ({"rewrites": [{"source": "/a", "destination": "/b", "statusCode": "404"}]},
     "rewrites[0].statusCode: must be a status code from 100 to 999"),
    ({"rewrites": ["/a"]}, "rewrites[0]: must be an object"),
    ({"redirects": [{"source": "/a", "destination": "/b", "permanent": True, "statusCode": 301}]},
     "redirects[0]: give permanent or statusCode, not both"),
    ({"redirects": [{"source": "/a", "destination": "/b", "permanent": "yes"}]},
     "redirects[0].permanent: must be true (308) or false (307)"),
    ({"redirects": [{"source": "/a", "destination": "/b", "statusCode": 200}]},
     "redirects[0].statusCode: must be a status code from 300 to 399, got 200"),
    ({"redirects": [{"source": "/a", "destination": "/b", "has": [{"type": "body", "key": "x"}]}]},
     "redirects[0].has[0].type: must be one of header, cookie, query, host, got 'body'"),
    ({"redirects": [{"source": "/a", "destination": "/b", "has": [{"type": "header"}]}]},
     "redirects[0].has[0].key: required"),
    ({"redirects": [{"source": "/a", "destination": "/b", "has": [{"type": "host"}]}]},
     "redirects[0].has[0].value: required for a host condition"),
    ({"redirects": [{"source": "/a", "destination": "/b", "has": [{"type": "query", "key": "q", "value": "(x"}]}]},
     "redirects[0].has[0].value: not a valid regular expression"),
    ({"redirects": [{"source": "/a", "destination": "/b", "missing": [{"type": "query", "key": "q",
                                                                       "value": {"eq": "1"}}]}]},
     "redirects[0].missing[0].value: condition objects (eq, pre, inc, …) are not supported"),
    ({"redirects": [{"source": "/a", "destination": "/b", "has": {}}]}, "redirects[0].has: must be an array"),
    ({"headers": [{"source": "/a"}]}, "headers[0].headers: required: an array"),
    ({"headers": [{"source": "/a", "headers": [{"key": "Bad Name", "value": "1"}]}]},
     "headers[0].headers[0]: 'Bad Name' is not an HTTP header name"),
    ({"headers": [{"source": "/a", "headers": [{"key": "Content-Length", "value": "1"}]}]},
     "headers[0].headers[0]: 'Content-Length' frames the HTTP message"),
    ({"headers": [{"source": "/a", "headers": [{"key": "X-A", "value": "line\nbreak"}]}]},
     "a character HTTP cannot carry"),
    ({"headers": [{"source": "/a", "headers": [{"key": "X-A"}]}]}, 'needs a string "key" and a string "value"'),
    ({"routes": [{"dest": "/x"}]}, "routes[0].src: required: a regular expression"),
    ({"routes": [{"src": "/(x"}]}, "routes[0].src: not a valid regular expression"),
    ({"routes": [{"src": "/a", "source": "/b"}]}, "routes[0]: give src or source, not both"),
    ({"routes": [{"src": "/a", "methods": ["FETCH"]}]}, "routes[0].methods: unknown method 'FETCH'"),
    ({"routes": [{"src": "/a", "continue": "yes"}]}, "routes[0].continue: must be true or false"),
    ({"routes": [{"src": "/a", "headers": {"X": 1}}]}, "routes[0].headers: must be an object of strings"),
    ({"routes": [{"handle": "filesystem"}, {"handle": "filesystem"}]}, "routes[1]: handle 'filesystem' appears twice"),
    ({"routes": [{"handle": "later"}]}, "routes[0]: a handle route is only"),
    ({"routes": [{"src": "/a"}], "rewrites": []}, "routes: cannot be used with rewrites (Vercel refuses the mix)"),
    ({"cleanUrls": "yes"}, "cleanUrls: must be true or false"),
    ({"trailingSlash": 1}, "trailingSlash: must be true or false"),
    ({"public": "no"}, "public: must be true or false"),
    ({"env": {"1X": "y"}}, "env: invalid variable name '1X'"),
    ({"env": {"X": 1}}, "env: must be an object of strings"),
    ({"crons": [{"path": "api/a", "schedule": "* * * * *"}]}, "crons[0].path: must be a path starting with"),
    ({"crons": [{"path": "/api/a", "schedule": "every day"}]}, "crons[0].schedule: must be a cron expression of five"),
    ({"crons": [{"path": "/api/a", "schedule": "0 5 31 2 *"}]}, "crons[0].schedule: schedule '0 5 31 2 *': "),
    ({"outputDirectory": "dist"}, "outputDirectory: 'dist' is not a folder"),
    ({"outputDirectory": "../elsewhere"}, "outputDirectory: '../elsewhere' is outside the project folder"),
    ([1, 2], "vercel.json: (top level): must be a JSON object"),
]


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS)
def test_bad_vercel_json_names_the_file_and_key(tmp_path: Path, config: Any, message: str) -> None:
    text = error(tmp_path, ["api/a.py"], config)
    assert text.startswith(str(tmp_path.resolve() / "vercel.json") + ": ")
    assert message in text


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    text = error(tmp_path, ["api/a.py"], '{\n  "cleanUrls": true,\n}\n')
    assert text.startswith(f"{tmp_path.resolve() / 'vercel.json'}:3: not valid JSON: ")


@pytest.mark.parametrize(("files", "message"), [
    (["api/users.py", "api/users/index.py"], "api/users/index.py: answers the same paths as api/users.py"),
    (["api/docs.py", "api/docs/[[...slug]].py"], "answers the same paths as api/docs.py (/api/docs)"),
    (["api/[a]/x.py", "api/[b]/y.py"], "names a path segment [b] where api/[a]/x.py names it [a]"),
    (["api/[id]/[id].py"], "parameter 'id' appears twice in the path"),
    (["api/[...all]/x.py"], "'[...all]' takes the rest of the path, so it must be the file name"),
    (["api/[user-id].py"], "parameter '[user-id]': a name is letters, digits and '_'"),
    (["api/a[b].py"], "segment 'a[b]': brackets make a parameter only as a whole name"),
])
def test_conflicting_or_bad_function_paths(tmp_path: Path, files: list[str], message: str) -> None:
    assert message in error(tmp_path, files)


def test_a_catch_all_beside_a_parameter_is_not_a_conflict(tmp_path: Path) -> None:
    project = load(tmp_path, ["api/users/[id].py", "api/users/[...rest].py"])
    assert [route.path for route in project.routes] == ["/api/users/{id}", "/api/users/{rest+}"]


def test_unsupported_keys_are_named_in_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hearth.config"):
        load(tmp_path, ["api/a.py", "api/b.js", "api/types.d.ts", "api/_skip.js"], {
            "builds": [{"src": "api/a.py", "use": "@vercel/python"}],
            "regions": ["iad1"],
            "rewrites": [{"source": "/x", "destination": "/api/a", "env": ["A"]},
                         {"source": "/ext/:p*", "destination": "https://api.example.com/:p*"}],
            "functions": {"api/*.py": {"runtime": "vercel-python@1.0.0", "excludeFiles": "tests/**"}},
        })
    records = [record for record in caplog.records if record.name == "hearth.config"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert message.startswith(f"{tmp_path.resolve() / 'vercel.json'}: not supported by Hearth and ignored: ")
    for item in ("builds", "regions", "rewrites[0].env", "functions.api/*.py.runtime",
                 "functions.api/*.py.excludeFiles (list the files in .hearthignore instead)",
                 "api/b.js (only Python functions run on Hearth)"):
        assert item in message
    assert "types.d.ts" not in message and "_skip" not in message
    assert "rewrites[1]" not in message  # a rewrite to another origin is proxied


def test_a_clean_project_warns_about_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    load(tmp_path, ["api/a.py"], {"$schema": "https://openapi.vercel.sh/vercel.json", "cleanUrls": True})
    assert not [record for record in caplog.records if record.name == "hearth.config"]


def test_static_folder(tmp_path: Path) -> None:
    assert load(tmp_path / "a", ["api/x.py", "public/index.html"]).static_dir == (tmp_path / "a/public").resolve()
    assert load(tmp_path / "b", ["api/x.py", "index.html"]).static_dir == (tmp_path / "b").resolve()
    assert load(tmp_path / "c", ["api/x.py", "public/i.html", "dist/index.html"],
                {"outputDirectory": "dist"}).static_dir == (tmp_path / "c/dist").resolve()


def test_dispatch_hearth_toml_wins_then_the_vercel_layout(tmp_path: Path) -> None:
    tree(tmp_path, ["api/a.py"], {"cleanUrls": True})
    assert load_project(tmp_path).layout == "vercel"
    (tmp_path / "app.py").write_text(HANDLER)
    (tmp_path / "hearth.toml").write_text('[functions.app]\nhandler = "app.handler"\n')
    project = load_project(tmp_path)
    assert project.layout == "hearth" and list(project.functions) == ["app"] and project.routing == VercelRouting()


def test_a_vercel_json_alone_is_a_static_project(tmp_path: Path) -> None:
    project = load(tmp_path, {"index.html": "hi"}, {"trailingSlash": True})
    assert project.functions == {} and project.routes == () and project.routing.trailing_slash is True


def test_an_api_folder_alone_is_enough(tmp_path: Path) -> None:
    project = load(tmp_path, ["api/hello.py"])
    assert project.routes == (RouteSpec("/api/hello", "api-hello", site=tmp_path.name),) and project.routing.empty
    assert project.name == tmp_path.name


def test_a_hearth_toml_beside_api_places_the_project_and_holds_nothing_else(tmp_path: Path) -> None:
    root = tree(tmp_path / "site", ["api/hello.py"])
    (root / "hearth.toml").write_text('[gateway]\nname = "web"\nhosts = ["WWW.example.com", "*.example.org"]\n')
    project = load_project(root)
    assert (project.layout, project.name, project.hosts) == ("vercel", "web", ("www.example.com", "*.example.org"))
    assert [route.site for route in project.routes] == ["web"]
    (root / "hearth.toml").write_text('[gateway]\nhosts = ["a.test"]\n')
    assert load_project(root).name == "site"  # no name given: the folder's
    (root / "hearth.toml").write_text('[gateway]\nprefix = "/v1"\n')
    with pytest.raises(ConfigError, match=r"hearth.toml:2: gateway.prefix: a Vercel project's paths are its files'"):
        load_project(root)
    (root / "hearth.toml").write_text('[gateway]\nhosts = ["a.test"]\n\n[[headers]]\nsource = "/x"\n')
    with pytest.raises(ConfigError, match=r"hearth.toml:4: headers: beside api/ and vercel.json, hearth.toml may "):
        load_project(root)
    (root / "hearth.toml").write_text('[functions.hello]\nhandler = "app.handler"\n')
    assert load_project(root).layout == "hearth"  # functions of its own: a hearth.toml project with an api/ folder
