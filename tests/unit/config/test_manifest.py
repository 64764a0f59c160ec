"""``load_project``: a hearth.toml becomes a ``Project``; every mistake becomes one precise ``ConfigError``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hearth.config.manifest import load_project
from hearth.errors import ConfigError
from hearth.model import (
    AliasSpec,
    CorsSpec,
    EventInvokeConfig,
    FunctionSpec,
    HeaderRule,
    Project,
    ResponseHeaders,
    RouteAuth,
    RouteSpec,
    function_arn,
)

MINIMAL = '[functions.hello]\nhandler = "app.main"\n'


def write(root: Path, text: str) -> Path:
    manifest = root / "hearth.toml"
    manifest.write_text(text, encoding="utf-8")
    return manifest


def load(root: Path, text: str) -> Project:
    write(root, text)
    return load_project(root)


def config_error(root: Path, text: str) -> str:
    write(root, text)
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    return caught.value.message


def test_every_key_of_a_full_manifest_is_read(tmp_path: Path) -> None:
    project = load(tmp_path, """\
[functions.hello]
handler = "app.main"
memory_mb = 512
timeout_s = 30
concurrency = 4
idle_timeout_s = 60
env = { GREETING = "hi", LEVEL = "debug" }

[functions.files]
handler = "pkg.files.serve"

[[routes]]
path = "/hello/{name}"
methods = ["GET", "post"]
function = "hello"

[[routes]]
path = "/static/{proxy+}"
function = "files"
""")
    assert project.root == tmp_path.resolve()
    assert project.manifest == tmp_path.resolve() / "hearth.toml"
    assert project.functions["hello"] == FunctionSpec(
        name="hello", handler="app.main", code_dir=tmp_path.resolve(), runtime="python", memory_mb=512,
        timeout_s=30.0, concurrency=4, idle_timeout_s=60.0, env={"GREETING": "hi", "LEVEL": "debug"},
    )
    assert project.functions["files"].handler == "pkg.files.serve"
    site = tmp_path.name  # the project's name: its folder's
    assert project.name == site and project.hosts == () and project.prefix == ""
    assert project.routes == (
        RouteSpec(path="/hello/{name}", function="hello", methods=frozenset({"GET", "POST"}), site=site),
        RouteSpec(path="/static/{proxy+}", function="files", methods=None, site=site),
    )


def test_omitted_keys_take_lambda_defaults(tmp_path: Path) -> None:
    spec = load(tmp_path, MINIMAL).functions["hello"]
    assert spec.memory_mb == 128
    assert spec.timeout_s == 3
    assert spec.idle_timeout_s == 300
    assert spec.concurrency is None
    assert spec.env == {}
    assert spec.runtime == "python"


def test_a_manifest_without_routes_has_none(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL).routes == ()


@pytest.mark.parametrize("methods", ['["ANY"]', '["*"]', '["GET", "any"]'])
def test_any_method_means_every_method(tmp_path: Path, methods: str) -> None:
    project = load(tmp_path, MINIMAL + f'\n[[routes]]\npath = "/x"\nmethods = {methods}\nfunction = "hello"\n')
    assert project.routes[0].methods is None


def test_concurrency_zero_is_allowed(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL + "concurrency = 0\n").functions["hello"].concurrency == 0


def test_bounds_are_inclusive(tmp_path: Path) -> None:
    spec = load(tmp_path, MINIMAL + "memory_mb = 10240\ntimeout_s = 900\n").functions["hello"]
    assert (spec.memory_mb, spec.timeout_s) == (10240, 900)
    spec = load(tmp_path, MINIMAL + "memory_mb = 128\ntimeout_s = 1\n").functions["hello"]
    assert (spec.memory_mb, spec.timeout_s) == (128, 1)


# -- errors: each names the file, the line where the key is written, the key, and what is allowed ------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, 'name = "demo"\n\n' + MINIMAL)
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:1: name: unknown key")
    assert "allowed top-level keys: cors, functions, gateway, headers, queues, routes" in message


def test_unknown_top_level_table_names_its_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, '# demo\n[fucntions.hello]\nhandler = "app.main"\n')
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:2: fucntions")


def test_unknown_function_key_names_its_line_and_the_allowed_keys(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "\nmemroy_mb = 256\n")
    assert message == (
        f"{tmp_path.resolve() / 'hearth.toml'}:4: functions.hello.memroy_mb: unknown key; "
        "allowed: aliases, async, concurrency, dead_letter_queue, description, env, handler, idle_timeout_s, "
        "include, isolation, keep_alive, memory_mb, network, price, queues, runtime, schedule, schedules, secrets, "
        "secrets_as_files, timeout_s"
    )


def test_the_line_is_found_inside_the_right_function_table(tmp_path: Path) -> None:
    message = config_error(tmp_path, """\
[functions.first]
handler = "app.first"
memory_mb = 256

