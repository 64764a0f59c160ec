"""Content-addressed, immutable code packages: ``<root>/<sha256>.zip`` and its extracted folder ``<root>/<sha256>/``.

A package becomes visible in one step: it is extracted into a temporary folder in the same root and renamed to its
final name, so a crash or a concurrent ``put`` never leaves a half-extracted folder under a digest. Removal runs
the other way round: rename away first, then delete. Temporary names carry the pid of the process that made
them, so garbage collection can tell leftovers of a dead process from work in progress.

Extraction follows Lambda: unix mode bits decide what is executable, the unzipped size is capped at 250 MB, and
nothing in the archive may land outside the package folder (absolute names, ``..``, escaping symbolic links).
Zip bombs are refused before anything is written: the declared sizes are summed against the cap (and an entry
cannot unpack past its declared size), and an entry over 1 MiB that claims a compression ratio over 1,100:1
(more than DEFLATE can reach) is refused. So is an archive of more than 100,000 entries, counted before anything
is written: each entry becomes a file or folder, and a package of millions of empty ones (a few dozen bytes each
in the zip) would exhaust the file system's inodes while staying far under every size limit.
"""

from __future__ import annotations

import compileall
import hashlib
import io
import lzma
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from hearth.errors import InvalidParameterValue, ServiceError

MAX_UNZIPPED_BYTES = 262_144_000  # Lambda's limit for a function's unzipped code (250 MB)
# DEFLATE cannot compress better than ~1,032:1; an entry that claims more (bzip2, lzma, or a crafted header) is a
# zip bomb. Small entries are exempt: their ratio says nothing and costs nothing.
MAX_RATIO = 1100
RATIO_EXEMPT_BYTES = 1024 * 1024
# Entries per package (each a file or folder: an inode). Lambda packages with node_modules or a Python site-packages
# reach tens of thousands; 100,000 leaves room for those while a package cannot exhaust the inodes of the disk.
MAX_ENTRIES = 100_000

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
TOO_LARGE = "Unzipped size must be smaller than {limit} bytes"
TOO_MANY = ("Could not unzip uploaded file: it has {count} entries, and a package may have at most {limit} (each "
            "becomes a file or folder); leave out what the function does not need, or load it from a layer of your "
            "own at run time.")
OUTSIDE = "Could not unzip uploaded file: entry {entry!r} would be written outside the package folder."
LINK_OUTSIDE = "Could not unzip uploaded file: symbolic link {entry!r} points outside the package folder."
BOMB = ("Could not unzip uploaded file: entry {entry!r} claims {size} bytes from {packed} compressed (over "
        f"{MAX_RATIO}:1): compress it with deflate, or leave it out.")
CONFLICT = "Could not unzip uploaded file: entry {entry!r} conflicts with another entry ({reason})."

_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEMP = ".tmp-"  # prefix of every temporary name in the root: ".tmp-<pid>-…"
_CHUNK = 1 << 20
# What a damaged or unsupported archive raises while being read (bz2 reports bad data as a bare OSError;
# encrypted entries raise RuntimeError; unknown compression methods NotImplementedError).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, RuntimeError, NotImplementedError,
                UnicodeDecodeError)


@dataclass(frozen=True)
class CodePackage:
    """One stored code package: the zip's digest and size, and the read-only folder it was extracted into."""

    sha256: str  # hex digest of the zip bytes
    size: int  # zip size in bytes
    path: Path  # the extracted, read-only folder: <root>/<sha256>/


