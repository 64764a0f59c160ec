"""Route auth: the gateway checks a caller before anything runs, as API Gateway's JWT authorizer does.

A route with ``auth = "token"`` or ``auth = "jwt"`` (``RouteAuth``) has an ``Authorizer``, built with its front
(``sites.py``) whenever the catalog's routes change; a route without auth has none and costs the request one
attribute check (``Gateway._function``).

- **Where the caller's token is**: ``Authorization: Bearer <token>`` (the bare token is accepted too, as API
  Gateway accepts it). None, several, or one over ``MAX_TOKEN`` bytes: 401.
- **token**: compared in constant time (``hmac.compare_digest``) with the value of the platform's environment
  variable ``token_env``, or of the stored secret ``token_secret``. The event carries no
  ``requestContext.authorizer``.
- **jwt**: verified with PyJWT against a static key (``jwt_key``: a PEM public key, RSA, EC or Ed25519, inline or
  read from ``jwt_key_file`` when the manifest loads; ``jwt_secret_env``: an HMAC secret of at least 32 bytes from
  the platform's environment, or ``jwt_hmac_secret`` from the secrets store) or the issuer's key set (``jwks_url``,
  ``KeySet``: fetched off the event loop with a timeout, cached ``JWKS_TTL_S``, refetched once when a token names an
  unknown ``kid``, at most every ``REFETCH_MIN_S``; while the issuer is unreachable its last keys verify for
  ``STALE_S`` more, then 503). The token's ``alg`` must be one the route allows (``algorithms``, default by key
  kind); ``none`` never is, HMAC never is with a public key. ``exp`` is required; ``exp``, ``nbf`` and ``iat`` are
  checked with ``LEEWAY_S``; ``iss`` against ``issuer``; ``aud`` (``client_id`` when there is no ``aud``) against
  ``audience``. A route's ``scopes`` need at least one of them in the token's ``scope`` (space separated) or
  ``scp``: else 403. The function gets ``requestContext.authorizer.jwt = {"claims", "scopes"}`` as API Gateway
  passes it: every claim a string (numbers in decimal, booleans ``true``/``false``, lists as ``[a b]``, objects as
  JSON), ``scopes`` the token's scopes when the route requires some, else null.

Failures are ``Unauthorized`` (401, ``WWW-Authenticate: Bearer``), ``Forbidden`` (403) and
``AuthorizerUnavailable`` (503: the key set cannot be fetched, or a named variable is not set). Their bodies say
only ``Unauthorized``/``Forbidden``/``Service Unavailable``; why a request was refused is the error's ``reason``,
which the gateway logs (a warning per refused request, with its id and route; never the token).

Secrets come from a ``SecretSource``: the platform's environment (``Settings.route_secrets``), read when the
routes are built, or the secrets store (``StoredSecrets`` over the vault), read at each request through a cache
the vault empties when a secret is set or removed, so ``hearth secret set`` reaches the route at once, without a
restart; while a stored secret is not set the route answers 503. The manifest and the state store hold only names.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from hearth import errors
from hearth.model import RouteAuth

log = logging.getLogger("hearth.gateway.auth")

JWKS_TTL_S = 600.0  # a key set is refetched after this long (API Gateway caches keys up to two hours)
REFETCH_MIN_S = 10.0  # an unknown ``kid`` refetches the key set at most this often: tokens cannot flood the issuer
RETRY_S = 1.0  # after a failed fetch, calls that need one are refused (503) this long before the next try
STALE_S = 3600.0  # while the issuer cannot be reached, keys fetched up to this long past JWKS_TTL_S still verify
FETCH_TIMEOUT_S = 5.0
MAX_JWKS = 1024 * 1024
MAX_TOKEN = 16 * 1024
LEEWAY_S = 5
MIN_SECRET = 32  # bytes of an HMAC secret (HS256's hash length; PyJWT warns below it)
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
PUBLIC_ALGORITHMS = (*RSA_ALGORITHMS, *EC_ALGORITHMS, "EdDSA")
_EC_BY_CURVE = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}

RawHeaders = Sequence[tuple[bytes, bytes]]
Fetch = Callable[[str], Awaitable[bytes]]


class SecretSource(Protocol):
    """Where a route's named secrets come from (``token_env``, ``jwt_secret_env``)."""

    def get(self, name: str, /) -> str | None: ...


