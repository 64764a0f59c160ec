"""Turn a project folder into a deployable code package: a deterministic zip plus its sha256.

The code store keys packages by the sha256 of the zip bytes, so the same content must give the same bytes: entries
are sorted by name, every timestamp is 1980-01-01, only the owner-exec bit survives (as 0o755 or 0o644), there are
no directory entries and no extra fields, and deflate runs at one fixed level. Empty directories are therefore not
packaged. (Bytes are stable for one zlib; a different zlib build may compress differently, which costs one extra
stored copy, never a wrong one.)

A ``requirements.txt`` at the project root is installed with ``uv pip install --target`` or ``pip install --target``
for the platform's Python, and the installed tree is merged at the zip root, where Lambda puts dependencies too.
Installs are cached under ``cache_dir/deps/<key>``; the key covers requirements.txt, the local files it refers to
and the interpreter, so an unchanged redeploy neither runs the installer nor changes the package.

``.hearthignore`` (in a packed folder's root) takes a subset of gitignore: one pattern per line; blank lines and
lines starting with ``#`` are skipped; a trailing ``/`` matches directories only; a pattern with no other ``/``
matches a name at any depth, one with a ``/`` is relative to the folder (a leading ``/`` is allowed); ``*`` and
``?`` do not cross ``/``, ``**`` does, ``[abc]`` is a character class. Negation (``!``) is not supported.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from hearth.errors import ConfigError

UNZIPPED_LIMIT = 262_144_000  # Lambda's 250 MB limit on a function's unzipped code and layers
REQUIREMENTS_NAME = "requirements.txt"
IGNORE_NAME = ".hearthignore"
INSTALLERS = ("auto", "uv", "pip")
ALWAYS_EXCLUDED = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".DS_Store",
})  # node_modules stays: other runtimes load code from it
EXCLUDED_SUFFIXES = (".pyc",)

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip header can hold
_ZIP_UNIX = 3  # create_system: the external attributes hold unix mode bits
_DEFLATE_LEVEL = 6
_CACHE_FORMAT = b"hearth-deps-1"  # bump when the layout of a cache entry changes
_OUTPUT_LINES = 20
# Files that building a local source tree leaves inside it; hashing them would miss the cache after every install.
_BUILD_LEFTOVERS = ("build", "dist", "*.egg-info")
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Package:
    """A code package ready to upload: the zip bytes, their sha256 (hex) and what they unpack to."""

    data: bytes = field(repr=False)
    sha256: str
    files: int
    unzipped_size: int


@dataclass(frozen=True)
class _Entry:
    """One file to pack: its name in the zip, where it is read from, its size and mode."""

    name: str
    path: Path
    size: int
    mode: int


@dataclass(frozen=True)
class _Rule:
    """One ``.hearthignore`` pattern, compiled."""

    regex: re.Pattern[str]
    dir_only: bool
    anchored: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        subject = relative if self.anchored else relative.rsplit("/", 1)[-1]
        return self.regex.fullmatch(subject) is not None


def build_package(root: Path, *, python: str, cache_dir: Path | None = None, progress: Progress | None = None,
                  installer: str = "auto", limit: int = UNZIPPED_LIMIT,
                  exclude: frozenset[str] = frozenset(), include: Sequence[tuple[Path, str]] = ()) -> Package:
    """Pack ``root`` (and the install of its ``requirements.txt``, if any) into a deterministic ``Package``;
    ``exclude`` names files at the zip root to leave out (``hearth deploy`` sends the manifest on its own);
    ``include`` adds folders or files from elsewhere at the zip root under the given names (config/include.py)."""
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory; give the path of a project folder")
    if installer not in INSTALLERS:
        raise ConfigError(f"unknown installer {installer!r}; allowed: {', '.join(INSTALLERS)}")
    say = progress or _silent
    if cache_dir is not None:
        cache_dir = cache_dir.resolve()  # the installer runs in root, so a relative --target would land there
    requirements = root / REQUIREMENTS_NAME
    if requirements.is_file() and _has_requirements(requirements):
        with _dependencies(root, requirements, python, cache_dir, installer, say) as deps:
            data, files, size = pack([root, deps], limit=limit, progress=say, exclude=exclude, include=include)
    else:
        data, files, size = pack([root], limit=limit, progress=say, exclude=exclude, include=include)
    return Package(data=data, sha256=hashlib.sha256(data).hexdigest(), files=files, unzipped_size=size)


def pack(sources: Sequence[Path], *, limit: int = UNZIPPED_LIMIT, progress: Progress | None = None,
         exclude: frozenset[str] = frozenset(), include: Sequence[tuple[Path, str]] = ()) -> tuple[bytes, int, int]:
    """Zip the folders merged at the zip root (earlier ones win a clash), leaving out the root-level names in
    ``exclude``, with each ``include`` (a folder or file, and its name) after the first source (a clash with it is
    an error); return the bytes, file count and size."""
    chosen: dict[str, _Entry] = {}
    directories: set[str] = set()

    def add(entries: list[_Entry]) -> None:
        for entry in entries:
            if entry.name not in exclude and not _clashes(entry.name, chosen, directories):
                chosen[entry.name] = entry
                parts = entry.name.split("/")
                directories.update("/".join(parts[:depth]) for depth in range(1, len(parts)))

    for position, source in enumerate(sources):
        add(_collect(source))
        if position == 0:
            for path, name in include:
                if name in chosen or name in directories:
                    raise ConfigError(f"{path}: included as {name}, but {source} already has {name}; rename one "
                                      "of them")
                add(_mounted(path, name))
    entries = [chosen[name] for name in sorted(chosen)]
    total = sum(entry.size for entry in entries)
    if total > limit:
        raise _too_large(sources[0], entries, total, limit)
    (progress or _silent)(f"packing {len(entries)} files")
    return _zip(entries), len(entries), total


def _silent(message: str) -> None:
    """The progress callback when nobody is watching."""


def _clashes(name: str, chosen: dict[str, _Entry], directories: set[str]) -> bool:
    """Whether an earlier source already owns ``name``, a directory there, or a file where ``name`` needs a folder."""
    if name in chosen or name in directories:
        return True
    parts = name.split("/")
    return any("/".join(parts[:depth]) in chosen for depth in range(1, len(parts)))


# --- walking a folder ------------------------------------------------------------------------------------------


def _collect(source: Path) -> list[_Entry]:
    """Every file under ``source`` that belongs in the package, following symlinks that stay inside it."""
    root = source.resolve()
    if not root.is_dir():
        raise ConfigError(f"{source}: not a directory; cannot pack it")
    rules = _read_ignore(root / IGNORE_NAME)
    entries: list[_Entry] = []

    def visit(directory: Path, prefix: str, ancestors: frozenset[Path]) -> None:
        try:
            with os.scandir(directory) as listing:
                children = sorted(listing, key=lambda child: child.name)
        except OSError as exc:
            raise ConfigError(f"{directory}: cannot list the folder: {exc.strerror}") from None
        for child in children:
            if child.name in ALWAYS_EXCLUDED or child.name.endswith(EXCLUDED_SUFFIXES):
                continue
            relative = prefix + child.name
            path = Path(child.path)
            is_dir = child.is_dir()
            # Ignore rules come first, so an ignored link may point anywhere.
            if any(rule.matches(relative, is_dir) for rule in rules):
                continue
            if child.is_symlink():
                _check_link(path, root)
            _check_name(path, relative)
            if is_dir:
                real = path.resolve()
                if real in ancestors:
                    raise ConfigError(f"{path}: symlink loop (it leads back to {real}); remove the link")
                visit(path, relative + "/", ancestors | {real})
            elif child.is_file():
                try:
                    status = child.stat()
                except OSError as exc:
                    raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
                mode = 0o755 if status.st_mode & stat.S_IXUSR else 0o644
                entries.append(_Entry(relative, path, status.st_size, mode))
            # Sockets, pipes and devices are not code; they are left out.

    visit(root, "", frozenset({root}))
    return entries


def _mounted(path: Path, name: str) -> list[_Entry]:
    """The entries of an included folder (or file) under ``name``."""
    if path.is_dir():
        return [_Entry(f"{name}/{entry.name}", entry.path, entry.size, entry.mode) for entry in _collect(path)]
    try:
        status = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot include it: {exc.strerror}") from None
    _check_name(path, name)
    return [_Entry(name, path, status.st_size, 0o755 if status.st_mode & stat.S_IXUSR else 0o644)]


def _check_link(link: Path, root: Path) -> None:
    target = link.resolve()
    if not target.is_relative_to(root):
        raise ConfigError(f"{link}: symlink points outside the project folder (to {target}); "
                          f"copy what it points at into the folder, or list the link in {IGNORE_NAME}")
    if not target.exists():
        raise ConfigError(f"{link}: broken symlink (to {target}); remove it or list it in {IGNORE_NAME}")


def _check_name(path: Path, relative: str) -> None:
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{path}: the name is not valid UTF-8, which a zip cannot hold; rename it") from None


def _read_ignore(path: Path) -> list[_Rule]:
    """The rules of a ``.hearthignore``; none when the file is absent."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as UTF-8 text: {exc}") from None
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        if pattern.startswith("!"):
            raise ConfigError(f"{path}:{number}: negation ('!') is not supported; "
                              "list only what to leave out")
        rules.append(_compile_rule(pattern))
    return rules


