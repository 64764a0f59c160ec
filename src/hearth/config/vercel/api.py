"""Functions from ``api/**/*.py``: which files are functions, their routes and names, and the ``functions``
settings of vercel.json (see the package docstring for the rules)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hearth.config.package import glob_to_regex
from hearth.config.vercel.reader import VercelJson
from hearth.errors import ConfigError
from hearth.model import FUNCTION_NAME, MEMORY_MB_RANGE

API_DIR = "api"
DEFAULT_MEMORY_MB = 1024  # Vercel's defaults, not Lambda's
DEFAULT_TIMEOUT_S = 10
MAX_DURATION_RANGE = (1, 900)
FUNCTION_KEYS = {"memory", "maxDuration", "includeFiles", "excludeFiles"}
OTHER_RUNTIMES = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".tsx", ".jsx", ".go", ".rb", ".rs")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_SEGMENT = re.compile(r"^\[\[\.\.\.(?P<optional>[^\]]*)\]\]$|^\[\.\.\.(?P<rest>[^\]]*)\]$|^\[(?P<param>[^\]]*)\]$")
_READABLE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\Z")


def api_files(root: Path) -> tuple[list[str], list[str]]:
    """The Python files under api/ that are functions, and the other runtimes' files (relative, sorted)."""
    python: list[str] = []
    others: list[str] = []
    api = root / API_DIR
    if not api.is_dir():
        return python, others
    for directory, folders, names in os.walk(api):
        folders[:] = sorted(name for name in folders if not name.startswith(("_", ".")) and name != "node_modules")
        for name in sorted(names):
            if name.startswith(("_", ".")):
                continue
            relative = Path(directory, name).relative_to(root).as_posix()
            if name.endswith(".py"):
                python.append(relative)
            elif name.endswith(OTHER_RUNTIMES) and not name.endswith(".d.ts") and not name.endswith("_test.go"):
                others.append(relative)
    return sorted(python), sorted(others)


def _parse_segments(relative: str, root: Path) -> list[tuple[str, str]]:
    """``(kind, text)`` per path segment of a function file: literal, param, rest (catch-all) or optional."""
    parts = PurePosixPath(relative[:-len(".py")]).parts
    found: list[tuple[str, str]] = []
    for position, part in enumerate(parts):
        match = _SEGMENT.match(part)
        last = position == len(parts) - 1
        if match is None:
            if any(c in part for c in "[]{}"):
                raise ConfigError(f"{root / relative}: segment {part!r}: brackets make a parameter only as a whole "
                                  "name, e.g. [id] or [...slug]")
            if not (last and part == "index"):
                found.append(("literal", part))
            continue
        kind = next(key for key, value in match.groupdict().items() if value is not None)
        name = match.group(kind)
        if not _IDENTIFIER.match(name):
            raise ConfigError(f"{root / relative}: parameter {part!r}: a name is letters, digits and '_', not "
                              "starting with a digit")
        if kind != "param" and not last:
            raise ConfigError(f"{root / relative}: {part!r} takes the rest of the path, so it must be the file "
                              "name, not a folder")
        if any(text == name for other, text in found if other != "literal"):
            raise ConfigError(f"{root / relative}: parameter {name!r} appears twice in the path")
        found.append((kind, name))
    return found


def api_routes(relative: str, root: Path) -> list[str]:
    """The route paths of one function file (two for an optional catch-all)."""
    segments = _parse_segments(relative, root)
    spelled = []
    for kind, text in segments:
        spelled.append(text if kind == "literal" else f"{{{text}}}" if kind == "param" else f"{{{text}+}}")
    path = "/" + "/".join(spelled)
    if segments and segments[-1][0] == "optional":
        return ["/" + "/".join(spelled[:-1]), path]
    return [path]


def rank(path: str) -> tuple[int, int, str]:
    """Static paths first, then dynamic ones (more static segments first), catch-alls last."""
    segments = [segment for segment in path.split("/") if segment]
    static = sum(1 for segment in segments if not segment.startswith("{"))
    kind = 2 if path.endswith("+}") else 1 if "{" in path else 0
    return kind, -static if kind else 0, path


