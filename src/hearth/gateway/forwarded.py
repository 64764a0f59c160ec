"""Who sent a request, over which scheme and to which host, when the gateway sits behind proxies it trusts.

The gateway is the edge unless told otherwise: the address a request came from is its client, its scheme is
``http``, and what a client says in ``X-Forwarded-*`` is never believed (the reverse proxy replaces those
headers; a Lambda event gets the peer appended to ``X-Forwarded-For``, as API Gateway does).

Behind a load balancer or TLS terminator, list its addresses as trusted proxies (``--trusted-proxy CIDR``).
A request whose peer is trusted is taken at its proxy's word: the client is the right-most ``X-Forwarded-For``
address that is not itself a trusted proxy, the scheme comes from ``X-Forwarded-Proto`` and the host from
``X-Forwarded-Host`` (or ``Host``). ``Edge.resolve`` writes that into the ASGI scope (``client``, ``scheme``,
``hearth.forwarded``), so the event's ``sourceIp``, the reverse proxy's headers and redirects all agree.

With ``--https-redirect``, a request that came through a trusted proxy over plain ``http`` is answered 301 with
the same URL on ``https``. Requests from anywhere else are never redirected (a direct health check, say): only
a trusted proxy can say the client used plain HTTP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from hearth.asgi import Scope
from hearth.config.settings import Network

FORWARDED = "hearth.forwarded"  # the scope key: a Forwarded value when the request came through a trusted proxy


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What a trusted proxy said about a request."""

    chain: bytes  # its X-Forwarded-For, to be extended when the request is passed on
    peer: bytes  # the proxy's own address
    host: bytes  # the host the client asked for


class Edge:
    """The gateway's view of trusted proxies; see the module docstring."""

    def __init__(self, trusted: Sequence[Network], https_redirect: bool = False) -> None:
        self.trusted = tuple(trusted)
        self.https_redirect = https_redirect

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def resolve(self, scope: Scope) -> bytes | None:
        """Rewrite ``scope`` for a request from a trusted proxy; return the URL to redirect it to, if any."""
        peer = scope.get("client")
        if not peer or not self.trusts(peer[0]):
            return None
        chain = proto = host = b""
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                chain = chain + b"," + value if chain else value
            elif name == b"x-forwarded-proto":
                proto = value
            elif name == b"x-forwarded-host" or (name == b"host" and not host):
                host = value
        client = peer[0]
        for hop in reversed(chain.split(b",")):
            address = hop.strip().decode("latin-1")
            if not address:
                continue
            client = address
            if not self.trusts(address):
                break
        scheme = proto.split(b",")[0].strip().lower().decode("latin-1") or scope.get("scheme", "http")
        if scheme in ("http", "https"):
            scope["scheme"] = scheme
        scope["client"] = (client, 0)
        scope[FORWARDED] = Forwarded(chain, peer[0].encode(), host)
        if self.https_redirect and scheme == "http" and host:
            query = scope.get("query_string")
            path: bytes = scope.get("raw_path") or scope["path"].encode()
            return b"https://" + host + path + (b"?" + query if query else b"")
        return None