class Authorizer(Protocol):
    """Decides whether a request may use a route."""

    async def authorize(self, headers: RawHeaders) -> dict[str, Any] | None:
        """The event's ``requestContext.authorizer`` (None: none); raises ``Unauthorized``, ``Forbidden`` or
        ``AuthorizerUnavailable``."""
        ...


def key_algorithms(pem: str) -> tuple[str, ...]:
    """The algorithms a PEM public key can verify, the default first; raises ``ValueError`` for anything else
    (a private key, a certificate, an HMAC secret pasted in by mistake)."""
    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        found = _EC_BY_CURVE.get(key.curve.name)
        if found is None:
            raise ValueError(f"unsupported curve {key.curve.name}; use P-256, P-384 or P-521")
        return (found,)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("EdDSA",)
    raise ValueError("not an RSA, EC or Ed25519 public key")


def bearer(headers: RawHeaders) -> str:
    """The caller's token from ``Authorization``; raises ``Unauthorized`` without exactly one usable one."""
    found: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            if found is not None:
                raise _refuse("several Authorization headers")
            found = value
    if found is None:
        raise _refuse("no Authorization header")
    if len(found) > MAX_TOKEN:
        raise _refuse("an Authorization header over the size limit")
    scheme, _, rest = found.strip().partition(b" ")
    token = rest.strip() if scheme.lower() == b"bearer" else found.strip()
    if not token or b" " in token:
        raise _refuse("Authorization is not a bearer token")
    return token.decode("latin-1")


def _refuse(reason: str) -> errors.Unauthorized:
    return errors.Unauthorized(reason=reason)


