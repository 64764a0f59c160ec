"""The control API's authentication: botocore's own SigV4 signatures verify, anything altered does not."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from hearth.api.auth import Credentials, keyring, load_or_create_credentials, sign, verify
from hearth.errors import AccessDenied, ConfigError, InvalidSignature

SIGNED_AT = datetime(2026, 11, 21, 10, 10, 10, tzinfo=UTC)
NOW = SIGNED_AT.timestamp()
ENDPOINT = "http://127.0.0.1:9001"
CREDS = Credentials("HKTESTTESTTESTTEST01", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00", "hearth_" + "t" * 43)
OTHER = Credentials("HKOTHEROTHEROTHER002", "x" * 40, "hearth_" + "o" * 43)
LOOKUP = keyring([CREDS, OTHER])
ARN = "arn:aws:lambda:us-east-1:000000000000:function:my-fn:live"
ARN_INVOKE = f"{ENDPOINT}/2015-03-31/functions/{quote(ARN, safe='')}/invocations"


@dataclasses.dataclass(frozen=True)
class Asgi:
    """The request parts an ASGI server (Hearth's own) hands to an app."""

    method: str
    raw_path: bytes
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes, value: bytes) -> Asgi:
        """This request with header ``name`` set to ``value`` (replacing any copy)."""
        kept = [(key, old) for key, old in self.headers if key != name]
        return dataclasses.replace(self, headers=[*kept, (name, value)])


@pytest.fixture(autouse=True)
def frozen_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs at SIGNED_AT (it reads the time through botocore.auth.get_current_datetime)."""
    frozen = SIGNED_AT.replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: frozen)


def on_the_wire(url: str, method: str, headers: Mapping[str, str | bytes], body: bytes | None) -> Asgi:
    """What an ASGI server makes of a request sent to ``url``: raw path as sent, lower-case names, the Host
    urllib3 adds."""
    parts = urlsplit(url)
    wire = [
        (name.lower().encode("latin-1"), value if isinstance(value, bytes) else value.encode("latin-1"))
        for name, value in headers.items()
    ]
    if not any(name == b"host" for name, _ in wire):
        wire.insert(0, (b"host", parts.netloc.removesuffix(":80").encode()))
    return Asgi(method, parts.path.encode("ascii"), parts.query.encode("ascii"), wire, body or b"")


def botocore_signed(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    region: str = "us-east-1",
    secret: str = CREDS.secret_access_key,
    service: str = "lambda",
) -> Asgi:
    """A request signed by botocore's SigV4Auth, as the server receives it."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(BotoCredentials(CREDS.access_key_id, secret), service, region).add_auth(request)
    prepared: AWSPreparedRequest = request.prepare()
    assert isinstance(prepared.body, bytes | None)
    return on_the_wire(prepared.url, prepared.method, dict(prepared.headers.items()), prepared.body)


def check(request: Asgi, now: float = NOW) -> Credentials:
    return verify(request.method, request.raw_path, request.query_string, request.headers, request.body, LOOKUP, now)


def invoke_request(**kwargs: Any) -> Asgi:
    body = json.dumps({"hello": "world", "n": [1, 2, 3]}).encode()
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}
    return botocore_signed("POST", f"{ENDPOINT}/2015-03-31/functions/my-fn/invocations", body, headers, **kwargs)


def list_request() -> Asgi:
    query = "Marker=abc%2Fdef%3D%3D&MaxItems=50&Qualifier=%24LATEST"
    return botocore_signed("GET", f"{ENDPOINT}/2015-03-31/functions/?{query}")