[functions.second]
handler = "app.second"
memory_mb = 64
""")
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:7: functions.second.memory_mb:")


@pytest.mark.parametrize("value", ["127", "10241", "0", "-1"])
def test_memory_out_of_range(tmp_path: Path, value: str) -> None:
    message = config_error(tmp_path, MINIMAL + f"memory_mb = {value}\n")
    assert message == (f"{tmp_path.resolve() / 'hearth.toml'}:3: functions.hello.memory_mb: "
                       f"must be a whole number from 128 to 10240, got {value}")


def test_memory_must_be_whole(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "memory_mb = 256.5\n")
    assert "hearth.toml:3: functions.hello.memory_mb: must be a whole number from 128 to 10240, got 256.5" in message


@pytest.mark.parametrize("value", ["0", "0.5", "901", "1000"])
def test_timeout_out_of_range(tmp_path: Path, value: str) -> None:
    message = config_error(tmp_path, MINIMAL + f"timeout_s = {value}\n")
    assert message == (f"{tmp_path.resolve() / 'hearth.toml'}:3: functions.hello.timeout_s: "
                       f"must be a number from 1 to 900, got {value}")


@pytest.mark.parametrize("key", ["memory_mb", "timeout_s", "concurrency", "idle_timeout_s"])
def test_a_bool_is_not_a_number(tmp_path: Path, key: str) -> None:
    message = config_error(tmp_path, MINIMAL + f"{key} = true\n")
    assert f"hearth.toml:3: functions.hello.{key}: must be a " in message
    assert message.endswith("got True")


def test_negative_concurrency(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "concurrency = -1\n")
    assert "hearth.toml:3: functions.hello.concurrency: must be a whole number from 0 to 100000, got -1" in message


def test_missing_handler(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[functions.hello]\nmemory_mb = 256\n")
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}: functions.hello.handler: required")
    assert '"module.function"' in message


@pytest.mark.parametrize("handler", ['"main"', '"app."', '"app-x.main"', '"1app.main"', '"app.main()"', "3"])
def test_malformed_handler(tmp_path: Path, handler: str) -> None:
    message = config_error(tmp_path, f"[functions.hello]\nhandler = {handler}\n")
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:2: functions.hello.handler: use ")
    assert '"module.function"' in message


def test_unknown_runtime(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + 'runtime = "node"\n')
    expected = ("hearth.toml:3: functions.hello.runtime: unknown runtime 'node'; "
                "allowed: \"python\" (or \"python3.X\"), \"provided\"")
    assert expected in message


def test_bad_function_name(tmp_path: Path) -> None:
    message = config_error(tmp_path, '\n[functions."hello world"]\nhandler = "app.main"\n')
    assert 'functions.hello world: function names use letters, digits' in message


def test_no_functions(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[routes]]\npath = "/"\nfunction = "x"\n')
    assert message == f"{tmp_path.resolve() / 'hearth.toml'}: functions: declare at least one function as a " \
                      "[functions.NAME] table"


def test_env_value_must_be_a_string(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "env = { PORT = 8080 }\n")
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:3: functions.hello.env: "
                              "must be a table of strings")


def test_env_variable_name_must_be_an_identifier(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + 'env = { "MY-VAR" = "x" }\n')
    assert "hearth.toml:3: functions.hello.env: invalid variable name 'MY-VAR'" in message


ROUTE_HEAD = MINIMAL + "\n[[routes]]\n"  # [[routes]] is line 4; its keys start at line 5


def test_route_naming_an_unknown_function(tmp_path: Path) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + 'path = "/x"\nfunction = "helo"\n')
    assert "routes[0].function: unknown function 'helo'; declared functions: hello" in message
    assert message.startswith(str(tmp_path.resolve() / "hearth.toml"))


def test_route_with_a_bad_method(tmp_path: Path) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + 'path = "/x"\nmethods = ["GTE"]\nfunction = "hello"\n')
    assert "routes[0].methods: unknown method 'GTE'; allowed: DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT" in message


@pytest.mark.parametrize("methods", ["[]", '"GET"', "[1]"])
def test_route_methods_must_be_a_list_of_names(tmp_path: Path, methods: str) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + f'path = "/x"\nmethods = {methods}\nfunction = "hello"\n')
    assert 'routes[0].methods: must be a non-empty list such as ["GET", "POST"]' in message


def test_greedy_parameter_must_be_last(tmp_path: Path) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + 'path = "/files/{proxy+}/meta"\nfunction = "hello"\n')
    assert "routes[0].path: greedy parameter '{proxy+}' must be the last segment" in message


@pytest.mark.parametrize("segment", ["{a}b", "a{b}", "{a", "b}", "{}", "{1a}", "{a-b}"])
def test_a_parameter_fills_a_whole_segment(tmp_path: Path, segment: str) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + f'path = "/x/{segment}"\nfunction = "hello"\n')
    assert f"routes[0].path: bad segment {segment!r}: a parameter fills a whole segment, like {{name}}" in message


def test_a_parameter_may_appear_once(tmp_path: Path) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + 'path = "/{id}/x/{id}"\nfunction = "hello"\n')
    assert "routes[0].path: parameter 'id' appears twice" in message


@pytest.mark.parametrize("path", ['"hello"', "7"])
def test_route_path_must_start_with_a_slash(tmp_path: Path, path: str) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + f'path = {path}\nfunction = "hello"\n')
    assert 'routes[0].path: required: a path starting with "/"' in message


def test_unknown_route_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + 'path = "/x"\nfunction = "hello"\nmethod = "GET"\n')
    allowed = ("algorithms, async, audience, auth, cors, function, issuer, jwks_url, jwt_hmac_secret, jwt_key, "
               "jwt_key_file, jwt_secret_env, match_headers, methods, path, scopes, strip_prefix, token_env, "
               "token_secret")
    assert f"routes[0].method: unknown key; allowed: {allowed}" in message


def test_routes_must_be_an_array_of_tables(tmp_path: Path) -> None:
    message = config_error(tmp_path, 'routes = "/x"\n' + MINIMAL)
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:1: routes: must be an array of tables")


def test_route_error_names_its_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, ROUTE_HEAD + 'path = "/x"\nmethods = ["GTE"]\nfunction = "hello"\n')
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:6: routes[0].methods:")


def test_route_error_never_points_at_another_route(tmp_path: Path) -> None:
    message = config_error(tmp_path, """\
