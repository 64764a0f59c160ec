"""Route auth on the real platform: ``hearth dev`` with token and JWT routes, a key set served here on 127.0.0.1,
a Python function that returns its ``requestContext.authorizer``, and an ``http`` server that records every request
it sees (it must see none of the refused ones)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from conftest import PROJECTS, HearthProcess
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TOKEN = "integration-token-0123456789"
ISSUER = "https://issuer.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SITE = "https://app.example.com"

HANDLER = '''
def handler(event, context):
    return {"authorizer": event["requestContext"].get("authorizer"), "path": event["rawPath"]}
'''

SERVER = '''
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append(self.path)
        body = json.dumps({"seen": seen, "authorization": self.headers.get("authorization")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


class KeySetServer:
    """A JWKS endpoint on 127.0.0.1 (port 0) in a thread; counts its fetches."""

    def __init__(self) -> None:
        entry = {**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "use": "sig"}
        document = json.dumps({"keys": [entry]}).encode()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args: Any) -> None:
                pass

        self.fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def manifest(jwks_url: str) -> str:
    python = json.dumps(sys.executable)
    return f'''
[functions.who]
handler = "who.handler"

[functions.ric]  # the same handler under AWS's own runtime interface client (runtime = "provided")
runtime = "provided.al2023"
handler = "who.handler"
env = {{ HEARTH_TEST_PYTHON = {python} }}

[functions.web]
runtime = "http"
command = [{python}, "server.py"]

[cors]
allow_origins = ["{SITE}"]
allow_methods = ["GET", "POST"]
allow_headers = ["authorization"]

[[routes]]
path = "/open"
function = "who"

[[routes]]
path = "/token"
function = "who"
auth = "token"
token_env = "ROUTE_TOKEN"

[[routes]]
path = "/unset"
function = "who"
auth = "token"
token_env = "NOT_SET_ANYWHERE"

[[routes]]
path = "/jwt"
function = "who"
auth = "jwt"
jwks_url = "{jwks_url}"
issuer = "{ISSUER}"
audience = ["api"]

[[routes]]
path = "/scoped"
function = "who"
auth = "jwt"
jwks_url = "{jwks_url}"
issuer = "{ISSUER}"
audience = ["api"]
scopes = ["admin"]

[[routes]]
path = "/provided"
function = "ric"
auth = "jwt"
jwks_url = "{jwks_url}"
issuer = "{ISSUER}"
audience = ["api"]

[[routes]]
path = "/dead"
function = "who"
auth = "jwt"
jwks_url = "http://127.0.0.1:1/jwks.json"

[[routes]]
path = "/server/open/{{proxy+}}"
function = "web"

[[routes]]
path = "/server/secure/{{proxy+}}"
function = "web"
auth = "jwt"
jwks_url = "{jwks_url}"
issuer = "{ISSUER}"
audience = ["api"]
'''


def token(**claims: Any) -> str:
    body = {"iss": ISSUER, "aud": "api", "sub": "user-7", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, KEY, algorithm="RS256", headers={"kid": "k1"})


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture(scope="module")
def keys() -> Iterator[KeySetServer]:
    server = KeySetServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def dev(keys: KeySetServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HearthProcess]:
    project = tmp_path_factory.mktemp("auth")
    (project / "hearth.toml").write_text(manifest(keys.url))
    (project / "who.py").write_text(HANDLER)
    (project / "server.py").write_text(SERVER)
    shutil.copy(PROJECTS / "provided_python" / "bootstrap", project / "bootstrap")
    hearth = HearthProcess(project, "--no-watch", env={**os.environ, "ROUTE_TOKEN": TOKEN}).start()
    yield hearth
    hearth.stop()


@pytest.fixture
def client(dev: HearthProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.gateway, timeout=30) as opened:
        yield opened


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["message"] == "Unauthorized"
    assert TOKEN not in response.text


def test_a_route_without_auth_is_unchanged(client: httpx.Client) -> None:
    response = client.get("/open")
    assert response.status_code == 200
    assert response.json() == {"authorizer": None, "path": "/open"}
    assert "www-authenticate" not in response.headers


def test_token_auth(dev: HearthProcess, client: httpx.Client) -> None:
    assert client.get("/token", headers=bearer(TOKEN)).json() == {"authorizer": None, "path": "/token"}
    for headers in ({}, bearer(TOKEN + "x"), {"Authorization": "Basic dXNlcjpwYXNz"}):
        assert_unauthorized(client.get("/token", headers=headers))
    dev.wait_for(lambda: any("ANY /token refused (Unauthorized): the bearer token does not match" in line
                             for line in dev.stderr), 10, "the refusal in the platform's log")
    assert all(TOKEN not in line for line in dev.stdout + dev.stderr)  # the log says why, never the token


def test_a_route_whose_secret_is_missing_refuses_with_503(client: httpx.Client) -> None:
    response = client.get("/unset", headers=bearer(TOKEN))
    assert response.status_code == 503 and response.json()["message"] == "Service Unavailable"


def test_jwt_claims_reach_the_function_as_api_gateway_passes_them(client: httpx.Client,
                                                                  keys: KeySetServer) -> None:
    response = client.get("/jwt", headers=bearer(token(groups=["a", "b"], admin=True)))
    assert response.status_code == 200, response.text
    authorizer = response.json()["authorizer"]
    claims = authorizer["jwt"]["claims"]
    assert claims["sub"] == "user-7" and claims["iss"] == ISSUER and claims["aud"] == "api"
    assert claims["groups"] == "[a b]" and claims["admin"] == "true" and claims["exp"].isdigit()
    assert authorizer["jwt"]["scopes"] is None
    assert keys.fetches >= 1


def test_bad_jwts_are_401(client: httpx.Client) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"iss": ISSUER, "aud": "api", "exp": int(time.time()) + 300}, other, algorithm="RS256",
                        headers={"kid": "k1"})
    for value in (token(exp=int(time.time()) - 60), token(iss="https://evil.test"), token(aud="other"), forged,
                  "not-a-jwt"):
        assert_unauthorized(client.get("/jwt", headers=bearer(value)))
    assert_unauthorized(client.get("/jwt"))


def test_a_provided_function_gets_the_claims_too(client: httpx.Client) -> None:
    pytest.importorskip("awslambdaric")
    response = client.get("/provided", headers=bearer(token()))
    assert response.status_code == 200, response.text
    assert response.json()["authorizer"]["jwt"]["claims"]["sub"] == "user-7"
    assert_unauthorized(client.get("/provided", headers=bearer(token(aud="other"))))


def test_scopes_are_403(client: httpx.Client) -> None:
    allowed = client.get("/scoped", headers=bearer(token(scope="read admin")))
    assert allowed.status_code == 200 and allowed.json()["authorizer"]["jwt"]["scopes"] == ["read", "admin"]
    refused = client.get("/scoped", headers=bearer(token(scope="read")))
    assert refused.status_code == 403 and refused.json()["message"] == "Forbidden"
    assert "www-authenticate" not in refused.headers


def test_an_unreachable_key_set_is_503(client: httpx.Client) -> None:
    response = client.get("/dead", headers=bearer(token()))
    assert response.status_code == 503 and response.json()["message"] == "Service Unavailable"


def test_a_preflight_needs_no_auth_and_errors_carry_cors(client: httpx.Client) -> None:
    preflight = client.options("/jwt", headers={"Origin": SITE, "Access-Control-Request-Method": "GET",
                                                "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SITE
    refused = client.get("/jwt", headers={"Origin": SITE})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == SITE


def test_a_proxied_server_never_sees_a_refused_request(client: httpx.Client) -> None:
    for headers in ({}, bearer("nope"), bearer(token(aud="other"))):
        assert_unauthorized(client.get("/server/secure/refused", headers=headers))
        assert_unauthorized(client.post("/server/secure/refused", headers=headers, content=b"x"))
        upgrade = {**headers, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
        assert_unauthorized(client.get("/server/secure/refused-ws", headers=upgrade))
    good = client.get("/server/secure/allowed", headers=bearer(token()))
    assert good.status_code == 200, good.text
    assert good.json()["authorization"].startswith("Bearer ")  # passed on as sent
    seen = client.get("/server/open/seen").json()["seen"]
    assert "/server/secure/allowed" in seen
    assert not [path for path in seen if "refused" in path]
