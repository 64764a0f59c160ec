"""Authentication of the control API: AWS Signature Version 4 (what boto3 and the AWS CLI send) and bearer tokens.

The control API is never open. A request carries either

* ``Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/lambda/aws4_request, SignedHeaders=…, Signature=…``
  with ``X-Amz-Date`` (or ``Date``): checked by recomputing the canonical request the way botocore builds it for
  the ``lambda`` service (``sqs`` for the SQS API: the caller says which ``services`` a request may be signed for).
  Any region is accepted, because the client signs with whatever region it is configured for; the service must be
  the right one, so a client pointed at the wrong service hears so instead of a bare mismatch.
* ``Authorization: Bearer <token>``, for Hearth's own CLI and scripts.

Presigned URLs (SigV4 in the query string) are refused: no Lambda client makes them, and a URL that carries a
signature ends up in shell history and access logs.

The keys live in ``<data_dir>/credentials.json``, created on first start with mode 0600. A file found with group
or other permission bits is tightened to 0600 rather than refused, since Hearth wrote it and the fix is certain;
when it cannot be tightened (read-only mount, another owner) start-up fails with a ``ConfigError``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import string
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes, urlsplit

from hearth.errors import AccessDenied, ConfigError, InvalidSignature
from hearth.model import REGION
from hearth.private_file import write_private

CREDENTIALS_FILE = "credentials.json"
ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "lambda"
MAX_SKEW_S = 300

_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits  # no "/" or "+": the secret pastes cleanly into a shell
# botocore never signs these (hop-by-hop, or rewritten by proxies); `sign` skips them too so both sign alike.
_UNSIGNED_HEADERS = frozenset({
    "authorization", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
})

_MISSING = (
    "Missing Authentication Token: sign requests with SigV4 (boto3 and the AWS CLI do) using the key printed by "
    "`hearth serve`, or send Authorization: Bearer <token>"
)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
_AUTHORIZATION_SHAPE = (
    f"{ALGORITHM} Credential=KEY/YYYYMMDD/REGION/{SERVICE}/aws4_request, SignedHeaders=host;x-amz-date, "
    "Signature=<64 hex digits>"
)


@dataclass(frozen=True)
class Credentials:
    """An access key pair for SigV4 clients plus a bearer token for Hearth's own CLI; only the key id is public."""

    access_key_id: str
    # Kept out of repr so a logged or printed Credentials never shows a secret.
    secret_access_key: str = field(repr=False)
    token: str = field(repr=False)
    # The services these credentials may call; None: all of them (the admin key). Functions get a key for "sqs".
    services: frozenset[str] | None = None

    def allows(self, services: Sequence[str]) -> bool:
        """Whether these credentials may call an operation of one of ``services``."""
        return self.services is None or any(service in self.services for service in services)


Lookup = Callable[[str], Credentials | None]


def keyring(credentials: Iterable[Credentials]) -> Lookup:
    """A ``lookup`` for ``verify`` that finds credentials by access key id or by bearer token."""
    index: dict[str, Credentials] = {}
    for item in credentials:
        index[item.access_key_id] = item
        index[item.token] = item
    return index.get


def new_credentials(services: frozenset[str] | None = None) -> Credentials:
    """A fresh key pair and token: ``HK`` + 18 of [A-Z0-9], a 40-character secret, ``hearth_`` + 43; ``services``
    limits what they may call (None: everything, an admin key)."""
    return Credentials(
        access_key_id="HK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18)),
        secret_access_key="".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
        token="hearth_" + secrets.token_urlsafe(32),
        services=services,
    )


def load_or_create_credentials(data_dir: Path) -> tuple[Credentials, bool]:
    """The credentials in ``data_dir/credentials.json``, creating the file first if missing; ``(creds, created)``."""
    path = data_dir / CREDENTIALS_FILE
    found = _read(path)
    if found is not None:
        return found, False
    created = _create(path)
    if created is not None:
        return created, True
    # Another process created the file between our read and our link: use its keys, which it may have printed.
    found = _read(path)
    if found is None:
        raise ConfigError(f"{path} exists but cannot be opened (a dangling symlink?); remove it and start again")
    return found, False


