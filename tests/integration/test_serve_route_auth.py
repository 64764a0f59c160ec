"""Route auth through ``hearth deploy`` to a real ``hearth serve``: the routes keep their auth across a restart,
the state store and ``hearth projects`` hold no secret, and a public key file travels in the package."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import jwt
from conftest import Serve
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TOKEN = "serve-token-abcdefghijklmnopqrstuvwxyz"
KEY = ec.generate_private_key(ec.SECP256R1())

MANIFEST = '''
[gateway]
name = "guarded"

[functions.who]
handler = "who.handler"

[[routes]]
path = "/token"
function = "who"
auth = "token"
token_env = "GUARD_TOKEN"

[[routes]]
path = "/jwt"
function = "who"
auth = "jwt"
jwt_key_file = "keys/issuer.pem"
scopes = ["read"]

[[routes]]
path = "/open"
function = "who"
'''


def project(root: Path) -> Path:
    root.mkdir()
    (root / "hearth.toml").write_text(MANIFEST)
    (root / "who.py").write_text('def handler(event, context):\n'
                                 '    return {"authorizer": event["requestContext"].get("authorizer")}\n')
    (root / "keys").mkdir()
    pem = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (root / "keys" / "issuer.pem").write_bytes(pem)
    return root


def check(gateway: httpx.Client) -> None:
    assert gateway.get("/open").json() == {"authorizer": None}
    refused = gateway.get("/token")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert gateway.get("/token", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    good = jwt.encode({"sub": "u", "scope": "read", "exp": int(time.time()) + 300}, KEY, algorithm="ES256")
    answer = gateway.get("/jwt", headers={"Authorization": f"Bearer {good}"})
    assert answer.status_code == 200, answer.text
    passed = answer.json()["authorizer"]["jwt"]
    assert passed["scopes"] == ["read"]
    assert passed["claims"] == {"sub": "u", "scope": "read", "exp": passed["claims"]["exp"]}
    assert passed["claims"]["exp"].isdigit()
    narrow = jwt.encode({"sub": "u", "scope": "write", "exp": int(time.time()) + 300}, KEY, algorithm="ES256")
    assert gateway.get("/jwt", headers={"Authorization": f"Bearer {narrow}"}).status_code == 403


def test_route_auth_survives_deploy_and_restart_without_storing_a_secret(tmp_path: Path) -> None:
    env = {**os.environ, "GUARD_TOKEN": TOKEN}
    data = tmp_path / "data"
    server = Serve(data, "--quiet", env=env)
    try:
        printed = server.deploy(project(tmp_path / "guarded"))
        assert re.search(r"ANY \S+/jwt → who \(auth: jwt\)$", printed, re.MULTILINE), printed
        check(server.gateway)
        listing = server.cli("projects").stdout
        assert "ANY /token → who (auth: token)" in listing and "GUARD_TOKEN" not in listing
        routes = next(p for p in server.native("/hearth/projects")["projects"] if p["name"] == "guarded")["routes"]
        shown = {route["path"]: route for route in routes}
        assert shown["/token"]["auth"] == "token" and "GUARD_TOKEN" not in str(routes)
        assert shown["/jwt"] == {"methods": ["ANY"], "path": "/jwt", "target": "who", "auth": "jwt",
                                 "scopes": ["read"]}
        assert "auth" not in shown["/open"]
    finally:
        server.stop()
    assert TOKEN.encode() not in b"".join(path.read_bytes() for path in data.glob("state.db*"))
    again = Serve(data, "--quiet", env=env)
    try:
        check(again.gateway)
    finally:
        again.stop()


STORED = '''
[functions.who]
handler = "who.handler"

[[routes]]
path = "/stored"
function = "who"
auth = "token"
token_secret = "ROUTE_TOKEN"

[[routes]]
path = "/stored-jwt"
function = "who"
auth = "jwt"
jwt_hmac_secret = "ROUTE_JWT_KEY"
'''


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_route_reads_its_token_from_the_secrets_store_and_follows_its_rotation(tmp_path: Path) -> None:
    root = tmp_path / "stored"
    root.mkdir()
    (root / "hearth.toml").write_text(STORED)
    (root / "who.py").write_text('def handler(event, context):\n    return {"ok": True}\n')
    server = Serve(tmp_path / "data", "--quiet")
    control = httpx.Client(base_url=server.process.control, timeout=30,
                           headers={"Authorization": f"Bearer {server.key['token']}"})
    first, second = "first-token-" + os.urandom(8).hex(), "second-token-" + os.urandom(8).hex()

    def call(path: str, token: str | None) -> int:
        sent = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return server.gateway.get(path, headers=sent).status_code

    try:
        server.deploy(root)
        unset = server.gateway.get("/stored", headers={"Authorization": f"Bearer {first}"})
        assert unset.status_code == 503 and unset.json()["errorType"] == "AuthorizerFailure"  # never open
        assert unset.json()["message"] == "Service Unavailable"  # why goes to the log only
        missing = control.get("/hearth/secrets").json()["missing"]
        assert {"name": "ROUTE_TOKEN", "functions": [], "routes": ["ANY /stored"]} in missing
        set_answer = control.put("/hearth/secrets/ROUTE_TOKEN", json={"value": first})
        assert set_answer.status_code == 200 and set_answer.json()["routes"] == ["ANY /stored"]
        assert call("/stored", None) == 401
        assert call("/stored", "wrong") == 401
        assert call("/stored", first) == 200
        rotated = server.cli("secret", "set", "ROUTE_TOKEN", "--from-file", str(write(tmp_path / "t2", second)))
        assert rotated.returncode == 0, rotated.stderr
        assert "route ANY /stored checks callers with it from the next request" in rotated.stdout
        assert call("/stored", first) == 401
        assert call("/stored", second) == 200
        assert control.delete("/hearth/secrets/ROUTE_TOKEN").status_code == 200
        assert call("/stored", second) == 503

        key = os.urandom(32).hex()
        assert control.put("/hearth/secrets/ROUTE_JWT_KEY", json={"value": key}).status_code == 200
        signed = jwt.encode({"sub": "u", "exp": int(time.time()) + 300}, key, algorithm="HS256")
        assert call("/stored-jwt", signed) == 200
        assert control.put("/hearth/secrets/ROUTE_JWT_KEY", json={"value": key[::-1]}).status_code == 200
        assert call("/stored-jwt", signed) == 401
        output = "\n".join(server.process.stdout + server.process.stderr)
        assert "the secret ROUTE_TOKEN is not set; set it with `hearth secret set ROUTE_TOKEN`" in output
        for secret in (first, second, key):
            assert secret not in output
    finally:
        control.close()
        server.stop()
