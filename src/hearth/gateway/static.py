"""Static files from one folder, as Vercel serves a project's ``public/`` (or its root): safe path resolution,
content types, strong ETags, ``304 Not Modified``, ``HEAD``, and ``Cache-Control: public, max-age=0,
must-revalidate`` (Vercel's default: browsers and CDNs keep a copy but ask every time; the ETag makes that ask
cheap).

Two calls, both pure apart from reading the folder:

- ``StaticFiles.lookup(path) -> StaticFile | None``: the file that answers a (decoded) request path;
- ``respond(file, method, request_headers) -> StaticResponse``: status and headers, and the file to send when there
  is a body. The body is not read here: ``StaticResponse.file`` gives the path and size so a server can stream it
  (``iter_chunks``) or hand it to ``sendfile``.

What answers a path: ``/a/b.css`` is the file ``a/b.css``; ``/docs`` and ``/docs/`` are ``docs/index.html``;
with ``clean_urls`` (vercel.json ``cleanUrls``) ``/about`` and ``/about/`` are also ``about.html``. Never served:
a path with a ``.`` or ``..`` segment, an empty segment, a NUL or a backslash; a dotfile or anything under a dot
folder (except ``/.well-known/``, which exists to be fetched); ``hearth.toml`` and ``vercel.json``; anything whose
real location (after symlinks) is outside the folder, or is itself hidden; anything but a regular file. When the
folder is the project root (a Vercel project without ``public/``) the project's code and configuration are hidden
too: ``api/``, ``node_modules/``, ``__pycache__/``, Python sources, ``requirements.txt``, ``package.json`` and the
like, and what a ``requirements.txt`` install put there (a deployed package holds its dependencies at its root:
every ``*.dist-info`` folder, the names its ``RECORD`` lists, ``bin/``). Vercel would serve a root ``lib/db.py``;
Hearth does not, because that folder is where code lives.

ETags are a content hash (the first 128 bits of SHA-256, hex), not size and modification time: a hash is a true
strong validator (a same-size edit within one timestamp tick would keep a size+mtime tag while the bytes changed),
and it survives a redeploy (an extracted package gets new mtimes for unchanged files, which would invalidate every
client's cache). The cost is one read of each file version, remembered by (device, inode, size, mtime), so
``lookup`` may read a file the first time it sees it: call it off the event loop for large files.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hearth.model import VercelSpec

Headers = list[tuple[bytes, bytes]]

CACHE_CONTROL = "public, max-age=0, must-revalidate"
CHUNK_SIZE = 256 * 1024
NOT_FOUND_PAGE = "404.html"
ALLOWED_METHODS = b"GET, HEAD"
_ETAG_CACHE_SIZE = 4096
_ALWAYS_HIDDEN = frozenset({"hearth.toml", "vercel.json"})
_WELL_KNOWN = ".well-known"
# When the project root is served: what belongs to the code and its configuration, never to the site.
_PROJECT_FOLDERS = frozenset({"api", "node_modules", "__pycache__"})
_PROJECT_FILES = frozenset({
    "requirements.txt", "pyproject.toml", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock", "setup.py",
    "setup.cfg", "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "middleware.js",
    "middleware.ts", "Dockerfile",
})
_PROJECT_SUFFIXES = (".py", ".pyc", ".pyi")
_INSTALL_SUFFIXES = (".dist-info", ".egg-info")
# Content types that do not depend on the host's /etc/mime.types, and that browsers expect for the web's files.
_TYPES = {
    ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8", ".map": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8", ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8", ".xml": "application/xml",
    ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".ico": "image/x-icon", ".wasm": "application/wasm",
    ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf", ".pdf": "application/pdf",
    ".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg", ".zip": "application/zip",
}
_FALLBACK_TYPES = mimetypes.MimeTypes()  # Python's built-in table only: the same on every host


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file that answers a request path: where it is, how big, its ETag and content type."""

    path: Path  # the real (resolved) location
    size: int
    etag: str  # quoted, e.g. '"3f2a…"'
    content_type: str


@dataclass(frozen=True, slots=True)
class StaticResponse:
    """What to answer: the status, the headers, and ``file`` when the body is the file's bytes (``file.size``)."""

    status: int
    headers: Headers
    file: StaticFile | None = None