def verify(
    method: str,
    raw_path: bytes,
    query_string: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    lookup: Lookup,
    now: float,
    services: Sequence[str] = (SERVICE,),
) -> Credentials:
    """The credentials that authenticate this request, or ``AccessDenied``/``InvalidSignature`` saying why not.
    A SigV4 request must be signed for one of ``services`` (``lambda``; ``sqs`` on the SQS API).

    The arguments are the ASGI request parts: ``raw_path`` percent-encoded as the client sent and signed it (so
    without a ``root_path`` the server added), header names lower-case.
    ``lookup`` is called with the access key id (SigV4) or the token (bearer); see ``keyring``.
    """
    decoded = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
    authorization = _single(decoded, "authorization")
    if authorization is None:
        if b"X-Amz-Signature=" in query_string:
            raise AccessDenied(f"Presigned URLs are not accepted. {_MISSING}")
        raise AccessDenied(_MISSING)
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme == ALGORITHM:
        return _verify_sigv4(method, raw_path, query_string, decoded, body, rest, lookup, now, services)
    if scheme.lower() == "bearer":
        return _verify_bearer(rest.strip(), lookup)
    raise AccessDenied(f"Unsupported Authorization scheme {scheme!r}. {_MISSING}")


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    *,
    region: str = REGION,
    service: str = SERVICE,
    now: float | None = None,
) -> dict[str, str]:
    """The headers to send: ``headers`` plus ``Host``, ``X-Amz-Date`` (or a rewritten ``Date``) and ``Authorization``.

    Signs as botocore's ``SigV4Auth`` does, so the result verifies here and anywhere else SigV4 is checked.
    """
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    timestamp = moment.strftime(_AMZ_DATE)
    lowered = {name.lower() for name in headers}
    out = {name: value for name, value in headers.items() if name.lower() not in ("authorization", "x-amz-date")}
    if "date" in lowered:
        # botocore keeps a caller's Date header, rewritten to the signing time, and then sends no X-Amz-Date.
        out = {name: value for name, value in out.items() if name.lower() != "date"}
        out["Date"] = formatdate(int(moment.timestamp()))
    else:
        out["X-Amz-Date"] = timestamp
    if "host" not in lowered:
        # Sent explicitly because urllib would keep a default port in Host that botocore leaves out when signing.
        out["Host"] = _host_from_url(url)
    signed = sorted({name.lower() for name in out} - _UNSIGNED_HEADERS)
    payload_hash = next((v for k, v in out.items() if k.lower() == "x-amz-content-sha256"), None)
    parts = urlsplit(url)
    canonical = _canonical_request(
        method.upper(),
        parts.path.encode("utf-8"),
        parts.query.encode("utf-8"),
        out.items(),
        signed,
        payload_hash or hashlib.sha256(body).hexdigest(),
    )
    signature = _signature(credentials.secret_access_key, timestamp, region, service, canonical)
    scope = f"{credentials.access_key_id}/{timestamp[:8]}/{region}/{service}/aws4_request"
    out["Authorization"] = f"{ALGORITHM} Credential={scope}, SignedHeaders={';'.join(signed)}, Signature={signature}"
    return out


