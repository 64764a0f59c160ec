"""Where a manifest's problems are: the file, and the line of a key or table, for ``ConfigError``s that are fixed
in one look."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from hearth.errors import ConfigError


class Source:
    """The manifest text, for finding the line where a key is written."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, key: str, table: str | None = None, occurrence: int = 0) -> int | None:
        """The 1-based line of ``key = ...`` inside the ``occurrence``-th ``[table]`` (its header when key is empty)."""
        start = 0
        if table is not None:
            header = re.compile(r"^\s*\[+\s*" + re.escape(table) + r"\s*\]+\s*(#.*)?$")
            headers = [number for number, line in enumerate(self.lines) if header.match(line)]
            if len(headers) <= occurrence:
                return None
            start = headers[occurrence]
            if not key:
                return start + 1
        assignment = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for number in range(start, len(self.lines)):
            if number > start and self.lines[number].lstrip().startswith("["):
                break
            if assignment.match(self.lines[number]):
                return number + 1
        return None

    def top_level_line(self, key: str) -> int | None:
        """The line where a top-level ``key`` appears, as ``key = ...`` or as a ``[key...]`` table header."""
        pattern = re.compile(r"^\s*(\[+\s*" + re.escape(key) + r"\s*[.\]]|" + re.escape(key) + r"\s*=)")
        for number, line in enumerate(self.lines):
            if pattern.match(line):
                return number + 1
        return None

    def error(self, where: str, problem: str, key: str = "", table: str | None = None, occurrence: int = 0,
              line: int | None = None) -> ConfigError:
        if line is None and (key or table):
            line = self.line_of(key, table, occurrence)
        location = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{location}: {where}: {problem}")


def key_error(source: Source, table: str) -> Callable[[str, str], ConfigError]:
    """The error for a key of ``table`` (``schedules[0].expression`` points at its table's key ``schedules``)."""
    def fail(key: str, problem: str) -> ConfigError:
        found = re.match(r"^(\w+)\[(\d+)\]\.(\w+)$", key)
        if found is not None:  # a key of the n-th [[table.name]], or that table's line when the key is missing
            inner, occurrence = f"{table}.{found.group(1)}", int(found.group(2))
            line = source.line_of(found.group(3), inner, occurrence) or source.line_of("", inner, occurrence)
            return source.error(f"{table}.{key}", problem, line=line)
        return source.error(f"{table}.{key}", problem, key.split("[", 1)[0], table)

    return fail


def queue_error(source: Source) -> Callable[[str, str, str], ConfigError]:
    """The error for a key of a ``[queues.NAME]`` table (its header's line when the key is not written)."""
    def fail(table: str, key: str, problem: str) -> ConfigError:
        line = (source.line_of(key, table) if key and table else None) or (
            source.line_of("", table) if table else None) or source.top_level_line("queues")
        return source.error(f"{table}.{key}" if key else table or "queues", problem, line=line)

    return fail