class CodeStore:
    """Stores each distinct zip once and extracts it safely; packages never change once stored.

    The calls are synchronous and ``put`` unzips: run it off the event loop for large packages.
    """

    def __init__(self, root: Path, max_unzipped: int = MAX_UNZIPPED_BYTES, max_entries: int = MAX_ENTRIES) -> None:
        self.root = root
        self.max_unzipped = max_unzipped
        self.max_entries = max_entries
        root.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> tuple[CodePackage, bool]:
        """Store a zip; returns the package and whether this call stored it (False: the same bytes were there)."""
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha):
            return self.get(sha), False
        staging = Path(tempfile.mkdtemp(prefix=self._temp_prefix(), dir=self.root))
        try:
            _extract(data, staging, self.max_unzipped, self.max_entries)
            _compile(staging)
            # The zip is written before the folder appears: a visible folder always has its zip beside it.
            self._write_zip(sha, data)
            try:
                staging.rename(self.root / sha)
                stored_now = True
            except OSError:
                if not (self.root / sha).is_dir():
                    raise
                stored_now = False  # another put of the same bytes won the race; its folder is identical
        except OSError as exc:
            raise ServiceError(f"cannot store code package {sha} in {self.root}: {exc}") from exc
        finally:
            if staging.exists():
                _remove(staging)
        return self.get(sha), stored_now

    def get(self, sha256: str) -> CodePackage:
        """The stored package with this digest; ``ServiceError`` if it is missing, since the state refers to it."""
        if not self.has(sha256):
            raise ServiceError(f"code package {sha256!r} is missing from {self.root}, but the state refers to it")
        return CodePackage(sha256, (self.root / f"{sha256}.zip").stat().st_size, self.root / sha256)

    def has(self, sha256: str) -> bool:
        """Whether a package with this digest is stored."""
        return (_SHA256.fullmatch(sha256) is not None and (self.root / sha256).is_dir()
                and (self.root / f"{sha256}.zip").is_file())

    def remove_unreferenced(self, keep: set[str]) -> int:
        """Delete every package whose digest is not in ``keep``, and leftovers of dead processes; returns how
        many packages were removed. Do not run it while a ``put`` is in flight (hold the deploy lock)."""
        digests: set[str] = set()
        try:
            for name in os.listdir(self.root):
                if name.startswith(_TEMP):
                    if _abandoned(name):
                        _remove(self.root / name)
                    continue
                digest = name.removesuffix(".zip")
                if _SHA256.fullmatch(digest) and digest not in keep:
                    digests.add(digest)
            for digest in digests:
                folder = self.root / digest
                if folder.is_dir():
                    # Renamed away first, so a crash mid-delete leaves a temporary name, not a damaged package.
                    tombstone = self.root / f"{self._temp_prefix()}gc-{digest}"
                    folder.rename(tombstone)
                    _remove(tombstone)
                (self.root / f"{digest}.zip").unlink(missing_ok=True)
        except OSError as exc:
            raise ServiceError(f"cannot remove unused code packages from {self.root}: {exc}") from exc
        return len(digests)

    def _write_zip(self, sha: str, data: bytes) -> None:
        final = self.root / f"{sha}.zip"
        if final.is_file():
            return
        fd, name = tempfile.mkstemp(prefix=self._temp_prefix(), suffix=".zip", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as sink:
                sink.write(data)
                sink.flush()
                os.fsync(sink.fileno())  # the zip is the source of truth; writes are rare (deploys)
            os.chmod(name, 0o444)
            os.replace(name, final)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    @staticmethod
    def _temp_prefix() -> str:
        return f"{_TEMP}{os.getpid()}-"


def _extract(data: bytes, dest: Path, limit: int, max_entries: int = MAX_ENTRIES) -> None:
    """Unzip ``data`` into the empty folder ``dest``, checking every entry, then make the tree read-only."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InvalidParameterValue(UNZIP_FAILED) from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > max_entries:
            raise InvalidParameterValue(TOO_MANY.format(count=len(entries), limit=max_entries))
        # The declared sizes bound what is written: zipfile stops each entry at its declared size (and then fails
        # its CRC check), so a package that lies about its size cannot unpack to more than it claims.
        if sum(info.file_size for info in entries) > limit:
            raise InvalidParameterValue(TOO_LARGE.format(limit=limit))
        for info in entries:
            if info.file_size > RATIO_EXEMPT_BYTES and info.file_size > info.compress_size * MAX_RATIO:
                raise InvalidParameterValue(BOMB.format(entry=info.filename, size=info.file_size,
                                                        packed=info.compress_size))
        top = os.path.realpath(dest)
        links: list[tuple[str, Path]] = []
        for info in entries:
            parts = _entry_parts(info.filename)
            if not parts:
                continue
            target = dest.joinpath(*parts)
            # A symbolic link extracted earlier may sit on the way; the folder it leads to must be inside.
            if not _inside(os.path.realpath(target.parent), top):
                raise InvalidParameterValue(OUTSIDE.format(entry=info.filename))
            mode = info.external_attr >> 16
            try:
                if stat.S_ISLNK(mode):
                    _symlink(info.filename, _read_all(archive, info), target, top)
                    links.append((info.filename, target))
                elif info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _copy(archive, info, target)
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                raise InvalidParameterValue(CONFLICT.format(entry=info.filename, reason=exc.strerror)) from exc
        # A later link can change where an earlier one leads; judge every link by the finished tree.
        for entry, link_path in links:
            if not _inside(os.path.realpath(link_path), top):
                raise InvalidParameterValue(LINK_OUTSIDE.format(entry=entry))
    for folder, _dirs, _files in os.walk(dest, topdown=False):
        os.chmod(folder, 0o555)


def _compile(folder: Path) -> None:
    """Compile the package's Python sources into ``__pycache__`` beside them, once: instances that run as another
    user than the platform cannot write there (``pool/limits/identity.py``) and would otherwise compile every module
    at every cold start. A file that does not compile is left to fail at its import, as it would on Lambda."""
    compileall.compile_dir(folder, maxlevels=None, quiet=2, workers=1)


def _entry_parts(name: str) -> tuple[str, ...]:
    """The path components of a zip entry, or ``InvalidParameterValue`` if it could leave the folder."""
    # Only "/" makes a name absolute here: "C:\\x" is an ordinary (odd) file name on the systems Hearth runs on.
    if name.startswith("/"):
        raise InvalidParameterValue(OUTSIDE.format(entry=name))
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise InvalidParameterValue(OUTSIDE.format(entry=name))
    return parts


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Copy one file out of the archive into a new file, with its mode made read-only."""
    # O_EXCL and O_NOFOLLOW: never write through a link or over an earlier entry.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as sink:
        try:
            with archive.open(info) as source:
                shutil.copyfileobj(source, sink, _CHUNK)
        except _READ_ERRORS as exc:
            if isinstance(exc, OSError) and not _is_read_error(exc):
                raise
            raise InvalidParameterValue(UNZIP_FAILED) from exc
        # Read-only for everyone, executable where the archive says so (Lambda keeps unix mode bits);
        # world-readable because an instance may run under another user.
        os.fchmod(sink.fileno(), 0o555 if (info.external_attr >> 16) & 0o111 else 0o444)


def _is_read_error(exc: OSError) -> bool:
    # Errors from the file system carry an errno; bz2's "Invalid data stream" does not.
    return exc.errno is None


def _read_all(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    try:
        return archive.read(info).decode("utf-8")
    except _READ_ERRORS as exc:
        raise InvalidParameterValue(UNZIP_FAILED) from exc


def _symlink(entry: str, link: str, target: Path, top: str) -> None:
    if not link or os.path.isabs(link) or not _inside(os.path.realpath(target.parent / link), top):
        raise InvalidParameterValue(LINK_OUTSIDE.format(entry=entry))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(link, target)


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top + os.sep)


def _abandoned(name: str) -> bool:
    """Whether a temporary name was left by a process that no longer runs."""
    pid_text = name[len(_TEMP):].split("-", 1)[0]
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False  # ours: a put may be running in another thread right now
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


def _remove(path: Path) -> None:
    """Delete a file or a (read-only) folder tree."""
    if path.is_dir() and not path.is_symlink():
        for folder, _dirs, _files in os.walk(path):
            os.chmod(folder, 0o755)  # unlinking needs write permission on the folder, not on the file
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