[[routes]]
path = "/a"
methods = ["GET"]
function = "hello"

[[routes]]
path = "/b"
methods = ["GTE"]
function = "hello"

[functions.hello]
handler = "app.main"
""")
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:8: routes[1].methods:")


def test_invalid_toml(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[functions.hello]\nhandler = "app.main\n')
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}: not valid TOML: ")
    assert "line 2" in message  # tomllib's own position is kept


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert caught.value.message == (f"{tmp_path.resolve() / 'hearth.toml'}: no manifest; "
                                    "create hearth.toml with a [functions.NAME] table (or give a Vercel project: "
                                    "an api/ folder and/or vercel.json)")


def test_not_a_directory(tmp_path: Path) -> None:
    plain_file = tmp_path / "app.py"
    plain_file.write_text("")
    with pytest.raises(ConfigError) as caught:
        load_project(plain_file)
    assert caught.value.message == f"{plain_file.resolve()}: not a directory; give the path of a project folder"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        load_project(tmp_path / "nowhere")


# -- aliases and qualified routes ------------------------------------------------------------------------------

ALIASES = MINIMAL + """\
runtime = "python3.12"

[functions.hello.aliases.live]
version = 2
weights = { "3" = 0.1 }
rules = [
  { header = "X-Env", equals = "gray", version = 3 },
  { header = "x-uid", range = [0, 99.5], version = "$LATEST" },
]
description = "production"
provisioned_concurrency = 2

[functions.hello.aliases.beta]
version = "$LATEST"

[[routes]]
path = "/live"
function = "hello:live"

[[routes]]
path = "/v3"
function = "hello:3"

[[routes]]
path = "/latest"
function = "hello:$LATEST"
"""


def test_aliases_weights_rules_and_provisioned_concurrency_are_read(tmp_path: Path) -> None:
    project = load(tmp_path, ALIASES)
    live, beta = project.aliases
    assert live == AliasSpec(function="hello", name="live", version="2", weights={"3": 0.1}, rules=(
        HeaderRule(header="x-env", version="3", equals="gray"),
        HeaderRule(header="x-uid", version="$LATEST", low=0.0, high=99.5),
    ), description="production")
    assert (beta.name, beta.version, beta.weights, beta.rules) == ("beta", "$LATEST", {}, ())
    assert project.provisioned == {("hello", "live"): 2}
    assert project.functions["hello"].runtime == "python3.12"


def test_routes_target_an_alias_a_version_or_latest(tmp_path: Path) -> None:
    routes = load(tmp_path, ALIASES).routes
    assert [(r.function, r.qualifier, r.target) for r in routes] == [
        ("hello", "live", "hello:live"), ("hello", "3", "hello:3"), ("hello", None, "hello")]


@pytest.mark.parametrize(("edit", "expected"), [
    (("weights = { \"3\" = 0.1 }", "weights = { \"3\" = 0.1, \"4\" = 0.1 }"), "at most one additional version"),
    (("weights = { \"3\" = 0.1 }", "weights = { \"3\" = 1.5 }"), "must be a number from 0 to 1, got 1.5"),
    (("version = 2", "version = 0"), "a version is a number from 1"),
    (("version = 2", "verison = 2"), "unknown key; allowed: description, provisioned_concurrency, rules"),
    (("equals = \"gray\"", "equals = \"gray\", range = [1, 2]"), "give either equals"),
    (("range = [0, 99.5]", "range = [5, 1]"), "low <= high"),
    (("provisioned_concurrency = 2", "provisioned_concurrency = 0"), "at least 1, got 0"),
    (("function = \"hello:live\"", "function = \"hello:canary\""), "unknown alias 'canary' of hello"),
    (("[functions.hello.aliases.beta]", "[functions.hello.aliases.42]"), "are not only digits"),
    (("weights = { \"3\" = 0.1 }", "weights = { \"$LATEST\" = 0.1 }"), "$LATEST cannot take part"),
    (("version = 2", "version = \"$LATEST\""), "cannot be kept for $LATEST"),
])
def test_alias_mistakes_name_the_table_and_what_is_allowed(tmp_path: Path, edit: tuple[str, str],
                                                           expected: str) -> None:
    assert edit[0] in ALIASES
    message = config_error(tmp_path, ALIASES.replace(edit[0], edit[1], 1))
    assert expected in message
    assert "hearth.toml:" in message


# -- [[headers]] and [cors] ------------------------------------------------------------------------------------

GATEWAY = MINIMAL + """
[[headers]]
source = "/assets/**"
headers = { "Cache-Control" = "public, max-age=2592000", "X-Frame-Options" = "DENY" }