@dataclass(frozen=True)
class _Authorization:
    """The parts of a SigV4 ``Authorization`` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _verify_bearer(token: str, lookup: Lookup) -> Credentials:
    found = lookup(token) if token else None
    # The lookup may also be keyed by access key id, which is not secret: only an exact token match counts.
    if found is None or not hmac.compare_digest(found.token.encode(), token.encode()):
        raise AccessDenied(
            "The bearer token is not valid: send the token printed by `hearth serve` "
            f"(kept in {CREDENTIALS_FILE} in Hearth's data directory)"
        )
    return found


def _verify_sigv4(
    method: str,
    raw_path: bytes,
    query_string: bytes,
    headers: list[tuple[str, str]],
    body: bytes,
    params: str,
    lookup: Lookup,
    now: float,
    services: Sequence[str] = (SERVICE,),
) -> Credentials:
    auth = _parse_authorization(params, services)
    found = lookup(auth.access_key_id)
    if found is None or found.access_key_id != auth.access_key_id:
        raise AccessDenied(
            f"The security token included in the request is invalid: unknown access key id {auth.access_key_id!r}; "
            f"use the key printed by `hearth serve` (kept in {CREDENTIALS_FILE} in Hearth's data directory)"
        )
    timestamp = _request_timestamp(headers)
    if timestamp[:8] != auth.date:
        raise InvalidSignature(
            f"Date in Credential scope ({auth.date}) does not match YYYYMMDD from the request time ({timestamp})"
        )
    _check_skew(timestamp, now)
    payload_hash = hashlib.sha256(body).hexdigest()
    declared = _single(headers, "x-amz-content-sha256")
    if declared is not None:
        if declared.strip().lower() != payload_hash:
            raise InvalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
        payload_hash = declared  # botocore signs the header's value verbatim
    try:
        canonical = _canonical_request(method, raw_path, query_string, headers, auth.signed_headers, payload_hash)
    except KeyError as missing:
        raise InvalidSignature(f"Header {missing.args[0]!r} is listed in SignedHeaders but not sent") from None
    expected = _signature(found.secret_access_key, timestamp, auth.region, auth.service, canonical)
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignature(_MISMATCH)
    return found


def _parse_authorization(params: str, services: Sequence[str] = (SERVICE,)) -> _Authorization:
    fields: dict[str, str] = {}
    for part in params.split(","):
        name, equals, value = part.strip().partition("=")
        if equals:
            fields[name] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise InvalidSignature(
            f"Authorization header requires {', '.join(missing)}; expected: {_AUTHORIZATION_SHAPE}"
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise InvalidSignature(
            f"Credential should be KEY/YYYYMMDD/REGION/{SERVICE}/aws4_request, not {fields['Credential']!r}"
        )
    if scope[3] not in services:
        raise InvalidSignature(f"Credential should be scoped to correct service: '{services[0]}', not {scope[3]!r}")
    signed = tuple(fields["SignedHeaders"].split(";"))
    if "host" not in signed:
        raise InvalidSignature(f"'host' must be a SignedHeader in the Authorization header; expected: "
                               f"{_AUTHORIZATION_SHAPE}")
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise InvalidSignature(f"Signature must be 64 lower-case hex digits; expected: {_AUTHORIZATION_SHAPE}")
    return _Authorization(scope[0], scope[1], scope[2], scope[3], signed, fields["Signature"])


def _request_timestamp(headers: list[tuple[str, str]]) -> str:
    """The request time as ``YYYYMMDDTHHMMSSZ``, from ``X-Amz-Date`` or else ``Date``, as botocore signs it."""
    amz_date = _single(headers, "x-amz-date")
    if amz_date is not None:
        try:
            datetime.strptime(amz_date, _AMZ_DATE)
        except ValueError:
            raise InvalidSignature(f"X-Amz-Date must look like 20261121T101010Z, not {amz_date!r}") from None
        return amz_date
    date = _single(headers, "date")
    if date is None:
        raise InvalidSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    try:
        moment = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise InvalidSignature(f"Date must be an RFC 7231 date, not {date!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # "-0000" means UTC with no zone claimed
    return moment.astimezone(UTC).strftime(_AMZ_DATE)


def _check_skew(timestamp: str, now: float) -> None:
    """Refuse a request signed more than ``MAX_SKEW_S`` away from ``now``, so a captured request soon goes stale."""
    signed_at = datetime.strptime(timestamp, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
    minutes = MAX_SKEW_S // 60
    if signed_at < now - MAX_SKEW_S:
        raise InvalidSignature(
            f"Signature expired: {timestamp} is now earlier than {_amz_date(now - MAX_SKEW_S)} "
            f"({_amz_date(now)} - {minutes} min.)"
        )
    if signed_at > now + MAX_SKEW_S:
        raise InvalidSignature(
            f"Signature not yet current: {timestamp} is still later than {_amz_date(now + MAX_SKEW_S)} "
            f"({_amz_date(now)} + {minutes} min.)"
        )


def _amz_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(_AMZ_DATE)


def _single(headers: list[tuple[str, str]], name: str) -> str | None:
    """The one value of header ``name``; a repeated header is refused, since either copy could be the signed one."""
    values = [value for key, value in headers if key.lower() == name]
    if len(values) > 1:
        raise InvalidSignature(f"Header {name!r} must be sent once, not {len(values)} times")
    return values[0] if values else None


def _canonical_request(
    method: str,
    path: bytes,
    query: bytes,
    headers: Iterable[tuple[str, str]],
    signed: Sequence[str],
    payload_hash: str,
) -> str:
    """SigV4's canonical request; raises ``KeyError`` naming a signed header absent from ``headers``."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(" ".join(value.split()))
    canonical_headers = "".join(f"{name}:{','.join(grouped[name])}\n" for name in signed)
    return "\n".join(
        [method, _canonical_uri(path), _canonical_query(query), canonical_headers, ";".join(signed), payload_hash]
    )


