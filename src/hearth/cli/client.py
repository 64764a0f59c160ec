"""The CLI's HTTP client for a running Hearth's control API: signs requests with SigV4 (or a bearer token)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hearth.api import auth
from hearth.errors import ConfigError, HearthError

DEFAULT_ENDPOINT = "http://127.0.0.1:9090"
DEFAULT_DATA_DIR = Path("~/.hearth")


class ClientFailure(Exception):
    """The call did not succeed: ``kind`` is Lambda's error type (or a transport problem), ``message`` what to do."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Reply:
    """A successful answer; header names are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def find_credentials(environ: Mapping[str, str], data_dir: Path) -> auth.Credentials | None:
    """Credentials from ``HEARTH_TOKEN``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, or the key file."""
    token = environ.get("HEARTH_TOKEN")
    if token:
        return auth.Credentials(access_key_id="", secret_access_key="", token=token)
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return auth.Credentials(access_key_id=key, secret_access_key=secret, token="")
    path = data_dir.expanduser() / auth.CREDENTIALS_FILE
    if path.is_file():
        try:
            credentials, _ = auth.load_or_create_credentials(path.parent)
        except HearthError:
            return None
        return credentials
    return None


class ControlClient:
    """Calls one control API endpoint; every request is signed when credentials are known."""

    def __init__(self, endpoint: str, credentials: auth.Credentials | None, timeout_s: float = 960) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.credentials = credentials
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None, *,
             service: str = auth.SERVICE) -> Reply:
        """Send one request (SigV4 signs it for ``service``: ``lambda``, or ``sqs`` for SQS's API); raises
        ``ClientFailure`` for an error answer or an unreachable endpoint."""
        request = self._request(method, path, body, headers, service)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                headers = {name.lower(): value for name, value in response.headers.items()}
                return Reply(response.status, headers, response.read())
        except (urllib.error.URLError, ConfigError) as exc:
            raise self._failure(exc) from None

    def lines(self, path: str, timeout_s: float, method: str = "GET", body: bytes = b"",
              headers: Mapping[str, str] | None = None) -> Iterator[bytes]:
        """Send a request (GET ``path`` by default) and yield the answer's body line by line as it arrives (a
        streamed answer); ``timeout_s`` bounds each wait for more. Raises ``ClientFailure`` as ``call`` does."""
        request = self._request(method, path, body, headers, auth.SERVICE)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                yield from response
        except (urllib.error.URLError, ConfigError) as exc:
            raise self._failure(exc) from None
        except TimeoutError:
            raise ClientFailure("ConnectionError", f"Hearth at {self.endpoint} sent nothing for {timeout_s:.0f} s "
                                "(not even a keep-alive)") from None

    def _request(self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None,
                 service: str) -> urllib.request.Request:
        url = self.endpoint + path
        send = dict(headers or {})
        if self.credentials is not None:
            if self.credentials.access_key_id:
                send = auth.sign(method, url, send, body, self.credentials, service=service)
            else:
                send["Authorization"] = f"Bearer {self.credentials.token}"
        return urllib.request.Request(url, data=body if method in ("POST", "PUT") else None, method=method,
                                      headers=send)

    def _failure(self, error: urllib.error.URLError | ConfigError) -> ClientFailure:
        """What an error answer, an unreachable endpoint or unusable credentials mean for the caller."""
        if isinstance(error, ConfigError):
            return ClientFailure("ConfigError", error.message)
        if isinstance(error, urllib.error.HTTPError):
            detail = error.read()
            kind = error.headers.get("x-amzn-ErrorType") or str(error.code)
            try:
                parsed = json.loads(detail)
                message = parsed.get("message") or detail.decode(errors="replace")
                if "__type" in parsed:  # the JSON protocol's error (SQS): "com.amazonaws.sqs#QueueDoesNotExist"
                    kind = str(parsed["__type"]).rsplit("#", 1)[-1]
            except (ValueError, AttributeError):
                message = detail.decode(errors="replace")
            if error.code == 403 and self.credentials is None:
                message += ("; no credentials were found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                            "HEARTH_TOKEN, or use --data-dir to point at the server's data folder")
            return ClientFailure(kind, message, error.code)
        return ClientFailure("ConnectionError", f"cannot reach Hearth at {self.endpoint} ({error.reason}); is "
                             "`hearth serve` (or `hearth dev`) running? use --endpoint")