class Unconfigured:
    """The authorizer of a route whose secret is missing: it refuses every call with 503 (the log says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def authorize(self, headers: RawHeaders) -> dict[str, Any] | None:
        raise errors.AuthorizerUnavailable(reason=self.reason)


class StoredSecrets:
    """Stored secrets as routes read them: each read from the vault (``read``) once, then kept until ``forget``,
    which the vault calls when the secret is set again or removed. A secret that is not set is remembered too."""

    def __init__(self, read: Callable[[str], str | None]) -> None:
        self._read = read
        self._values: dict[str, str | None] = {}

    def get(self, name: str, /) -> str | None:
        if name not in self._values:
            self._values[name] = self._read(name)
        return self._values[name]

    def forget(self, name: str) -> None:
        """The secret ``name`` changed: read it again at its next use."""
        self._values.pop(name, None)


class StoredAuthorizer:
    """The authorizer of a route whose secret is stored: at each request it looks the secret up (in the
    ``StoredSecrets`` cache) and checks with an authorizer ``build`` made from its value, made again when the
    value changes; 503 while the secret is not set."""

    def __init__(self, secrets: SecretSource, name: str, build: Callable[[str], Authorizer], where: str) -> None:
        self._secrets = secrets
        self._name = name
        self._build = build
        self._where = where
        self._value: str | None = None
        self._inner: Authorizer | None = None

    async def authorize(self, headers: RawHeaders) -> dict[str, Any] | None:
        try:
            value = self._secrets.get(self._name)
        except errors.HearthError as error:  # a secret the master key does not open
            raise errors.AuthorizerUnavailable(reason=f"{self._where}: {error.message}") from None
        if not value:
            raise errors.AuthorizerUnavailable(reason=f"{self._where}: the secret {self._name} is not set; set it "
                                                      f"with `hearth secret set {self._name}`")
        if self._inner is None or value != self._value:
            self._inner, self._value = self._build(value), value
        return await self._inner.authorize(headers)


class TokenAuthorizer:
    """``auth = "token"``: one shared bearer token, compared in constant time."""

    def __init__(self, expected: str) -> None:
        self._expected = expected.encode()

    async def authorize(self, headers: RawHeaders) -> dict[str, Any] | None:
        if not hmac.compare_digest(bearer(headers).encode("latin-1"), self._expected):
            raise _refuse("the bearer token does not match the route's")
        return None


async def fetch_url(url: str) -> bytes:
    """GET ``url`` in a worker thread (the event loop never waits on the network), within ``FETCH_TIMEOUT_S``."""
    def get() -> bytes:
        request = urllib.request.Request(url, headers={"accept": "application/json", "user-agent": "hearth"})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 (http(s) only)
            data: bytes = response.read(MAX_JWKS + 1)
        if len(data) > MAX_JWKS:
            raise ValueError(f"the key set is over {MAX_JWKS} bytes")
        return data

    return await asyncio.wait_for(asyncio.to_thread(get), FETCH_TIMEOUT_S + 1)


class KeySet:
    """One issuer's JSON Web Key Set: fetched on first use, cached ``JWKS_TTL_S``, refetched once for an unknown
    ``kid`` (at most every ``REFETCH_MIN_S``); concurrent callers share one fetch."""

    def __init__(self, url: str, fetch: Fetch, clock: Callable[[], float]) -> None:
        self.url = url
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._verifiers: dict[tuple[str, str], jwt.PyJWK] = {}
        self._fetched = -float("inf")
        self._failed = -float("inf")
        self._pending: asyncio.Future[None] | None = None

    async def verifier(self, kid: str, alg: str) -> jwt.PyJWK | None:
        """The key ``kid`` bound to ``alg``, or None when the set has no such key (or it cannot verify ``alg``);
        raises ``AuthorizerUnavailable`` when the set cannot be fetched."""
        now = self._clock()
        age = now - self._fetched
        if age >= JWKS_TTL_S or (kid not in self._keys and age >= REFETCH_MIN_S):
            if kid not in self._keys and age < JWKS_TTL_S:
                log.info("key set %s has no key %r: fetching it again", self.url, kid)
            try:
                if now - self._failed < RETRY_S and self._pending is None:
                    raise errors.AuthorizerUnavailable(reason=f"the key set {self.url} failed moments ago")
                await self._refresh()
            except errors.AuthorizerUnavailable:
                if kid not in self._keys or age >= JWKS_TTL_S + STALE_S:
                    raise
                # The issuer is unreachable: the keys it last published still verify, for a bounded time.
        cached = self._verifiers.get((kid, alg))
        if cached is not None:
            return cached
        data = self._keys.get(kid)
        if data is None or data.get("alg", alg) != alg or data.get("use", "sig") != "sig":
            return None
        try:
            found = jwt.PyJWK(data, algorithm=alg)
        except jwt.PyJWTError:
            return None  # a key of another kind (an EC key for an RS256 token)
        self._verifiers[(kid, alg)] = found
        return found

    async def _refresh(self) -> None:
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._load())
            self._pending.add_done_callback(self._done)
        await asyncio.shield(self._pending)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._pending = None
        if not future.cancelled():
            future.exception()  # retrieved: every waiter has raised it already

    async def _load(self) -> None:
        try:
            document = orjson.loads(await self._fetch(self.url))
            entries = document["keys"]
            if not isinstance(entries, list):
                raise TypeError("keys is not a list")
        except Exception as exc:  # the network, a timeout, not JSON, not a key set: the caller gets 503
            self._failed = self._clock()
            log.warning("cannot fetch the key set %s: %s", self.url, exc or type(exc).__name__)
            raise errors.AuthorizerUnavailable(reason=f"cannot fetch the key set {self.url}") from None
        self._keys = {entry["kid"]: entry for entry in entries
                      if isinstance(entry, dict) and isinstance(entry.get("kid"), str)}
        self._verifiers = {}
        self._fetched = self._clock()


class KeySets:
    """The platform's key sets by URL, kept across route changes so a redeploy does not refetch them."""

    def __init__(self, fetch: Fetch = fetch_url, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._sets: dict[str, KeySet] = {}

    def get(self, url: str) -> KeySet:
        found = self._sets.get(url)
        if found is None:
            found = self._sets[url] = KeySet(url, self._fetch, self._clock)
        return found


class JwtAuthorizer:
    """``auth = "jwt"``: a signed token checked as API Gateway's JWT authorizer checks it."""

    def __init__(self, auth: RouteAuth, algorithms: tuple[str, ...], key: Any = None,
                 keys: KeySet | None = None) -> None:
        self.auth = auth
        self.algorithms = algorithms
        self._key = key
        self._keys = keys
        self._audience = frozenset(auth.audience)
        self._scopes = frozenset(auth.scopes)

    async def authorize(self, headers: RawHeaders) -> dict[str, Any] | None:
        token = bearer(headers)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _refuse(f"not a JWT ({exc})") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _refuse(f"algorithm {alg!r} is not allowed (allowed: {', '.join(self.algorithms)})")
        key = self._key
        if self._keys is not None:
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise _refuse("the token names no kid")
            key = await self._keys.verifier(kid, alg)
            if key is None:
                raise _refuse(f"no key {kid!r} for {alg} in {self._keys.url}")
        try:
            claims = jwt.decode(token, key, algorithms=[alg], issuer=self.auth.issuer or None, leeway=LEEWAY_S,
                                options={"require": ["exp"], "verify_aud": False,
                                         "enforce_minimum_key_length": True})
        except jwt.PyJWTError as exc:
            raise _refuse(f"the token fails verification ({type(exc).__name__}: {exc})") from None
        if self._audience:
            audience = claims.get("aud", claims.get("client_id"))
            values = audience if isinstance(audience, list) else [audience]
            if not any(isinstance(value, str) and value in self._audience for value in values):
                raise _refuse("the token's audience is not one the route accepts")
        scopes = token_scopes(claims)
        if self._scopes and not self._scopes.intersection(scopes):
            raise errors.Forbidden(reason=f"the token has none of the route's scopes {sorted(self._scopes)}")
        return {"jwt": {"claims": {str(name): claim_text(value) for name, value in claims.items()},
                        "scopes": scopes if self._scopes else None}}


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """A token's scopes: ``scope`` (space separated), else ``scp`` (a list, or space separated)."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def claim_text(value: Any) -> str:
    """A claim as API Gateway passes it to the function: a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(claim_text(item) for item in value) + "]"
    if value is None or isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


class Authorization:
    """Builds each route's authorizer from its ``RouteAuth``, the platform's secrets and its key sets."""

    def __init__(self, secrets: SecretSource | None = None, keysets: KeySets | None = None,
                 stored: SecretSource | None = None) -> None:
        self.secrets: SecretSource = secrets if secrets is not None else {}
        self.keysets = keysets if keysets is not None else KeySets()
        self.stored: SecretSource = stored if stored is not None else {}  # the secrets store (StoredSecrets)

    def authorizer(self, auth: RouteAuth, where: str) -> Authorizer:
        """The authorizer of a route (``where`` names it in the log); a missing or unusable secret gives one
        that answers 503."""
        if auth.kind == "token" and auth.token_secret:
            return StoredAuthorizer(self.stored, auth.token_secret, TokenAuthorizer, where)
        if auth.kind == "token":
            token = self.secrets.get(auth.token_env)
            if not token:
                return self._unconfigured(f"{where}: token_env {auth.token_env} is not set in the platform's "
                                          "environment")
            return TokenAuthorizer(token)
        if auth.jwks_url:  # never HMAC: a key set publishes public keys
            algorithms = tuple(alg for alg in auth.algorithms if alg in PUBLIC_ALGORITHMS) or ("RS256",)
            return JwtAuthorizer(auth, algorithms, keys=self.keysets.get(auth.jwks_url))
        if auth.jwt_key:
            try:
                usable = key_algorithms(auth.jwt_key)
            except ValueError as exc:
                return self._unconfigured(f"{where}: jwt_key: {exc}")
            algorithms = tuple(alg for alg in auth.algorithms if alg in usable) if auth.algorithms else usable[:1]
            return JwtAuthorizer(auth, algorithms, key=load_pem_public_key(auth.jwt_key.encode()))
        algorithms = tuple(alg for alg in auth.algorithms if alg in HMAC_ALGORITHMS) or ("HS256",)
        if auth.jwt_hmac_secret:
            def hmac_authorizer(secret: str) -> Authorizer:
                if len(secret.encode()) < MIN_SECRET:
                    return self._unconfigured(f"{where}: the secret {auth.jwt_hmac_secret} (jwt_hmac_secret) is "
                                              f"shorter than {MIN_SECRET} bytes")
                return JwtAuthorizer(auth, algorithms, key=secret.encode())

            return StoredAuthorizer(self.stored, auth.jwt_hmac_secret, hmac_authorizer, where)
        secret = self.secrets.get(auth.jwt_secret_env)
        if not secret or len(secret.encode()) < MIN_SECRET:
            return self._unconfigured(f"{where}: jwt_secret_env {auth.jwt_secret_env} is not set in the platform's "
                                      f"environment, or is shorter than {MIN_SECRET} bytes")
        return JwtAuthorizer(auth, algorithms, key=secret.encode())

    @staticmethod
    def _unconfigured(reason: str) -> Unconfigured:
        log.warning("route auth: %s; the route answers 503 until it is", reason)
        return Unconfigured(reason)
