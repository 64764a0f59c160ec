"""What every HTTP entry point shares: the request an API Gateway 2.0 event describes, the 2.0 response a
buffered HTTP response becomes, and the head of a streamed one.

Header values are kept as WSGI's "native strings": each character one byte (latin-1), so every adapter can turn
them back into the exact bytes the client sent.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

# Hop-by-hop headers (RFC 9110 §7.6.1) and the body's framing: the gateway frames the response itself.
_NOT_FORWARDED = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                            "upgrade", "content-length"})


class ProxyResponse(TypedDict):
    """A Lambda proxy response in API Gateway's payload format 2.0."""

    statusCode: int
    headers: dict[str, str]
    cookies: NotRequired[list[str]]
    body: str
    isBase64Encoded: bool


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, as the app behind an entry point must see it."""

    method: str
    raw_path: str  # as the client sent it: percent-encoded, one character per byte
    query: str  # the raw query string, without "?"
    headers: tuple[tuple[str, str], ...]  # lower-case names, the cookies restored, Content-Length of the body
    body: bytes
    scheme: str
    http_version: str  # "1.1"
    client: tuple[str, int]
    server: tuple[str, int]

    def header(self, name: str, default: str = "") -> str:
        """The value of the first header called ``name`` (lower case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default


def native(text: str) -> str:
    """``text`` as a string of bytes (latin-1), the form HTTP carries; text outside latin-1 goes as UTF-8."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8").decode("latin-1")
    return text


def request_from_event(event: Any) -> Request:
    """The request an API Gateway payload 2.0 event describes (missing parts default as for ``GET /``)."""
    if not isinstance(event, dict):
        raise TypeError(f"an HTTP entry point takes an API Gateway payload 2.0 event (an object), got "
                        f"{type(event).__name__}")
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    raw_body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    headers: list[tuple[str, str]] = []
    cookie = ""
    sent_length = False
    for name, value in (event.get("headers") or {}).items():
        name = str(name).lower()
        if name in ("content-length", "transfer-encoding"):  # the body arrives whole, its length known
            sent_length = True
            continue
        if name == "expect":  # the gateway has answered 100-continue and read the body already
            continue
        if name == "cookie":
            cookie = str(value)
            continue
        headers.append((native(name), native(str(value))))
    cookies = event.get("cookies") or []
    if cookies:  # API Gateway moves the Cookie header into ``cookies``; the app reads it from the header
        cookie = "; ".join([cookie, *cookies] if cookie else cookies)
    if cookie:
        headers.append(("cookie", native(cookie)))
    if body or sent_length:
        headers.append(("content-length", str(len(body))))
    lookup = dict(headers)
    scheme = lookup.get("x-forwarded-proto", "http").split(",", 1)[0].strip() or "http"
    host, port = _split_host(lookup.get("host", "") or context.get("domainName", "") or "localhost")
    if port is None:
        forwarded_port = lookup.get("x-forwarded-port", "")
        port = int(forwarded_port) if forwarded_port.isdigit() else 443 if scheme == "https" else 80
    protocol = str(http.get("protocol") or "HTTP/1.1")
    return Request(
        method=str(http.get("method") or event.get("httpMethod") or "GET").upper(),
        raw_path=native(str(event.get("rawPath") or http.get("path") or "/")),
        query=native(str(event.get("rawQueryString") or "")),
        headers=tuple(headers),
        body=body,
        scheme=scheme,
        http_version=protocol.partition("/")[2] or "1.1",
        client=(str(http.get("sourceIp") or ""), 0),
        server=(host, port),
    )


def _split_host(host: str) -> tuple[str, int | None]:
    """``example.com:8080`` → ``("example.com", 8080)``; ``[::1]`` → ``("[::1]", None)``."""
    name, colon, port = host.rpartition(":")
    if colon and name and port.isdigit():
        return name, int(port)
    return host, None


def proxy_response(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> ProxyResponse:
    """The 2.0 response for a whole HTTP response: each ``Set-Cookie`` in ``cookies``, other repeated headers
    comma-joined, framing and hop-by-hop headers left to the gateway, a body that is not UTF-8 in base64."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == "set-cookie":
            cookies.append(value)
        elif name not in _NOT_FORWARDED:
            previous = joined.get(name)
            joined[name] = value if previous is None else f"{previous}, {value}"
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    response: ProxyResponse = {"statusCode": status, "headers": joined, "body": text, "isBase64Encoded": encoded}
    if cookies:
        response["cookies"] = cookies
    return response


def stream_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of a streamed response's head: names in lower case, each header kept as it is (``Set-Cookie``
    and other repeats included), framing and hop-by-hop headers left to the gateway."""
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered not in _NOT_FORWARDED:
            kept.append((lowered, value))
    return kept