def _compile_rule(pattern: str) -> _Rule:
    dir_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    anchored = "/" in pattern
    return _Rule(re.compile(glob_to_regex(pattern.lstrip("/"))), dir_only, anchored)


def glob_to_regex(glob: str, *, braces: bool = False) -> str:
    """A glob as a regex (for ``fullmatch`` on a relative path): ``*`` and ``?`` within a folder, ``**`` across
    folders, ``[abc]``/``[!abc]`` classes and, with ``braces`` (minimatch, as ``vercel.json`` reads its
    ``functions`` keys; not gitignore), ``{a,b}`` alternatives. Raises ``ValueError`` for an unclosed ``{``."""
    out = []
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif glob.startswith("**", index):
            out.append(".*")
            index += 2
        elif glob[index] == "*":
            out.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            out.append("[^/]")
            index += 1
        elif glob[index] == "[" and "]" in glob[index + 2:]:
            end = glob.index("]", index + 2)
            body = glob[index + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            index = end + 1
        elif braces and glob[index] == "{":
            end = glob.find("}", index)
            if end == -1 or "{" in glob[index + 1:end]:
                raise ValueError("a '{' opens a list of alternatives that must close with '}' (no nesting): "
                                 "\"api/{a,b}.py\"")
            choices = glob[index + 1:end].split(",")
            out.append("(?:" + "|".join(glob_to_regex(choice, braces=True) for choice in choices) + ")")
            index = end + 1
        else:
            out.append(re.escape(glob[index]))
            index += 1
    return "".join(out)


# --- writing the zip -------------------------------------------------------------------------------------------


def _zip(entries: list[_Entry]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in entries:
            try:
                data = entry.path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"{entry.path}: cannot read: {exc.strerror}") from None
            info = zipfile.ZipInfo(entry.name, date_time=_ZIP_EPOCH)
            info.create_system = _ZIP_UNIX
            info.external_attr = (stat.S_IFREG | entry.mode) << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=_DEFLATE_LEVEL)
    return buffer.getvalue()