# --- botocore's signatures verify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(invoke_request, id="invoke-json"),
        pytest.param(list_request, id="query-params"),
        pytest.param(
            lambda: botocore_signed("POST", ARN_INVOKE, b"{}"),
            id="arn-with-alias",
        ),
        pytest.param(
            lambda: botocore_signed("GET", f"{ENDPOINT}/2015-03-31/functions/my-fn/aliases/live?FunctionVersion=%241"),
            id="alias-path",
        ),
        pytest.param(
            lambda: botocore_signed("POST", f"{ENDPOINT}/2015-03-31/functions/my-fn/invocations"), id="empty-body"
        ),
        pytest.param(
            lambda: botocore_signed("GET", f"{ENDPOINT}/2015-03-31/functions?Qualifier=7&MaxItems=2&Marker=z&Marker=a"),
            id="unsorted-query",
        ),
        pytest.param(lambda: invoke_request(region="eu-west-3"), id="other-region"),
        pytest.param(lambda: botocore_signed("GET", "http://localhost/hearth/health"), id="default-port"),
        pytest.param(
            lambda: botocore_signed("GET", f"{ENDPOINT}/hearth/health", headers={"Date": "x"}),
            id="date-header-not-x-amz-date",
        ),
    ],
)
def test_botocore_signed_requests_verify(make: Callable[[], Asgi]) -> None:
    assert check(make()) == CREDS


def test_the_arn_path_is_double_encoded_as_botocore_signs_it() -> None:
    request = botocore_signed("POST", ARN_INVOKE, b"{}")
    assert b"%3A" in request.raw_path
    assert check(request) == CREDS
    # Reading the path once decoded is the classic mistake; it must not verify.
    decoded = dataclasses.replace(request, raw_path=request.raw_path.replace(b"%3A", b":"))
    with pytest.raises(InvalidSignature):
        check(decoded)