[[headers]]
source = "*.js"
headers = { "Cache-Control" = "immutable" }

[cors]
allow_origins = ["https://Example.com", "http://localhost:5173"]
allow_methods = ["get", "POST", "GET"]
allow_headers = ["Content-Type", "authorization"]
expose_headers = ["X-Request-Id"]
max_age = 600
allow_credentials = true
"""


def test_header_rules_and_cors_are_read(tmp_path: Path) -> None:
    project = load(tmp_path, GATEWAY)
    assert project.headers == (
        ResponseHeaders("/assets/**", {"cache-control": "public, max-age=2592000", "x-frame-options": "DENY"}),
        ResponseHeaders("*.js", {"cache-control": "immutable"}),
    )
    assert project.cors == CorsSpec(allow_origins=("https://example.com", "http://localhost:5173"),
                                    allow_methods=("GET", "POST"), allow_headers=("content-type", "authorization"),
                                    expose_headers=("x-request-id",), max_age=600, allow_credentials=True)


def test_without_headers_or_cors_the_gateway_policy_is_empty(tmp_path: Path) -> None:
    project = load(tmp_path, MINIMAL)
    assert (project.headers, project.cors) == ((), None)


def test_a_bare_cors_table_takes_api_gateways_defaults(tmp_path: Path) -> None:
    cors = load(tmp_path, MINIMAL + '[cors]\nallow_origins = ["*"]\n').cors
    assert cors == CorsSpec(allow_origins=("*",))


@pytest.mark.parametrize(("edit", "line", "expected"), [
    (('source = "*.js"', 'source = "/a//b"'), 9, "headers[1].source: empty segment"),
    (('source = "*.js"', 'source = "/{a}.js"'), 9, "headers[1].source: bad segment '{a}.js'"),
    (('source = "*.js"', 'path = "*.js"'), 9, "headers[1].path: unknown key; allowed: headers, source"),
    (('source = "*.js"\n', ''), 8, "headers[1].source: required: a path pattern"),
    (('headers = { "Cache-Control" = "immutable" }', 'headers = {}'), 10, "headers[1].headers: required"),
    (('"Cache-Control" = "immutable"', '"Cache Control" = "immutable"'), 10, "not an HTTP header name"),
    (('"Cache-Control" = "immutable"', '"Content-Length" = "3"'), 10, "frames the HTTP message"),
    (('"Cache-Control" = "immutable"', '"Cache-Control" = 3'), 10, "must be a string, got 3"),
    (('"Cache-Control" = "immutable"', '"Cache-Control" = "a\\nb"'), 10, "a character HTTP cannot carry"),
    (('"Cache-Control" = "immutable"', '"Cache-Control" = "a", "cache-control" = "b"'), 10, "given twice"),
    (('"Cache-Control" = "immutable"', '"Access-Control-Allow-Origin" = "*"'), 10, "configure it there"),
    (("allow_origins = [", "allow_origin = ["), 13, "cors.allow_origin: unknown key; allowed: allow_credentials"),
    (('"http://localhost:5173"', '"localhost:5173"'), 13, "is not an origin; write scheme://host[:port]"),
    (('"http://localhost:5173"', '"http://localhost:5173/"'), 13, "write 'http://localhost:5173'"),
    (('"http://localhost:5173"', '"https://a.com/app"'), 13, "an origin has no path; write 'https://a.com'"),
    (('["https://Example.com", "http://localhost:5173"]', "[]"), 13, "list at least one origin"),
    (('["https://Example.com", "http://localhost:5173"]', '"https://a.com"'), 13, "must be a list of strings"),
    (('["https://Example.com", "http://localhost:5173"]', '["*"]'), 18,
     'cors.allow_credentials: cannot be true with allow_origins = ["*"]'),
    (('["X-Request-Id"]', '["*"]'), 16, 'cors.expose_headers: cannot hold "*" with allow_credentials = true'),
    (('"POST", "GET"]', '"FETCH"]'), 14, "unknown method 'FETCH'"),
    (('"authorization"]', '"author ization"]'), 15, "'author ization' is not an HTTP header name"),
    (("max_age = 600", "max_age = 86401"), 17, "cors.max_age: must be a whole number from 0 to 86400"),
    (("max_age = 600", "max_age = true"), 17, "must be a whole number"),
    (("allow_credentials = true", 'allow_credentials = "yes"'), 18, "must be true or false"),
])
def test_header_and_cors_mistakes_name_the_line_the_key_and_what_is_allowed(
        tmp_path: Path, edit: tuple[str, str], line: int, expected: str) -> None:
    assert edit[0] in GATEWAY
    message = config_error(tmp_path, GATEWAY.replace(edit[0], edit[1], 1))
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:{line}: "), message
    assert expected in message, message


def test_cors_without_origins_says_what_to_give(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "\n[cors]\nmax_age = 5\n")
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:4: cors.allow_origins: required")


def test_access_control_headers_are_allowed_in_rules_without_a_cors_table(tmp_path: Path) -> None:
    rule = '[[headers]]\nsource = "/**"\nheaders = { "Access-Control-Allow-Origin" = "*" }\n'
    project = load(tmp_path, MINIMAL + rule)
    assert project.headers[0].headers == {"access-control-allow-origin": "*"}


@pytest.mark.parametrize(("text", "expected"), [
    ('headers = { source = "/x" }\n', "headers: must be an array of tables"),
    ('cors = ["*"]\n', "cors: must be a table"),
])
def test_wrong_shapes_of_the_top_level_tables(tmp_path: Path, text: str, expected: str) -> None:
    message = config_error(tmp_path, text + MINIMAL)
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:1: {expected}"), message


# --- [gateway], path mapping, header routes, per-route CORS -----------------------------------------------------

MAPPED = MINIMAL + """
[gateway]
name = "shop"
hosts = ["Shop.Example.com", "*.shop.example", "shop.example.com"]
prefix = "/v1/"