def _too_large(source: Path, entries: list[_Entry], total: int, limit: int) -> ConfigError:
    by_top: dict[str, int] = {}
    for entry in entries:
        top, slash, _ = entry.name.partition("/")
        by_top[top + slash] = by_top.get(top + slash, 0) + entry.size
    largest = sorted(by_top.items(), key=lambda item: (-item[1], item[0]))[:5]
    listing = ", ".join(f"{name} {_size(size)}" for name, size in largest)
    return ConfigError(f"{source}: the code package is {_size(total)} unzipped, over the limit of "
                       f"{_size(limit)} ({limit} bytes); largest: {listing}; "
                       f"list what the functions do not need in {IGNORE_NAME}")


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size} bytes"


# --- installing requirements.txt -------------------------------------------------------------------------------


def _has_requirements(requirements: Path) -> bool:
    text = requirements.read_text(encoding="utf-8", errors="replace")
    return any(_strip_comment(line) for line in text.splitlines())


def _strip_comment(line: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", line).strip()


@contextmanager
def _dependencies(root: Path, requirements: Path, python: str, cache_dir: Path | None, installer: str,
                  say: Progress) -> Iterator[Path]:
    """Yield a folder holding ``requirements.txt`` installed for ``python``: from the cache, or installed now."""
    if cache_dir is not None:
        yield _cached_install(root, requirements, python, cache_dir, installer, say)
        return
    with tempfile.TemporaryDirectory(prefix="hearth-deps-") as scratch:
        _install(root, requirements, python, installer, Path(scratch), say)
        yield Path(scratch)


def _cached_install(root: Path, requirements: Path, python: str, cache_dir: Path, installer: str,
                    say: Progress) -> Path:
    """``cache_dir/deps/<key>``, installed first unless an earlier build left it there."""
    key = _cache_key(root, requirements, _interpreter_tag(python))
    deps = cache_dir / "deps"
    entry = deps / key
    if entry.is_dir():
        return entry
    try:
        deps.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=deps))
    except OSError as exc:
        raise ConfigError(f"{deps}: cannot write the dependency cache: {exc.strerror}") from None
    try:
        _install(root, requirements, python, installer, scratch, say)
        # Renamed in whole, so a crash or a concurrent build never leaves a half-installed entry behind.
        os.rename(scratch, entry)
    except OSError as exc:
        if not entry.is_dir():  # else a concurrent build got there first, with the same content
            raise ConfigError(f"{entry}: cannot write the dependency cache: {exc.strerror}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return entry


def _install(root: Path, requirements: Path, python: str, installer: str, target: Path, say: Progress) -> None:
    target = target.resolve()
    name = _choose_installer(installer)
    if name == "uv":
        command = ["uv", "pip", "install", "--target", str(target), "-r", str(requirements), "--python", python]
    else:
        # --no-compile: __pycache__ is left out of the package anyway.
        command = [python, "-m", "pip", "install", "--target", str(target), "-r", str(requirements),
                   "--disable-pip-version-check", "--no-input", "--no-compile"]
    say(f"installing {REQUIREMENTS_NAME} with {name}")
    try:
        # cwd=root: relative paths in requirements.txt (./vendor/x.whl) are relative to the project, as users expect.
        result = subprocess.run(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", check=False)
    except OSError as exc:
        raise ConfigError(f"{requirements}: cannot run {shlex.join(command)}: {exc.strerror}") from None
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-_OUTPUT_LINES:])
        raise ConfigError(f"{requirements}: {name} failed (exit status {result.returncode}); "
                          f"command: {shlex.join(command)}\n{tail}")


