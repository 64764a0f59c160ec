"""Cross-site request forgery checks for every state-changing dashboard request (each POST).

Three layers, any one of which refuses: the browser's own word (``Sec-Fetch-Site`` must be ``same-origin`` or
``none``, a typed URL), the ``Origin`` header (when sent, it must be this server's own scheme and host), and the
session's CSRF token, which every form carries as a hidden ``csrf`` field (scripts send ``X-CSRF-Token``). The
session cookie is ``SameSite=Strict`` besides, so a modern browser does not even send it cross-site.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from hearth.errors import Forbidden

FIELD = "csrf"
HEADER = "x-csrf-token"
_SAME_SITE = ("same-origin", "none")


def check_origin(headers: Mapping[str, str], scheme: str) -> None:
    """Refuse a request the browser says came from another site; ``headers`` lower-case, ``scheme`` the request's."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in _SAME_SITE:
        raise Forbidden(f"Refused a cross-site request (Sec-Fetch-Site: {fetch_site}): the dashboard changes "
                        "things only from its own pages")
    origin = headers.get("origin")
    if origin is None:
        return
    expected = f"{scheme}://{headers.get('host', '')}"
    if origin.lower() != expected.lower():
        raise Forbidden(f"Refused a request from another origin ({origin}): the dashboard changes things only "
                        "from its own pages")


def check_token(expected: str, form: Mapping[str, str], headers: Mapping[str, str]) -> None:
    """Refuse a request without the session's CSRF token (a form field, or the header scripts send)."""
    given = form.get(FIELD) or headers.get(HEADER) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("Refused a request without this session's CSRF token: reload the page and try again")