[[routes]]
path = "/items/{id}"
function = "hello"

[[routes]]
path = "/files/{path+}"
function = "hello"
strip_prefix = true

[[routes]]
path = "/a/b/{rest+}"
function = "hello"
strip_prefix = "/a"
match_headers = { "X-Env" = "gray" }
cors = false

[[routes]]
path = "/"
function = "hello"
cors = { allow_origins = ["https://Partner.example"], allow_methods = ["post"] }
"""


def test_the_gateway_table_names_the_project_its_hosts_and_prefix(tmp_path: Path) -> None:
    project = load(tmp_path, MAPPED)
    assert (project.name, project.hosts, project.prefix) == ("shop", ("shop.example.com", "*.shop.example"), "/v1")
    items, files, gray, root = project.routes
    assert (items.path, items.strip_prefix, items.site) == ("/v1/items/{id}", "/v1", "shop")
    assert (files.path, files.strip_prefix) == ("/v1/files/{path+}", "/v1/files")
    assert (gray.path, gray.strip_prefix, gray.match_headers, gray.cors_off) == (
        "/v1/a/b/{rest+}", "/v1/a", (("x-env", "gray"),), True)
    assert root.path == "/v1" and root.cors == CorsSpec(allow_origins=("https://partner.example",),
                                                        allow_methods=("POST",))
    assert project.site.hosts == project.hosts and project.site.name == "shop"


@pytest.mark.parametrize(("table", "message"), [
    ('[gateway]\nhosts = ["api.example.com:8080"]',
     "gateway.hosts: 'api.example.com:8080': give the host without a port"),
    ('[gateway]\nhosts = ["a b"]', "gateway.hosts: 'a b' is not a host name"),
    ('[gateway]\nhosts = "a.com"', "gateway.hosts: must be a list of host names"),
    ('[gateway]\nprefix = "v1"', "gateway.prefix: 'v1': write static path segments starting with \"/\""),
    ('[gateway]\nprefix = "/v1/{x}"', "gateway.prefix: '/v1/{x}': bad segment '{x}'"),
    ('[gateway]\nname = "-bad"', "gateway.name: must be a name of letters"),
    ('[gateway]\nport = 1', "gateway.port: unknown key; allowed: hosts, name, prefix"),
])
def test_a_bad_gateway_table_is_named(tmp_path: Path, table: str, message: str) -> None:
    error = config_error(tmp_path, MINIMAL + table + "\n")
    assert message in error and "hearth.toml:4" in error, error


@pytest.mark.parametrize(("route", "message"), [
    ('path = "/{id}"\nstrip_prefix = true', "strip_prefix: '/{id}' starts with a parameter"),
    ('path = "/app/x"\nstrip_prefix = "/ap"', "strip_prefix: '/ap' is not a prefix of the route's path '/app/x'"),
    ('path = "/app/x"\nstrip_prefix = 3', "strip_prefix: must be a path prefix of the route"),
    ('path = "/x"\nmatch_headers = { "X Env" = "a" }', "match_headers: 'X Env' is not an HTTP header name"),
    ('path = "/x"\nmatch_headers = { "X-Env" = 1 }', "match_headers: must be a table of header names"),
    ('path = "/x"\ncors = true', "cors: must be false (the function answers CORS itself) or a table"),
    ('path = "/x"\ncors = { allow_origins = ["*"], allow_credentials = true }',
     "routes[0].cors.allow_credentials: cannot be true with allow_origins = [\"*\"]"),
])
def test_a_bad_route_mapping_is_named(tmp_path: Path, route: str, message: str) -> None:
    error = config_error(tmp_path, MINIMAL + f'\n[[routes]]\nfunction = "hello"\n{route}\n')
    assert message in error, error


def test_a_route_can_take_its_requests_asynchronously(tmp_path: Path) -> None:
    project = load(tmp_path, '[functions.hook]\nhandler = "app.handler"\n\n'
                             '[[routes]]\npath = "/hook"\nfunction = "hook"\nasync = true\n')
    assert project.routes[0].asynchronous
    assert "routes[0].async: must be true" in config_error(
        tmp_path, '[functions.hook]\nhandler = "app.handler"\n\n[[routes]]\npath = "/h"\nfunction = "hook"\n'
                  'async = "yes"\n')
    message = config_error(tmp_path, '[functions.web]\nruntime = "http"\ncommand = ["./server"]\n\n'
                                     '[[routes]]\npath = "/w"\nfunction = "web"\nasync = true\n')
    assert "routes[0].async: function web is an HTTP server" in message


# -- [functions.NAME.async] ------------------------------------------------------------------------------------

ASYNC = """\
[functions.hello]
handler = "app.main"