class StaticFiles:
    """The static files under ``root``; ``lookup`` is safe for any request path."""

    def __init__(self, root: Path, *, clean_urls: bool = False, project_root: bool = False,
                 cache_control: str = CACHE_CONTROL) -> None:
        self.root = root.resolve()
        self.clean_urls = clean_urls
        self.project_root = project_root  # hide the project's code and configuration
        self.cache_control = cache_control.encode("latin-1")
        self._etags: dict[tuple[int, int, int, int], str] = {}
        self._installed: frozenset[str] | None = None  # top-level names a requirements.txt install put here

    @classmethod
    def for_site(cls, spec: VercelSpec) -> StaticFiles | None:
        """The static files of a Vercel project, or None when it has none."""
        if spec.static_dir is None:
            return None
        return cls(spec.static_dir, clean_urls=spec.routing.clean_urls, project_root=spec.static_is_root)

    def exists(self, path: str) -> bool:
        """Whether a file answers ``path`` (cheap: no hashing); what ``VercelRouter.route`` asks as ``is_file``."""
        return self._find(path) is not None

    def lookup(self, path: str) -> StaticFile | None:
        """The file that answers the decoded request ``path``, or None."""
        found = self._find(path)
        if found is None:
            return None
        real, status = found
        try:
            etag = self._etag(real, status)
        except OSError:
            return None
        return StaticFile(real, status.st_size, etag, content_type(real.name))

    def not_found_page(self) -> StaticFile | None:
        """The folder's ``404.html``, which Vercel serves (with status 404) when nothing answers a path."""
        return self.lookup("/" + NOT_FOUND_PAGE)

    def _find(self, path: str) -> tuple[Path, os.stat_result] | None:
        parts = _segments(path)
        if parts is None or self._hidden(parts):
            return None
        directory_form = path.endswith("/") or not parts
        candidates: list[list[str]] = []
        if not directory_form:
            candidates.append(parts)
        if parts and self.clean_urls:
            candidates.append([*parts[:-1], parts[-1] + ".html"])
        candidates.append([*parts, "index.html"])
        for candidate in candidates:
            found = self._file(candidate)
            if found is not None:
                return found
        return None

    def _file(self, parts: list[str]) -> tuple[Path, os.stat_result] | None:
        if self._hidden(parts):
            return None
        try:
            real = Path(os.path.realpath(self.root.joinpath(*parts), strict=True))
            status = real.stat()
        except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
            return None
        if not stat.S_ISREG(status.st_mode) or not real.is_relative_to(self.root):
            return None
        inside = list(real.relative_to(self.root).parts)
        if inside != parts and self._hidden(inside):  # a link that leads to something hidden
            return None
        return real, status

    def _hidden(self, parts: list[str]) -> bool:
        for position, part in enumerate(parts):
            if part.startswith(".") and not (position == 0 and part == _WELL_KNOWN and len(parts) > 1):
                return True
        if parts and parts[-1] in _ALWAYS_HIDDEN:
            return True
        if self.project_root and parts:
            if parts[0] in _PROJECT_FOLDERS or parts[-1] in _PROJECT_FILES or parts[0] in self.installed():
                return True
            if "node_modules" in parts or "__pycache__" in parts or parts[-1].endswith(_PROJECT_SUFFIXES):
                return True
        return False

    def installed(self) -> frozenset[str]:
        """The top-level names under the project root that a ``requirements.txt`` install put there (a deployed
        package holds its dependencies at its root, as Lambda's do): every ``*.dist-info`` folder, what its
        ``RECORD`` lists, and ``bin/``. Read once, on first use."""
        if self._installed is None:
            names: set[str] = set()
            try:
                records = [entry for entry in os.scandir(self.root) if entry.name.endswith(_INSTALL_SUFFIXES)]
            except OSError:
                records = []
            for entry in records:
                names.update((entry.name, "bin"))
                try:
                    lines = Path(entry.path, "RECORD").read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    continue
                for line in lines:
                    top = line.split(",", 1)[0].split("/", 1)[0]
                    if top and top != "..":
                        names.add(top)
            self._installed = frozenset(names)
        return self._installed

    def _etag(self, real: Path, status: os.stat_result) -> str:
        key = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
        etag = self._etags.get(key)
        if etag is None:
            with real.open("rb") as stream:
                digest = hashlib.file_digest(stream, "sha256")
            etag = f'"{digest.hexdigest()[:32]}"'
            if len(self._etags) >= _ETAG_CACHE_SIZE:
                self._etags.clear()
            self._etags[key] = etag
        return etag


def _segments(path: str) -> list[str] | None:
    """The path's segments, or None when it is not a path a file may answer."""
    if not path.startswith("/") or "\x00" in path or "\\" in path:
        return None
    parts = path[1:].split("/")
    if parts and parts[-1] == "":
        parts.pop()  # "/docs/" names the folder, like "/docs"
    if any(part in ("", ".", "..") for part in parts):
        return None
    return parts


def content_type(name: str) -> str:
    """The ``Content-Type`` for a file name; ``application/octet-stream`` when the extension is unknown."""
    suffix = PurePosixPath(name).suffix.lower()
    known = _TYPES.get(suffix)
    if known is not None:
        return known
    guessed, _ = _FALLBACK_TYPES.guess_type(name, strict=False)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def respond(file: StaticFile, method: str, request_headers: Iterable[tuple[bytes, bytes]], *, status: int = 200,
            cache_control: bytes = CACHE_CONTROL.encode("latin-1")) -> StaticResponse:
    """The answer to ``method`` for ``file``: 200 (or ``status``, e.g. 404 for a 404 page), 304 when the client's
    ``If-None-Match`` holds the ETag, 405 for methods other than GET and HEAD; HEAD has the headers of GET."""
    if method not in ("GET", "HEAD"):
        return StaticResponse(405, [(b"allow", ALLOWED_METHODS), (b"content-length", b"0")])
    etag = file.etag.encode("latin-1")
    if status == 200 and _not_modified(etag, request_headers):
        return StaticResponse(304, [(b"etag", etag), (b"cache-control", cache_control)])
    headers = [
        (b"content-type", file.content_type.encode("latin-1")),
        (b"content-length", str(file.size).encode()),
        (b"etag", etag),
        (b"cache-control", cache_control),
    ]
    return StaticResponse(status, headers, file if method == "GET" else None)


def _not_modified(etag: bytes, request_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (weak comparison, as RFC 9110 §13.1.2 asks)."""
    for name, value in request_headers:
        if name.lower() != b"if-none-match":
            continue
        for candidate in value.split(b","):
            candidate = candidate.strip()
            if candidate == b"*" or candidate.removeprefix(b"W/") == etag:
                return True
    return False


def iter_chunks(file: StaticFile, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The file's bytes in chunks, exactly ``file.size`` of them at most: a file that grew since ``lookup`` is cut
    at its old size (the Content-Length already sent); one that shrank ends early (the caller must then drop the
    connection)."""
    remaining = file.size
    with file.path.open("rb") as stream:
        while remaining > 0:
            chunk = stream.read(min(chunk_size, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