def function_name(relative: str) -> str:
    """The function name of ``api/…/file.py`` (see the package docstring)."""
    stem = relative[:-len(".py")] if relative.endswith(".py") else relative
    pieces = []
    readable = True
    for part in stem.split("/"):
        match = _SEGMENT.match(part)
        if match is None:
            readable = readable and bool(_READABLE.match(part))
            pieces.append(part.replace("-", "--"))
            continue
        kind = next(key for key, value in match.groupdict().items() if value is not None)
        name = match.group(kind)
        readable = readable and bool(_IDENTIFIER.match(name)) and not name.startswith("_")
        pieces.append({"param": "_", "rest": "__", "optional": "___"}[kind] + name)
    name = "-".join(pieces)
    if readable and FUNCTION_NAME.match(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", stem).strip("-")[:55].strip("-") or "api"
    return f"{slug}-{hashlib.sha256(relative.encode()).hexdigest()[:8]}"


def check_conflicts(root: Path, routes: list[tuple[str, str]]) -> None:
    """Refuse two files for the same paths, or two names for one segment (Vercel's conflicting paths)."""
    shapes: dict[tuple[str, ...], str] = {}
    names: dict[tuple[str, ...], tuple[str, str]] = {}
    for path, relative in routes:
        shape: list[str] = []
        for segment in [segment for segment in path.split("/") if segment]:
            if segment.startswith("{"):
                kind = "+" if segment.endswith("+}") else "*"
                name = segment.strip("{}+")
                seen = names.setdefault((*shape, kind), (name, relative))
                if seen[0] != name:
                    raise ConfigError(f"{root / relative}: names a path segment [{name}] where {seen[1]} names it "
                                      f"[{seen[0]}]; use one name for the same segment")
                shape.append(kind)
            else:
                shape.append("/" + segment)
        owner = shapes.setdefault(tuple(shape), relative)
        if owner != relative:
            raise ConfigError(f"{root / relative}: answers the same paths as {owner} ({path}); remove or rename "
                              "one of them")


@dataclass(frozen=True)
class Settings:
    """One ``functions`` entry: the files it matches and what it sets."""

    pattern: re.Pattern[str]
    memory_mb: int
    timeout_s: int


def function_settings(config: VercelJson, raw: Any) -> dict[str, Settings]:
    """vercel.json ``functions``: glob pattern → settings, in file order."""
    if not isinstance(raw, dict):
        config.fail("functions", 'must be an object of glob patterns, e.g. {"api/*.py": {"maxDuration": 30}}')
    found: dict[str, Settings] = {}
    for pattern, body in raw.items():
        where = f"functions.{pattern}"
        if len(pattern) > 256 or pattern.startswith("/") or not pattern:
            config.fail(where, "a pattern names files relative to the project folder (no leading '/', at most "
                               "256 characters), e.g. \"api/*.py\"")
        if not isinstance(body, dict) or not body:
            config.fail(where, 'must be an object with at least one property, e.g. {"memory": 512}')
        config.unsupported(where, body, FUNCTION_KEYS)
        memory = body.get("memory", DEFAULT_MEMORY_MB)
        if isinstance(memory, bool) or not isinstance(memory, int) or not (
                MEMORY_MB_RANGE[0] <= memory <= MEMORY_MB_RANGE[1]):
            config.fail(f"{where}.memory", f"must be a whole number of MB from {MEMORY_MB_RANGE[0]} to "
                                           f"{MEMORY_MB_RANGE[1]}, got {memory!r}")
        duration = body.get("maxDuration", DEFAULT_TIMEOUT_S)
        if isinstance(duration, bool) or not isinstance(duration, int) or not (
                MAX_DURATION_RANGE[0] <= duration <= MAX_DURATION_RANGE[1]):
            config.fail(f"{where}.maxDuration", f"must be a whole number of seconds from {MAX_DURATION_RANGE[0]} "
                                                f"to {MAX_DURATION_RANGE[1]}, got {duration!r}")
        for key in ("includeFiles", "excludeFiles"):
            if key in body and not isinstance(body[key], str):
                config.fail(f"{where}.{key}", "must be a glob pattern string, e.g. \"data/**\"")
        if "excludeFiles" in body:
            # One package holds the whole project (every function and the static files), so nothing is left out.
            config.ignored.append(f"{where}.excludeFiles (list the files in .hearthignore instead)")
        try:
            regex = glob_regex(pattern)
        except ValueError as exc:
            config.fail(where, str(exc))
        found[pattern] = Settings(regex, memory, duration)
    return found


def settings_for(relative: str, settings: dict[str, Settings]) -> tuple[str | None, int, int]:
    """The first pattern (file order) matching ``relative``, with its memory and timeout; Vercel's defaults."""
    for pattern, found in settings.items():
        if pattern == relative or found.pattern.fullmatch(relative):
            return pattern, found.memory_mb, found.timeout_s
    return None, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A ``functions`` key as minimatch reads it: ``*``, ``?``, ``[abc]``, ``{a,b}``, and ``**`` for any folders."""
    try:
        return re.compile(glob_to_regex(pattern, braces=True))
    except re.error as exc:
        raise ValueError(f"not a valid pattern: {exc}") from None