[functions.hello.async]
maximum_retry_attempts = 0
maximum_event_age_s = 3600
on_success = "audit:live"
on_failure = "arn:aws:sqs:us-east-1:000000000000:failures"

[functions.audit]
handler = "app.audit"

[functions.audit.async]
on_failure = "hello"
"""


def test_async_tables_configure_each_functions_latest(tmp_path: Path) -> None:
    project = load(tmp_path, ASYNC)
    assert project.event_invoke_configs == (
        EventInvokeConfig("hello", "$LATEST", maximum_retry_attempts=0, maximum_event_age_s=3600,
                          on_success=function_arn("audit", "live"),
                          on_failure="arn:aws:sqs:us-east-1:000000000000:failures"),
        EventInvokeConfig("audit", on_failure=function_arn("hello")),
    )
    assert load(tmp_path, MINIMAL).event_invoke_configs == ()


@pytest.mark.parametrize(("edit", "line", "expected"), [
    (("maximum_retry_attempts = 0", "maximum_retry_attempts = 3"), 5,
     "functions.hello.async.maximum_retry_attempts: must be a whole number from 0 to 2, got 3"),
    (("maximum_event_age_s = 3600", "maximum_event_age_s = 59"), 6,
     "functions.hello.async.maximum_event_age_s: must be a whole number from 60 to 21600, got 59"),
    (("maximum_event_age_s = 3600", "max_age = 3600"), 6,
     "functions.hello.async.max_age: unknown key; allowed: maximum_event_age_s, maximum_retry_attempts"),
    (('on_success = "audit:live"', 'on_success = "audit:"'), 7,
     "functions.hello.async.on_success: 'audit:': give a function"),
    (('on_success = "audit:live"', 'on_success = "no such"'), 7,
     "functions.hello.async.on_success: 'no such' is not a function name: give a function"),
    (('on_success = "audit:live"', "on_success = 3"), 7, 'give a function ("other", "other:alias" or "other:3")'),
    (('on_success = "audit:live"', 'on_success = "hello:live"'), 7, "is the function itself"),
    (('on_failure = "arn:aws:sqs:us-east-1:000000000000:failures"',
      'on_failure = "arn:aws:sns:us-east-1:000000000000:topic"'), 8,
     "functions.hello.async.on_failure: 'arn:aws:sns:us-east-1:000000000000:topic': Hearth delivers"),
    (("[functions.audit.async]\non_failure = \"hello\"", "async = 3"), 13,
     "functions.audit.async: must be a table"),
])
def test_async_mistakes_name_the_line_the_key_and_what_is_allowed(
        tmp_path: Path, edit: tuple[str, str], line: int, expected: str) -> None:
    assert edit[0] in ASYNC
    message = config_error(tmp_path, ASYNC.replace(edit[0], edit[1], 1))
    assert message.startswith(f"{tmp_path.resolve() / 'hearth.toml'}:{line}: "), message
    assert expected in message, message


# -- schedules ----------------------------------------------------------------------------------------------------


def test_schedules_are_read_canonical_and_named_after_their_function(tmp_path: Path) -> None:
    project = load(tmp_path, '[functions.report]\nhandler = "app.main"\nschedule = "cron(0 12 ? * mon-fri *)"\n\n'
                             '[functions.clean]\nhandler = "app.clean"\n\n'
                             '[[functions.clean.schedules]]\nexpression = "rate(5 minutes)"\n'
                             'input = { task = "vacuum" }\nmissed = "once"\n\n'
                             '[[functions.clean.schedules]]\nexpression = "0 3 * * *"\ntimezone = "Europe/Berlin"\n'
                             'name = "nightly"\nenabled = false\nqualifier = "2"\n')
    assert [(s.name, s.function, s.expression, s.timezone, s.input, s.missed, s.enabled, s.qualifier)
            for s in project.schedules] == [
        ("report", "report", "cron(0 12 ? * MON-FRI *)", "UTC", None, "skip", True, None),
        ("clean", "clean", "rate(5 minutes)", "UTC", '{"task":"vacuum"}', "once", True, None),
        ("nightly", "clean", "0 3 * * *", "Europe/Berlin", None, "skip", False, "2"),
    ]


@pytest.mark.parametrize(("text", "message"), [
    ('schedule = "rate(5 minute)"', "functions.hello.schedule: schedule 'rate(5 minute)': "),
    ('schedule = 5', "functions.hello.schedule: must be an expression such as"),
    ('[[functions.hello.schedules]]\nexpression = "rate(1 hour)"\ntimezone = "Mars/Base"',
     "functions.hello.schedules[0].timezone: unknown time zone 'Mars/Base'"),
    ('[[functions.hello.schedules]]\nexpression = "rate(1 hour)"\nmissed = "all"',
     "functions.hello.schedules[0].missed: must be one of skip, once"),
    ('[[functions.hello.schedules]]\nexpresion = "rate(1 hour)"',
     "functions.hello.schedules[0].expresion: unknown key; allowed: enabled, expression, input"),
    ('schedule = "rate(1 hour)"\n[[functions.hello.schedules]]\nexpression = "rate(2 hours)"\nname = "hello"',
     "two schedules are named 'hello'"),
])
def test_bad_schedules_are_named(tmp_path: Path, text: str, message: str) -> None:
    error = config_error(tmp_path, MINIMAL + text + "\n")
    assert message in error, error
    assert re.search(r"hearth\.toml:\d+: ", error), error  # the line of the key, or of its table


# -- queue triggers and dead-letter queues --------------------------------------------------------------------------


def test_queue_triggers_and_a_dead_letter_queue_are_read(tmp_path: Path) -> None:
    project = load(tmp_path, '[functions.worker]\nhandler = "app.main"\ndead_letter_queue = "failed"\n\n'
                             '[[functions.worker.queues]]\nqueue = "jobs"\nbatch_size = 50\n'
                             'maximum_batching_window_s = 2\nmaximum_concurrency = 3\n'
                             'report_batch_item_failures = true\n\n'
                             '[[functions.worker.queues]]\nqueue = "other"\nenabled = false\nqualifier = "live"\n')
    assert project.functions["worker"].dead_letter_arn == "arn:aws:sqs:us-east-1:000000000000:failed"
    jobs, other = project.event_source_mappings
    assert (jobs.queue, jobs.function, jobs.batch_size, jobs.maximum_batching_window_s, jobs.maximum_concurrency,
            jobs.report_batch_item_failures, jobs.enabled) == ("jobs", "worker", 50, 2, 3, True, True)
    assert (other.queue, other.enabled, other.qualifier, other.batch_size) == ("other", False, "live", 10)


@pytest.mark.parametrize(("text", "message"), [
    ('[[functions.hello.queues]]\nbatch_size = 5', "functions.hello.queues[0].queue: required"),
    ('[[functions.hello.queues]]\nqueue = "jobs"\nbatch_size = 11',
     "functions.hello.queues[0].batch_size: more than 10 messages per batch needs maximum_batching_window_s"),
    ('[[functions.hello.queues]]\nqueue = "jobs"\nmaximum_concurrency = 1',
     "functions.hello.queues[0].maximum_concurrency: must be a whole number from 2 to 1000"),
    ('[[functions.hello.queues]]\nqueue = "jobs"\n[[functions.hello.queues]]\nqueue = "jobs"',
     "functions.hello.queues[1].queue: queue 'jobs' already triggers hello"),
    ('dead_letter_queue = "no spaces"', "functions.hello.dead_letter_queue: must be a queue name"),
])
def test_bad_queue_triggers_are_named(tmp_path: Path, text: str, message: str) -> None:
    error = config_error(tmp_path, MINIMAL + text + "\n")
    assert message in error, error
    assert re.search(r"hearth\.toml:\d+: ", error), error


# -- route auth ------------------------------------------------------------------------------------------------

def test_a_route_names_where_its_token_is_never_the_token(tmp_path: Path) -> None:
    project = load(tmp_path, MINIMAL + '\n[[routes]]\npath = "/a"\nfunction = "hello"\nauth = "token"\n'
                                       'token_env = "API_TOKEN"\n\n[[routes]]\npath = "/b"\nfunction = "hello"\n')
    assert project.routes[0].auth == RouteAuth(kind="token", token_env="API_TOKEN")
    assert project.routes[1].auth is None


def test_a_route_may_name_a_stored_secret(tmp_path: Path) -> None:
    project = load(tmp_path, MINIMAL + '\n[[routes]]\npath = "/a"\nfunction = "hello"\nauth = "token"\n'
                                       'token_secret = "API_TOKEN"\n\n[[routes]]\npath = "/b"\nfunction = "hello"\n'
                                       'auth = "jwt"\njwt_hmac_secret = "JWT_KEY"\nalgorithms = ["HS512"]\n')
    assert project.routes[0].auth == RouteAuth(kind="token", token_secret="API_TOKEN")
    assert project.routes[1].auth == RouteAuth(kind="jwt", jwt_hmac_secret="JWT_KEY", algorithms=("HS512",))


def test_a_jwt_route_reads_its_keys(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    (tmp_path / "keys").mkdir()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (tmp_path / "keys" / "issuer.pem").write_text(pem)
    project = load(tmp_path, MINIMAL + '\n[[routes]]\npath = "/a"\nfunction = "hello"\nauth = "jwt"\n'
                                       'jwks_url = "http://127.0.0.1:9/jwks.json"\nissuer = "https://i.example"\n'
                                       'audience = "api"\nscopes = ["read"]\n\n'
                                       '[[routes]]\npath = "/b"\nfunction = "hello"\nauth = "jwt"\n'
                                       'jwt_key_file = "keys/issuer.pem"\nalgorithms = ["PS256"]\n')
    assert project.routes[0].auth == RouteAuth(kind="jwt", jwks_url="http://127.0.0.1:9/jwks.json",
                                               issuer="https://i.example", audience=("api",), scopes=("read",))
    second = project.routes[1].auth
    assert second is not None and second.jwt_key == pem and second.algorithms == ("PS256",)


@pytest.mark.parametrize(("route", "message"), [
    ('auth = "basic"', "routes[0].auth: must be one of 'none', 'token', 'jwt'"),
    ('auth = "token"', "routes[0].token_env: required with auth = \"token\""),
    ('auth = "token"\ntoken_env = "secret value!"', "routes[0].token_env: must be the name of an environment"),
    ('token_env = "X"', 'routes[0].token_env: applies only to a route with auth = "token" or auth = "jwt"'),
    ('auth = "token"\ntoken_env = "X"\nscopes = ["a"]', 'routes[0].scopes: applies only to auth = "jwt"'),
    ('auth = "jwt"', "routes[0].auth: a JWT route needs exactly one of jwks_url"),
    ('auth = "jwt"\njwks_url = "http://a/j"\njwt_secret_env = "S"', "routes[0].jwt_secret_env: a JWT route needs"),
    ('auth = "jwt"\njwks_url = "file:///etc/passwd"', "routes[0].jwks_url: must be an http(s) URL"),
    ('auth = "jwt"\njwt_key = "hunter2hunter2hunter2hunter2hunter2"', "routes[0].jwt_key: must be a PEM public key"),
    ('auth = "jwt"\njwt_secret_env = "S"\nalgorithms = ["RS256"]', "routes[0].algorithms: 'RS256' cannot be used"),
    ('auth = "jwt"\njwks_url = "http://a/j"\nalgorithms = ["HS256"]', "routes[0].algorithms: 'HS256' cannot be used"),
    ('auth = "jwt"\njwks_url = "http://a/j"\nalgorithms = ["none"]', "routes[0].algorithms: 'none' cannot be used"),
    ('auth = "jwt"\njwt_key_file = "../outside.pem"', "routes[0].jwt_key_file: '../outside.pem' is outside"),
    ('auth = "jwt"\njwks_url = "http://a/j"\naudience = [1]', "routes[0].audience: must be a string or a list"),
    ('auth = "token"\ntoken_env = "API_TOKEN"\ntoken_secret = "API_TOKEN"',
     "routes[0].token_secret: cannot be given with token_env: both name the route's token, keep one"),
    ('auth = "token"\ntoken_secret = "HEARTH_TOKEN"',
     "routes[0].token_secret: must name a secret stored with `hearth secret set NAME`: HEARTH_TOKEN is a variable"),
    ('auth = "token"\ntoken_secret = "not a name"', "routes[0].token_secret: must name a secret stored with"),
    ('auth = "jwt"\ntoken_secret = "X"', 'routes[0].token_secret: applies only to auth = "token"'),
    ('auth = "token"\njwt_hmac_secret = "X"', 'routes[0].jwt_hmac_secret: applies only to auth = "jwt"'),
    ('auth = "jwt"\njwt_secret_env = "S"\njwt_hmac_secret = "S"', "routes[0].jwt_hmac_secret: a JWT route needs "
                                                                "exactly one of"),
    ('auth = "jwt"\njwt_hmac_secret = "S"\nalgorithms = ["RS256"]', "routes[0].algorithms: 'RS256' cannot be used"),
])
def test_a_bad_route_auth_is_named(tmp_path: Path, route: str, message: str) -> None:
    error = config_error(tmp_path, MINIMAL + f'\n[[routes]]\npath = "/a"\nfunction = "hello"\n{route}\n')
    assert message in error, error