def _canonical_uri(path: bytes) -> str:
    """The path with dot segments and empty segments removed, then percent-encoded once more.

    Lambda's paths are encoded twice: botocore quotes the already-encoded path again (``%3A`` becomes ``%253A``).
    """
    kept: list[bytes] = []
    for segment in path.split(b"/"):
        if segment == b"..":
            if kept:
                kept.pop()
        elif segment and segment != b".":
            kept.append(segment)
    lead = b"/" if path.startswith(b"/") or not path else b""
    trail = b"/" if path.endswith(b"/") and kept else b""
    return quote(lead + b"/".join(kept) + trail, safe="/~")


def _canonical_query(query: bytes) -> str:
    """Each name and value decoded, then encoded strictly (only ``A-Za-z0-9-_.~`` bare), sorted by name then value."""
    if not query:
        return ""
    pairs = []
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        pairs.append((quote(unquote_to_bytes(name), safe="-_.~"), quote(unquote_to_bytes(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _signature(secret: str, timestamp: str, region: str, service: str, canonical_request: str) -> str:
    date = timestamp[:8]
    string_to_sign = "\n".join([
        ALGORITHM,
        timestamp,
        f"{date}/{region}/{service}/aws4_request",
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _host_from_url(url: str) -> str:
    """The Host value botocore signs: lower-case host, IPv6 in brackets, the port only when not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _read(path: Path) -> Credentials | None:
    """The credentials in ``path``, or ``None`` if there is no such file; anything else wrong is a ``ConfigError``."""
    try:
        with open(path, "rb") as file:
            if stat.S_IMODE(os.fstat(file.fileno()).st_mode) & 0o077:
                _tighten(path, file.fileno())
            raw = file.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(
            f"Cannot read {path}: {error.strerror}; make it a file Hearth's user can read, or choose another data "
            "directory"
        ) from None
    try:
        data = json.loads(raw)
        return Credentials(
            access_key_id=_field(data, "access_key_id"),
            secret_access_key=_field(data, "secret_access_key"),
            token=_field(data, "token"),
        )
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"{path} is corrupt ({error}); restore it from a backup, or delete it so that `hearth serve` creates "
            "new keys (clients then need the new ones)"
        ) from None


def _field(data: object, name: str) -> str:
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name!r} must be a non-empty string")
    return value


def _tighten(path: Path, fd: int) -> None:
    try:
        os.fchmod(fd, 0o600)
    except OSError as error:
        raise ConfigError(
            f"{path} holds secret keys but is readable by other users, and Hearth cannot change that "
            f"({error.strerror}); run `chmod 600 {path}` (or mount it with mode 0600)"
        ) from None


def _create(path: Path) -> Credentials | None:
    """Write fresh credentials to ``path``; ``None`` if another process created the file first."""
    credentials = new_credentials()
    data = {
        "access_key_id": credentials.access_key_id,
        "secret_access_key": credentials.secret_access_key,
        "token": credentials.token,
    }
    try:
        written = write_private(path, json.dumps(data, indent=2).encode() + b"\n", exclusive=True)
    except OSError as error:
        raise ConfigError(
            f"Cannot create {path}: {error.strerror}; make {path.parent} writable or choose another data directory"
        ) from None
    return credentials if written else None