@pytest.fixture
def lambda_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """A real boto3 Lambda client whose requests are captured just before they would be sent."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))

    class Captured(Exception):
        pass

    def make(region: str = "us-east-1") -> tuple[Any, Callable[[Callable[[], object]], Asgi]]:
        session = boto3.session.Session(
            aws_access_key_id=CREDS.access_key_id, aws_secret_access_key=CREDS.secret_access_key, region_name=region
        )
        client = session.client("lambda", endpoint_url=ENDPOINT)
        sent: list[AWSPreparedRequest] = []

        def capture(request: AWSPreparedRequest, **_: object) -> None:
            sent.append(request)
            raise Captured

        client.meta.events.register("before-send.lambda", capture)

        def call(operation: Callable[[], object]) -> Asgi:
            with pytest.raises(Captured):
                operation()
            request = sent[-1]
            body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
            return on_the_wire(request.url, request.method, dict(request.headers.items()), body)

        return client, call

    yield make


def test_requests_from_a_real_boto3_lambda_client_verify(lambda_client: Callable[..., Any]) -> None:
    client, call = lambda_client()
    invoke = call(lambda: client.invoke(FunctionName=ARN, Payload=b'{"a": 1}'))
    assert invoke.raw_path == b"/2015-03-31/functions/" + quote(ARN, safe="").encode() + b"/invocations"
    assert check(invoke) == CREDS
    qualified = call(lambda: client.invoke(FunctionName="my-fn", Qualifier="live", Payload=b""))
    assert qualified.query_string == b"Qualifier=live"
    assert check(qualified) == CREDS
    listing = call(lambda: client.list_functions(Marker="a/b c==", MaxItems=5))
    assert check(listing) == CREDS

    client, call = lambda_client("ap-southeast-2")
    assert check(call(lambda: client.get_function(FunctionName=ARN))) == CREDS


# --- our sign is botocore's -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "region"),
    [
        ("POST", f"{ENDPOINT}/2015-03-31/functions/my-fn/invocations", {"Content-Type": "application/json"},
         b'{"x": 1}', "us-east-1"),
        ("GET", f"{ENDPOINT}/2015-03-31/functions/?Qualifier=%24LATEST&MaxItems=10&Marker=m%2F1", {}, b"", "us-east-1"),
        ("POST", ARN_INVOKE, {}, b"", "eu-central-1"),
        ("GET", "http://LOCALHOST:80/hearth/health", {"X-Trace": "  a   b  "}, b"", "us-east-1"),
        ("GET", f"{ENDPOINT}/hearth/health", {"Date": "anything", "User-Agent": "hearth-cli"}, b"", "us-east-1"),
    ],
)
def test_sign_matches_botocore_and_verifies(
    method: str, url: str, headers: dict[str, str], body: bytes, region: str
) -> None:
    ours = sign(method, url, headers, body, CREDS, region=region, now=NOW + 0.9)

    theirs = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(BotoCredentials(CREDS.access_key_id, CREDS.secret_access_key), "lambda", region).add_auth(theirs)
    assert ours["Authorization"] == theirs.headers["Authorization"]
    assert ours.get("X-Amz-Date") == theirs.headers.get("X-Amz-Date")
    assert ours.get("Date") == theirs.headers.get("Date")

    assert check(on_the_wire(url, method, ours, body)) == CREDS


def test_a_request_signed_for_sqs_verifies_only_where_sqs_is_served() -> None:
    body = b'{"QueueName": "q"}'
    request = botocore_signed("POST", f"{ENDPOINT}/", body, {"X-Amz-Target": "AmazonSQS.GetQueueUrl",
                                                             "Content-Type": "application/x-amz-json-1.0"},
                              service="sqs")
    assert verify(request.method, request.raw_path, request.query_string, request.headers, request.body, LOOKUP,
                  NOW, ("sqs",)) == CREDS
    with pytest.raises(InvalidSignature, match="scoped to correct service: 'lambda', not 'sqs'"):
        check(request)
    ours = sign("POST", f"{ENDPOINT}/", {}, body, CREDS, service="sqs", now=NOW)
    assert verify("POST", b"/", b"", on_the_wire(f"{ENDPOINT}/", "POST", ours, body).headers, body, LOOKUP, NOW,
                  ("sqs",)) == CREDS


def test_sign_sends_host_without_the_default_port() -> None:
    signed = sign("GET", "http://127.0.0.1:80/hearth/health", {}, b"", CREDS, now=NOW)
    assert signed["Host"] == "127.0.0.1"
    assert signed["X-Amz-Date"] == "20261121T101010Z"
    assert signed["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={CREDS.access_key_id}/20261121/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature="
    )


# --- anything altered is refused ----------------------------------------------------------------------------------


def test_a_wrong_secret_is_an_invalid_signature() -> None:
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        check(invoke_request(secret="not-the-secret"))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: dataclasses.replace(r, body=r.body + b" "), id="body"),
        pytest.param(lambda r: dataclasses.replace(r, raw_path=r.raw_path.replace(b"my-fn", b"my-fm")), id="path"),
        pytest.param(lambda r: dataclasses.replace(r, method="PUT"), id="method"),
        pytest.param(lambda r: r.header(b"content-type", b"text/plain"), id="signed-header"),
        pytest.param(lambda r: r.header(b"x-amz-invocation-type", b"Event"), id="invocation-type"),
        pytest.param(lambda r: r.header(b"host", b"evil.example:9001"), id="host"),
    ],
)
def test_a_tampered_request_is_an_invalid_signature(tamper: Callable[[Asgi], Asgi]) -> None:
    request = invoke_request()
    assert check(request) == CREDS
    with pytest.raises(InvalidSignature):
        check(tamper(request))


@pytest.mark.parametrize(
    "query", [b"Marker=abc%2Fdef%3D%3D&MaxItems=51&Qualifier=%24LATEST", b"Marker=abc%2Fdef%3D%3D&MaxItems=50"]
)
def test_a_tampered_query_is_an_invalid_signature(query: bytes) -> None:
    with pytest.raises(InvalidSignature):
        check(dataclasses.replace(list_request(), query_string=query))


def test_unsigned_headers_may_change() -> None:
    assert check(invoke_request().header(b"user-agent", b"something/else")) == CREDS


def test_a_payload_hash_header_must_match_the_body() -> None:
    body = b'{"a": 1}'
    lying = {"X-Amz-Content-SHA256": hashlib.sha256(b"another body").hexdigest()}
    with pytest.raises(InvalidSignature, match="x-amz-content-sha256"):
        check(botocore_signed("POST", f"{ENDPOINT}/x", body, lying))
    honest = {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    assert check(botocore_signed("POST", f"{ENDPOINT}/x", body, honest)) == CREDS


def test_an_unknown_access_key_is_access_denied_not_a_signature_error() -> None:
    request = invoke_request()
    stranger = dataclasses.replace(request, headers=[
        (name, value.replace(CREDS.access_key_id.encode(), b"HKUNKNOWNUNKNOWN0000")) for name, value in request.headers
    ])
    with pytest.raises(AccessDenied, match="unknown access key id 'HKUNKNOWNUNKNOWN0000'") as caught:
        check(stranger)
    assert caught.type is AccessDenied


def test_a_token_is_not_an_access_key_id() -> None:
    request = invoke_request()
    posing = dataclasses.replace(request, headers=[
        (name, value.replace(CREDS.access_key_id.encode(), CREDS.token.encode())) for name, value in request.headers
    ])
    with pytest.raises(AccessDenied) as caught:
        check(posing)
    assert caught.type is AccessDenied


def test_a_missing_authorization_header_is_access_denied_and_says_what_to_do() -> None:
    request = invoke_request()
    bare = dataclasses.replace(request, headers=[(n, v) for n, v in request.headers if n != b"authorization"])
    with pytest.raises(AccessDenied, match="Missing Authentication Token.*hearth serve.*Bearer") as caught:
        check(bare)
    assert caught.type is AccessDenied


def test_an_unknown_scheme_is_access_denied() -> None:
    with pytest.raises(AccessDenied, match="Unsupported Authorization scheme 'Basic'") as caught:
        check(invoke_request().header(b"authorization", b"Basic dXNlcjpwYXNz"))
    assert caught.type is AccessDenied


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (b"AWS4-HMAC-SHA256 Credential=HKTESTTESTTESTTEST01/20261121/us-east-1/lambda/aws4_request",
         "requires SignedHeaders, Signature"),
        (b"AWS4-HMAC-SHA256 Credential=HKTESTTESTTESTTEST01/20261121/us-east-1/lambda, SignedHeaders=host, "
         b"Signature=" + b"0" * 64, "Credential should be"),
        (b"AWS4-HMAC-SHA256 Credential=HKTESTTESTTESTTEST01/20261121/us-east-1/s3/aws4_request, SignedHeaders=host, "
         b"Signature=" + b"0" * 64, "scoped to correct service: 'lambda'"),
        (b"AWS4-HMAC-SHA256 Credential=HKTESTTESTTESTTEST01/20261121/us-east-1/lambda/aws4_request, "
         b"SignedHeaders=x-amz-date, Signature=" + b"0" * 64, "'host' must be a SignedHeader"),
        (b"AWS4-HMAC-SHA256 Credential=HKTESTTESTTESTTEST01/20261121/us-east-1/lambda/aws4_request, "
         b"SignedHeaders=host, Signature=xyz", "64 lower-case hex digits"),
        (b"AWS4-HMAC-SHA256 Credential=HKTESTTESTTESTTEST01/20261120/us-east-1/lambda/aws4_request, "
         b"SignedHeaders=host;x-amz-date, Signature=" + b"0" * 64, "does not match YYYYMMDD"),
        (b"AWS4-HMAC-SHA256 Credential=HKTESTTESTTESTTEST01/20261121/us-east-1/lambda/aws4_request, "
         b"SignedHeaders=host;x-amz-date;x-missing, Signature=" + b"0" * 64, "'x-missing' is listed in SignedHeaders"),
    ],
)
def test_a_malformed_signature_header_says_what_is_wrong(authorization: bytes, message: str) -> None:
    with pytest.raises(InvalidSignature, match=re.escape(message)):
        check(invoke_request().header(b"authorization", authorization))


def test_a_repeated_authorization_header_is_refused() -> None:
    request = invoke_request()
    doubled = dataclasses.replace(request, headers=[*request.headers, (b"authorization", b"Bearer " + b"x" * 10)])
    with pytest.raises(InvalidSignature, match="must be sent once"):
        check(doubled)


def test_a_presigned_url_is_refused_with_a_reason() -> None:
    request = dataclasses.replace(list_request(), query_string=b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab")
    bare = dataclasses.replace(request, headers=[(n, v) for n, v in request.headers if n != b"authorization"])
    with pytest.raises(AccessDenied, match="Presigned URLs are not accepted"):
        check(bare)


# --- the time window --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [-4, 0, 4, 5])
def test_a_request_within_five_minutes_verifies(minutes: int) -> None:
    assert check(invoke_request(), now=NOW + minutes * 60) == CREDS


def test_a_request_six_minutes_old_has_expired() -> None:
    later = NOW + 6 * 60
    expected = "Signature expired: 20261121T101010Z is now earlier than 20261121T101110Z (20261121T101610Z - 5 min.)"
    with pytest.raises(InvalidSignature, match=re.escape(expected)):
        check(invoke_request(), now=later)


def test_a_request_six_minutes_in_the_future_is_not_yet_current() -> None:
    earlier = NOW - 6 * 60
    with pytest.raises(InvalidSignature, match=re.escape("Signature not yet current: 20261121T101010Z is still later")):
        check(invoke_request(), now=earlier)


def test_a_request_without_any_date_is_refused() -> None:
    request = invoke_request()
    undated = dataclasses.replace(request, headers=[(n, v) for n, v in request.headers if n != b"x-amz-date"])
    with pytest.raises(InvalidSignature, match="'X-Amz-Date' or a 'Date' header"):
        check(undated)


def test_a_date_header_outside_the_window_has_expired() -> None:
    request = botocore_signed("GET", f"{ENDPOINT}/hearth/health", headers={"Date": "x"})
    assert check(request, now=NOW + 299) == CREDS
    with pytest.raises(InvalidSignature, match="Signature expired"):
        check(request, now=(SIGNED_AT + timedelta(minutes=6)).timestamp())


# --- bearer tokens ------------------------------------------------------------------------------------------------


def bearer(token: str) -> Asgi:
    headers = [(b"host", b"127.0.0.1:9001"), (b"authorization", token.encode())]
    return Asgi("GET", b"/hearth/instances", b"", headers, b"")


def test_a_bearer_token_authenticates() -> None:
    assert check(bearer(f"Bearer {CREDS.token}")) == CREDS
    assert check(bearer(f"bearer {OTHER.token}")) == OTHER


@pytest.mark.parametrize(
    "authorization", [f"Bearer {CREDS.token}x", "Bearer hearth_wrong", "Bearer ", f"Bearer {CREDS.access_key_id}"]
)
def test_a_wrong_bearer_token_is_access_denied(authorization: str) -> None:
    with pytest.raises(AccessDenied, match="bearer token is not valid") as caught:
        check(bearer(authorization))
    assert caught.type is AccessDenied


# --- the credentials file -----------------------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave new files world-readable, to show the file's mode does not depend on it."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_credentials_are_created_private_and_then_reused(tmp_path: Path, open_umask: None) -> None:
    data_dir = tmp_path / "deep" / "data"
    created, was_created = load_or_create_credentials(data_dir)
    assert was_created
    path = data_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == ["credentials.json"]  # no temporary file left behind
    assert re.fullmatch(r"HK[A-Z0-9]{18}", created.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9]{40}", created.secret_access_key)
    assert re.fullmatch(r"hearth_[A-Za-z0-9_-]{43}", created.token)

    again, was_created = load_or_create_credentials(data_dir)
    assert (again, was_created) == (created, False)


def test_fresh_credentials_differ(tmp_path: Path) -> None:
    first, _ = load_or_create_credentials(tmp_path / "a")
    second, _ = load_or_create_credentials(tmp_path / "b")
    assert first.access_key_id != second.access_key_id
    assert first.secret_access_key != second.secret_access_key
    assert first.token != second.token


def test_a_readable_credentials_file_is_tightened(tmp_path: Path) -> None:
    created, _ = load_or_create_credentials(tmp_path)
    path = tmp_path / "credentials.json"
    path.chmod(0o644)
    assert load_or_create_credentials(tmp_path) == (created, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'{"access_key_id": "HK1", "secret_access_key": "s"}', b"\xff\xfe", b""],
)
def test_a_corrupt_credentials_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "credentials.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ".*delete it"):
        load_or_create_credentials(tmp_path)


def test_an_unwritable_data_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=re.escape(str(blocker / "data"))):
        load_or_create_credentials(blocker / "data")


def test_secrets_stay_out_of_repr() -> None:
    shown = repr(CREDS)
    assert CREDS.access_key_id in shown
    assert CREDS.secret_access_key not in shown
    assert CREDS.token not in shown
