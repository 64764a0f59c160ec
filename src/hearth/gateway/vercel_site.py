"""A Vercel project's front on the gateway: its ``vercel.json`` routing and its static files (its site's
``VercelSpec``), applied to every request its site answers before the route table, whether the project runs
under ``hearth dev`` or was deployed to ``hearth serve``.

Per request, in Vercel's order:

1. ``route``: the router's decision (``gateway/rewrites.py``): a redirect answers at once; a rewrite changes the
   path the rest of the request is served from, and the query the function sees; header rules and a status are
   kept for the response;
2. ``static``: a static file at that path answers (``gateway/static.py``), streamed from disk;
3. otherwise the route table (the ``api/`` functions); a dynamic segment's value (``[id]``) is also a query
   parameter, as Vercel passes it (``/api/users/42`` → ``?id=42``; a value the request's query has for the same
   name is replaced);
4. nothing there: the folder's ``404.html`` with status 404, or the gateway's own 404.

A function sees the path the client asked for (``rawPath``), as on Vercel, where a Flask app behind the rewrite
``/(.*)`` → ``/api/index`` routes on the original path; only the query carries what the rewrite added.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from hearth.asgi import Headers, Scope, Send
from hearth.gateway.rewrites import Decision, VercelRouter, merge_query
from hearth.gateway.static import CHUNK_SIZE, StaticFile, StaticFiles, StaticResponse, iter_chunks
from hearth.model import VercelSpec

INLINE_READ = 64 * 1024  # a file this small is read on the event loop; a larger one in a thread, chunk by chunk


def _no_file(path: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class VercelSite:
    """The routing and static files of one Vercel project; read-only, rebuilt when its site changes."""

    router: VercelRouter
    static: StaticFiles | None

    @classmethod
    def for_site(cls, spec: VercelSpec) -> VercelSite:
        """The front of a Vercel project's site."""
        return cls(VercelRouter.build(spec), StaticFiles.for_site(spec))

    def route(self, scope: Scope) -> Decision | None:
        """Vercel's routing decision for the request (None: serve it as it came)."""
        is_file = self.static.exists if self.static is not None else _no_file
        return self.router.route(scope["method"], scope["path"], scope["query_string"].decode("latin-1"),
                                 scope["headers"], is_file)

    async def lookup(self, path: str) -> StaticFile | None:
        """The static file at ``path``; off the event loop, since the first sight of a file hashes it."""
        if self.static is None or not self.static.exists(path):
            return None
        return await asyncio.to_thread(self.static.lookup, path)

    async def not_found_page(self) -> StaticFile | None:
        if self.static is None:
            return None
        return await asyncio.to_thread(self.static.not_found_page)


def params_query(query: bytes, params: Mapping[str, str]) -> bytes:
    """``query`` with ``params`` (a dynamic route's values) first, replacing the request's values of those names."""
    if not params:
        return query
    added = [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params.items()]
    request = [pair for pair in query.decode("latin-1").split("&") if pair]
    return "&".join(merge_query(added, request)).encode("latin-1")


def replace_headers(headers: Headers, replacements: tuple[tuple[bytes, bytes], ...]) -> Headers:
    """``headers`` with every value of a name in ``replacements`` replaced by its value there."""
    if not replacements:
        return headers
    names = {name for name, _ in replacements}
    return [header for header in headers if header[0] not in names] + list(replacements)


async def send_static(send: Send, response: StaticResponse, headers: Headers) -> None:
    """Send a static response with ``headers`` (its own, finished by the gateway); the body streams from disk.
    A file that shrank since it was looked up ends the response early, which closes the client's connection."""
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    file = response.file
    if file is None:
        await send({"type": "http.response.body", "body": b""})
        return
    try:
        if file.size <= INLINE_READ:
            data = b"".join(iter_chunks(file))
            if len(data) == file.size:
                await send({"type": "http.response.body", "body": data})
            return
        chunks = iter_chunks(file, CHUNK_SIZE)
        sent = 0
        while sent < file.size:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                return
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": sent < file.size})
    except OSError:  # gone since it was looked up: the response is cut off
        return
