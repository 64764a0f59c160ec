"""The CLI's HTTP client for a running Hearth's control API: signs requests with SigV4 (or a bearer token)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
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
        url = self.endpoint + path
        send = dict(headers or {})
        if self.credentials is not None:
            if self.credentials.access_key_id:
                send = auth.sign(method, url, send, body, self.credentials, service=service)
            else:
                send["Authorization"] = f"Bearer {self.credentials.token}"
        request = urllib.request.Request(url, data=body if method in ("POST", "PUT") else None, method=method,
                                         headers=send)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                headers = {name.lower(): value for name, value in response.headers.items()}
                return Reply(response.status, headers, response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()
            kind = exc.headers.get("x-amzn-ErrorType") or str(exc.code)
            try:
                parsed = json.loads(detail)
                message = parsed.get("message") or detail.decode(errors="replace")
                if "__type" in parsed:  # the JSON protocol's error (SQS): "com.amazonaws.sqs#QueueDoesNotExist"
                    kind = str(parsed["__type"]).rsplit("#", 1)[-1]
            except (ValueError, AttributeError):
                message = detail.decode(errors="replace")
            if exc.code == 403 and self.credentials is None:
                message += ("; no credentials were found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                            "HEARTH_TOKEN, or use --data-dir to point at the server's data folder")
            raise ClientFailure(kind, message, exc.code) from None
        except urllib.error.URLError as exc:
            raise ClientFailure("ConnectionError", f"cannot reach Hearth at {self.endpoint} ({exc.reason}); is "
                                "`hearth serve` (or `hearth dev`) running? use --endpoint") from None
        except ConfigError as exc:
            raise ClientFailure("ConfigError", exc.message) from None