def _choose_installer(installer: str) -> str:
    has_uv = shutil.which("uv") is not None
    if installer == "uv" and not has_uv:
        raise ConfigError("installer 'uv' was asked for but 'uv' is not on PATH; install uv or use installer 'pip'")
    return "uv" if installer == "uv" or (installer == "auto" and has_uv) else "pip"


def _interpreter_tag(python: str) -> bytes:
    """The interpreter's implementation, version and platform: what makes an installed tree fit it."""
    command = [python, "-c", "import sys, sysconfig; print(sys.implementation.cache_tag, sysconfig.get_platform())"]
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run the Python interpreter {python!r}: {exc}") from None
    if result.returncode != 0:
        raise ConfigError(f"the Python interpreter {python!r} failed (exit status {result.returncode}): "
                          f"{result.stdout.decode(errors='replace').strip()}")
    return result.stdout.strip()


def _cache_key(root: Path, requirements: Path, interpreter: bytes) -> str:
    """sha256 of the cache format, the interpreter, requirements.txt and every local file or folder it names."""
    digest = hashlib.sha256()

    def feed(data: bytes) -> None:
        # Length-prefixed, so that two different sequences of parts never hash alike.
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    feed(_CACHE_FORMAT)
    feed(interpreter)
    _feed_requirements(feed, requirements, root, set())
    return digest.hexdigest()


def _feed_requirements(feed: Callable[[bytes], None], path: Path, cwd: Path, seen: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        text = path.read_bytes()
    except OSError:
        feed(b"missing " + str(path.relative_to(cwd) if path.is_relative_to(cwd) else path).encode())
        return
    feed(text)
    for raw in text.decode("utf-8", errors="replace").splitlines():
        line = _strip_comment(raw)
        include = re.match(r"(?:-r|--requirement|-c|--constraint)\s*=?\s*(\S+)$", line)
        if include:
            # pip reads a nested requirements file relative to the file that names it.
            _feed_requirements(feed, path.parent / include.group(1), cwd, seen)
            continue
        reference = _local_reference(line)
        if reference is not None:
            # The name as written, not the absolute path: the same project in another folder shares the entry.
            feed(reference.encode())
            _feed_local(feed, cwd / os.path.expanduser(reference))


def _local_reference(line: str) -> str | None:
    """The local path a requirement line installs from, if it names one (``./x.whl``, ``-e ../lib``, ``file:``)."""
    editable = re.match(r"(?:-e|--editable)\s*=?\s*(\S+)", line)
    if editable:
        token = editable.group(1)
    elif " @ " in line:
        token = line.split(" @ ", 1)[1].split(";", 1)[0].strip()
    elif line and not line.startswith("-"):
        token = line.split()[0]
    else:
        return None
    if token.startswith("file:"):
        return unquote(urlparse(token).path)
    if "/" in token or token.startswith((".", "~")) or token.endswith(_ARCHIVE_SUFFIXES):
        return token
    return None


def _feed_local(feed: Callable[[bytes], None], path: Path) -> None:
    try:
        if path.is_file():
            feed(path.read_bytes())
        elif not path.is_dir():
            feed(b"missing")
        else:
            for directory, subdirs, names in os.walk(path):
                subdirs[:] = sorted(name for name in subdirs if not _leftover(name))
                for name in sorted(names):
                    if not _leftover(name):
                        file = Path(directory, name)
                        feed(file.relative_to(path).as_posix().encode())
                        feed(file.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: named in {REQUIREMENTS_NAME} but cannot be read: {exc.strerror}") from None


def _leftover(name: str) -> bool:
    """Names left out of a local source tree's hash: caches and what a build writes into the tree."""
    return (name in ALWAYS_EXCLUDED or name.endswith(EXCLUDED_SUFFIXES)
            or any(fnmatch.fnmatchcase(name, pattern) for pattern in _BUILD_LEFTOVERS))
