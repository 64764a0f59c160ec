"""Route auth's verifiers (``gateway/auth.py``) with keys made here: tokens good and bad, algorithm confusion, the
key set's cache and refetch, scopes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from hearth import errors
from hearth.gateway import auth
from hearth.gateway.auth import Authorization, KeySets, StoredSecrets, bearer, claim_text
from hearth.model import RouteAuth

T = TypeVar("T")
ISSUER = "https://issuer.example"
SECRET = "s" * 40
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable
    return asyncio.run(main())


def token(key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "k1", **claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISSUER, "aud": "api", "sub": "user-7", "exp": int(time.time()) + 300}
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


def headers(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {value}".encode())]


def jwks(*pairs: tuple[str, rsa.RSAPrivateKey]) -> bytes:
    keys = []
    for kid, key in pairs:
        entry = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        keys.append({**entry, "kid": kid, "use": "sig"})
    return json.dumps({"keys": keys}).encode()


class Issuer:
    """A key set endpoint as the ``fetch`` seam: serves ``documents`` in turn, counts fetches, or fails."""

    def __init__(self, *documents: bytes) -> None:
        self.documents = list(documents)
        self.fetches = 0
        self.fail = False

    async def fetch(self, url: str) -> bytes:
        self.fetches += 1
        if self.fail:
            raise OSError("connection refused")
        return self.documents[min(self.fetches, len(self.documents)) - 1]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwks_route(issuer: Issuer, clock: Clock | None = None, **fields: Any) -> auth.Authorizer:
    spec = RouteAuth(kind="jwt", jwks_url="http://127.0.0.1:1/jwks", issuer=ISSUER, audience=("api",), **fields)
    return Authorization({}, KeySets(issuer.fetch, clock or Clock())).authorizer(spec, "test")


def test_a_good_token_passes_its_claims_as_strings() -> None:
    issuer = Issuer(jwks(("k1", RSA_KEY)))
    context = run(jwks_route(issuer).authorize(headers(token(admin=True, n=3, groups=["a", "b"]))))
    assert context is not None
    claims = context["jwt"]["claims"]
    assert claims["sub"] == "user-7" and claims["iss"] == ISSUER and claims["aud"] == "api"
    assert claims["admin"] == "true" and claims["n"] == "3" and claims["groups"] == "[a b]"
    assert claims["exp"].isdigit()
    assert context["jwt"]["scopes"] is None  # the route requires none


NOW = object()  # a claim's value is this offset from the time the test runs (not when it was collected)


@pytest.mark.parametrize("claims", [
    {"exp": (NOW, -60)},  # expired beyond the leeway
    {"exp": None},  # exp is required
    {"iss": "https://evil.example"},
    {"aud": "other"},
    {"aud": None, "client_id": "other"},
    {"nbf": (NOW, 120)},
])
def test_bad_claims_are_refused_with_401(claims: dict[str, Any]) -> None:
    claims = {name: int(time.time()) + value[1] if isinstance(value, tuple) and value[0] is NOW else value
              for name, value in claims.items()}
    with pytest.raises(errors.Unauthorized) as raised:
        run(jwks_route(Issuer(jwks(("k1", RSA_KEY)))).authorize(headers(token(**claims))))
    assert raised.value.message == "Unauthorized" and raised.value.status == 401


def test_audience_may_be_a_list_or_client_id() -> None:
    route = jwks_route(Issuer(jwks(("k1", RSA_KEY))))
    assert run(route.authorize(headers(token(aud=["x", "api"])))) is not None
    assert run(route.authorize(headers(token(aud=None, client_id="api")))) is not None


def test_expiry_has_a_few_seconds_of_leeway() -> None:
    route = jwks_route(Issuer(jwks(("k1", RSA_KEY))))
    assert run(route.authorize(headers(token(exp=int(time.time()) - 2)))) is not None


def test_a_wrong_signature_is_refused() -> None:
    route = jwks_route(Issuer(jwks(("k1", RSA_KEY))))
    with pytest.raises(errors.Unauthorized):
        run(route.authorize(headers(token(key=OTHER_KEY))))
    good = token()
    head, body, signature = good.split(".")
    tampered = f"{head}.{body[:-2]}AA.{signature}"
    with pytest.raises(errors.Unauthorized):
        run(route.authorize(headers(tampered)))


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """Algorithm confusion: a token signed with HMAC over the (public) PEM must not verify against it."""
    route = Authorization({}).authorizer(RouteAuth(kind="jwt", jwt_key=PUBLIC_PEM, issuer=ISSUER), "test")
    assert run(route.authorize(headers(token()))) is not None  # RS256 with the real key passes
    forged = jwt.api_jws.PyJWS().encode(json.dumps({"iss": ISSUER, "exp": int(time.time()) + 300}).encode(),
                                        b"0" * 32, algorithm="HS256")
    header, payload, _ = forged.split(".")
    signing = f"{header}.{payload}".encode()
    signature = base64.urlsafe_b64encode(hmac.new(PUBLIC_PEM.encode(), signing, hashlib.sha256).digest())
    confused = f"{header}.{payload}.{signature.rstrip(b'=').decode()}"
    with pytest.raises(errors.Unauthorized):
        run(route.authorize(headers(confused)))
    # even with the JWKS, HMAC is never allowed
    with pytest.raises(errors.Unauthorized):
        run(jwks_route(Issuer(jwks(("k1", RSA_KEY)))).authorize(headers(confused)))


def test_a_stored_route_cannot_allow_hmac_with_a_key_set() -> None:
    route = jwks_route(Issuer(jwks(("k1", RSA_KEY))), algorithms=("HS256", "none"))
    assert isinstance(route, auth.JwtAuthorizer) and route.algorithms == ("RS256",)


def test_the_none_algorithm_is_refused() -> None:
    unsigned = jwt.encode({"iss": ISSUER, "aud": "api", "exp": int(time.time()) + 300}, None, algorithm="none",
                          headers={"kid": "k1"})
    with pytest.raises(errors.Unauthorized):
        run(jwks_route(Issuer(jwks(("k1", RSA_KEY)))).authorize(headers(unsigned)))


def test_an_unknown_kid_refetches_the_key_set_once() -> None:
    issuer = Issuer(jwks(("k1", RSA_KEY)), jwks(("k1", RSA_KEY), ("k2", OTHER_KEY)))
    clock = Clock()
    route = jwks_route(issuer, clock)
    assert run(route.authorize(headers(token()))) is not None
    assert issuer.fetches == 1
    clock.now += auth.REFETCH_MIN_S
    assert run(route.authorize(headers(token(key=OTHER_KEY, kid="k2")))) is not None  # rotated in
    assert issuer.fetches == 2
    with pytest.raises(errors.Unauthorized):  # still unknown: refused, and no second refetch so soon
        run(route.authorize(headers(token(kid="k3"))))
    assert issuer.fetches == 2
    clock.now += auth.JWKS_TTL_S  # the cache expires
    run(route.authorize(headers(token())))
    assert issuer.fetches == 3


def test_a_key_set_that_cannot_be_fetched_answers_503() -> None:
    issuer = Issuer(jwks(("k1", RSA_KEY)))
    issuer.fail = True
    clock = Clock()
    route = jwks_route(issuer, clock)
    with pytest.raises(errors.AuthorizerUnavailable) as raised:
        run(route.authorize(headers(token())))
    assert raised.value.status == 503
    with pytest.raises(errors.AuthorizerUnavailable):  # within RETRY_S: refused without another fetch
        run(route.authorize(headers(token())))
    assert issuer.fetches == 1
    issuer.fail = False
    clock.now += auth.RETRY_S
    assert run(route.authorize(headers(token()))) is not None
    bad = Issuer(b"<html>not json</html>")
    with pytest.raises(errors.AuthorizerUnavailable):
        run(jwks_route(bad).authorize(headers(token())))


def test_known_keys_outlive_a_failing_issuer_for_a_bounded_time() -> None:
    issuer = Issuer(jwks(("k1", RSA_KEY)))
    clock = Clock()
    route = jwks_route(issuer, clock)
    assert run(route.authorize(headers(token()))) is not None
    issuer.fail = True
    clock.now += auth.REFETCH_MIN_S
    with pytest.raises(errors.AuthorizerUnavailable):  # an unknown kid needs the issuer
        run(route.authorize(headers(token(kid="k9"))))
    assert run(route.authorize(headers(token()))) is not None  # a known kid is not held up by that failure
    clock.now += auth.JWKS_TTL_S
    assert run(route.authorize(headers(token()))) is not None  # expired cache, issuer down: the last keys verify
    clock.now += auth.STALE_S
    with pytest.raises(errors.AuthorizerUnavailable):
        run(route.authorize(headers(token())))


def test_concurrent_calls_share_one_fetch() -> None:
    issuer = Issuer(jwks(("k1", RSA_KEY)))
    route = jwks_route(issuer)

    async def many() -> list[Any]:
        return await asyncio.gather(*(route.authorize(headers(token())) for _ in range(5)))

    assert all(result is not None for result in run(many()))
    assert issuer.fetches == 1


def test_scopes_need_one_of_the_routes_or_403() -> None:
    route = jwks_route(Issuer(jwks(("k1", RSA_KEY))), scopes=("read", "admin"))
    context = run(route.authorize(headers(token(scope="read write"))))
    assert context is not None and context["jwt"]["scopes"] == ["read", "write"]
    assert run(route.authorize(headers(token(scp=["admin"])))) is not None
    with pytest.raises(errors.Forbidden) as raised:
        run(route.authorize(headers(token(scope="write"))))
    assert raised.value.status == 403
    with pytest.raises(errors.Forbidden):
        run(route.authorize(headers(token())))


def test_an_hmac_secret_comes_from_the_platforms_environment() -> None:
    spec = RouteAuth(kind="jwt", jwt_secret_env="JWT_SECRET", issuer=ISSUER)
    route = Authorization({"JWT_SECRET": SECRET}).authorizer(spec, "test")
    assert run(route.authorize(headers(token(key=SECRET, alg="HS256")))) is not None
    with pytest.raises(errors.Unauthorized):  # an RS256 token never verifies against a secret
        run(route.authorize(headers(token())))
    for secrets in ({}, {"JWT_SECRET": "short"}):
        with pytest.raises(errors.AuthorizerUnavailable):
            run(Authorization(secrets).authorizer(spec, "test").authorize(headers(token(key=SECRET, alg="HS256"))))


def test_an_ec_key_allows_only_its_curves_algorithm() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    route = Authorization({}).authorizer(RouteAuth(kind="jwt", jwt_key=pem), "test")
    assert run(route.authorize(headers(token(key=key, alg="ES256")))) is not None
    with pytest.raises(errors.Unauthorized):
        run(route.authorize(headers(token())))


def test_token_auth_compares_the_bearer_token() -> None:
    spec = RouteAuth(kind="token", token_env="API_TOKEN")
    route = Authorization({"API_TOKEN": "t0ken-value"}).authorizer(spec, "test")
    assert run(route.authorize(headers("t0ken-value"))) is None
    assert run(route.authorize([(b"authorization", b"t0ken-value")])) is None  # bare, as API Gateway takes it
    for bad in ([], headers("t0ken-valuE"), headers(""), [(b"authorization", b"Basic dXNlcjpwdw==")],
                headers("t0ken-value") * 2):
        with pytest.raises(errors.Unauthorized):
            run(route.authorize(bad))
    with pytest.raises(errors.AuthorizerUnavailable):
        run(Authorization({}).authorizer(spec, "test").authorize(headers("x")))


def test_a_stored_token_is_read_at_each_request_and_forgotten_when_it_changes() -> None:
    vault: dict[str, str] = {}
    reads: list[str] = []

    def read(name: str) -> str | None:
        reads.append(name)
        return vault.get(name)

    stored = StoredSecrets(read)
    route = Authorization({"API_TOKEN": "from-the-environment"}, stored=stored).authorizer(
        RouteAuth(kind="token", token_secret="API_TOKEN"), "route ANY /a")
    with pytest.raises(errors.AuthorizerUnavailable) as missing:  # not set yet: 503, never open
        run(route.authorize(headers("from-the-environment")))
    assert "the secret API_TOKEN is not set; set it with `hearth secret set API_TOKEN`" in missing.value.reason
    vault["API_TOKEN"] = "first-token"
    with pytest.raises(errors.AuthorizerUnavailable):  # the miss is cached until the vault says it changed
        run(route.authorize(headers("first-token")))
    stored.forget("API_TOKEN")
    assert run(route.authorize(headers("first-token"))) is None
    assert run(route.authorize(headers("first-token"))) is None
    assert reads == ["API_TOKEN", "API_TOKEN"]  # one read per change, not per request
    vault["API_TOKEN"] = "second-token"
    stored.forget("API_TOKEN")
    with pytest.raises(errors.Unauthorized):
        run(route.authorize(headers("first-token")))
    assert run(route.authorize(headers("second-token"))) is None


def test_a_stored_hmac_secret_verifies_jwts() -> None:
    spec = RouteAuth(kind="jwt", jwt_hmac_secret="JWT_KEY", issuer=ISSUER)
    values = {"JWT_KEY": SECRET}
    stored = StoredSecrets(values.get)
    route = Authorization({}, stored=stored).authorizer(spec, "test")
    assert run(route.authorize(headers(token(key=SECRET, alg="HS256")))) is not None
    with pytest.raises(errors.Unauthorized):
        run(route.authorize(headers(token())))
    values["JWT_KEY"] = "short"
    stored.forget("JWT_KEY")
    with pytest.raises(errors.AuthorizerUnavailable):  # too short to be an HMAC key: 503
        run(route.authorize(headers(token(key=SECRET, alg="HS256"))))


def test_bearer_refuses_oversized_headers() -> None:
    with pytest.raises(errors.Unauthorized):
        bearer(headers("x" * (auth.MAX_TOKEN + 1)))


def test_claim_text_follows_api_gateway() -> None:
    assert claim_text("a") == "a" and claim_text(12) == "12" and claim_text(False) == "false"
    assert claim_text(["a", 1]) == "[a 1]" and claim_text({"k": 1}) == '{"k":1}'
