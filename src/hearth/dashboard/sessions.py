"""Dashboard sessions: sign-in with the control API's keys, then a random session token in an HttpOnly cookie.

The table lives in memory (a restart signs everyone out), each session expires ``TTL_S`` after sign-in, and at most
``MAX_SESSIONS`` are kept (the oldest go first), so a flood of sign-ins cannot grow it without bound. Each session
carries its own CSRF token, which every form embeds and every POST must return (``csrf.py``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from hearth.api.auth import Credentials, Lookup
from hearth.errors import Unauthorized

COOKIE = "hearth_session"
TTL_S = 8 * 3600.0
MAX_SESSIONS = 1000
ANONYMOUS = "(authentication off)"


@dataclass(frozen=True)
class Session:
    """One signed-in browser: its cookie token, its CSRF token, who signed in and when it ends."""

    token: str
    csrf: str
    key_id: str
    expires: float


class Sessions:
    """The in-memory session table; ``clock`` is the seam tests turn."""

    def __init__(self, clock: Callable[[], float] = time.time, ttl_s: float = TTL_S,
                 capacity: int = MAX_SESSIONS) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._table: OrderedDict[str, Session] = OrderedDict()

    def create(self, key_id: str) -> Session:
        """A new session for ``key_id`` (32 random bytes for the cookie, 32 more for its CSRF token)."""
        self._expire()
        while len(self._table) >= self.capacity:
            self._table.popitem(last=False)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), key_id, self.clock() + self.ttl_s)
        self._table[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie's token, or None (unknown, or expired: then it is forgotten)."""
        if not token:
            return None
        session = self._table.get(token)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._table[token]
            return None
        return session

    def end(self, token: str) -> None:
        """Sign a session out."""
        self._table.pop(token, None)

    def __len__(self) -> int:
        return len(self._table)

    def _expire(self) -> None:
        now = self.clock()
        for token in [token for token, session in self._table.items() if session.expires <= now]:
            del self._table[token]


def check_key(lookup: Lookup, key_id: str, secret: str) -> Credentials:
    """The admin credentials that ``key_id`` + ``secret`` (an access key pair), or a bearer token alone in
    ``secret``, name; ``Unauthorized`` (401) otherwise. A function's key (limited to some services) cannot sign in."""
    key_id, secret = key_id.strip(), secret.strip()
    found = lookup(key_id) if key_id else lookup(secret) if secret else None
    if found is not None:
        if key_id:
            matched = (found.access_key_id == key_id
                       and hmac.compare_digest(found.secret_access_key.encode(), secret.encode()))
        else:
            matched = hmac.compare_digest(found.token.encode(), secret.encode())
        if matched and found.services is None:
            return found
    raise Unauthorized("Those credentials do not sign in: give the admin access key id and its secret (or the "
                       "bearer token alone) that `hearth serve` printed, kept in credentials.json in its data folder")
