"""Vercel's pattern languages, compiled to Python regular expressions: ``source`` patterns, legacy ``src`` regexes,
and the destinations and header values that refer to what they captured.

``source`` (rewrites, redirects, headers) is path-to-regexp 6 as Vercel calls it (``/`` as the delimiter, strict,
anchored at both ends):

- ``:name`` captures one segment (``[^/]+?``); ``:name(\\d+)`` with its own regular expression;
- a modifier after a parameter: ``?`` optional, ``*`` zero or more segments, ``+`` one or more (``/blog/:path*``);
  a ``/`` or ``.`` right before the parameter is part of it, so ``/blog/:path*`` also matches ``/blog``;
- ``(.*)`` is an unnamed capture (``$1``); ``{…}`` groups text with a parameter (``/{v:version}?``);
- ``\\`` escapes the next character; every other character stands for itself; a stray ``*``, ``?`` or ``+`` is an
  error (write ``(.*)`` or ``:path*``), and so is a capturing group inside ``(…)`` (use ``(?:…)``).

Legacy ``src`` is a regular expression that Vercel anchors with ``^`` and ``$`` unless it already starts or ends
with them. Both are JavaScript regular expressions; ``(?<name>…)`` and ``\\k<name>`` are translated to Python's
spelling, and anything Python's ``re`` cannot compile is reported as a ``PatternError``.

A destination (and a header value) refers to what matched with ``:name`` (source parameters, and the keys and
named groups of ``has`` conditions), ``$1``… (the regex's groups) and ``$name`` (named groups). A parameter the
rule does not define stays as written. Matching is case-insensitive, as Vercel's route matching is by default;
a legacy route can set ``caseSensitive``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

_NAME_CHAR = re.compile(r"[A-Za-z0-9_]+")
_DEFAULT_PATTERN = "[^/]+?"
_PREFIXES = "./"
_TEMPLATE_TOKEN = re.compile(r":([A-Za-z0-9_]+)[*+?]?|\$([1-9][0-9]*|[A-Za-z_][A-Za-z0-9_]*)")
_JS_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z_$][A-Za-z0-9_$]*)>")
_JS_BACKREFERENCE = re.compile(r"\\k<([A-Za-z_$][A-Za-z0-9_$]*)>")


class PatternError(ValueError):
    """A pattern or regular expression that cannot be compiled; the message says where and why."""


@dataclass(frozen=True, slots=True)
class _Key:
    """One parameter of a source pattern: its name (a number for an unnamed group) and how it matches."""

    name: str | int
    prefix: str
    suffix: str
    pattern: str
    modifier: str


@dataclass(frozen=True, slots=True)
class Source:
    """A compiled ``source``: its regular expression and, per parameter, its name and the group holding it."""

    regex: re.Pattern[str]
    params: tuple[tuple[str, str], ...]  # (parameter name, group name in ``regex``) for named parameters

    def names(self) -> frozenset[str]:
        """The names of the source's named parameters."""
        return frozenset(name for name, _ in self.params)


def js_regex(text: str) -> str:
    """A JavaScript regular expression's text in Python's spelling (named groups and backreferences)."""
    def named(match: re.Match[str]) -> str:
        name = match.group(1)
        if "$" in name:
            raise PatternError(f"group name {name!r}: use letters, digits and '_'")
        return f"(?P<{name}>"

    text = _JS_NAMED_GROUP.sub(named, text)
    return _JS_BACKREFERENCE.sub(lambda match: f"(?P={match.group(1)})", text)


def compile_regex(src: str, *, case_sensitive: bool = False) -> re.Pattern[str]:
    """A legacy route's ``src``, anchored as Vercel anchors it; raises ``PatternError``."""
    if not src.startswith("^"):
        src = "^" + src
    if not src.endswith("$"):
        src = src + "$"
    try:
        return re.compile(js_regex(src), 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise PatternError(f"not a valid regular expression: {exc}") from None


def compile_source(source: str) -> Source:
    """A ``source`` pattern's regular expression and parameters; raises ``PatternError`` saying what is wrong."""
    if not source.startswith("/"):
        raise PatternError('a source is a path starting with "/", e.g. "/blog/:slug" or "/(.*)"')
    keys = _parse(_lex(source))
    parts = ["^"]
    params: list[tuple[str, str]] = []
    for index, token in enumerate(keys):
        if isinstance(token, str):
            parts.append(re.escape(token))
            continue
        prefix, suffix = re.escape(token.prefix), re.escape(token.suffix)
        if not token.pattern:  # a {…} group without a parameter: optional or repeated text
            parts.append(f"(?:{prefix}{suffix}){token.modifier}")
            continue
        group = f"_p{index}"
        if isinstance(token.name, str):
            params.append((token.name, group))
        pattern = js_regex(token.pattern)
        if prefix or suffix:
            if token.modifier in ("+", "*"):
                optional = "?" if token.modifier == "*" else ""
                parts.append(f"(?:{prefix}(?P<{group}>(?:{pattern})(?:{suffix}{prefix}(?:{pattern}))*){suffix})"
                             f"{optional}")
            else:
                parts.append(f"(?:{prefix}(?P<{group}>{pattern}){suffix}){token.modifier}")
        else:
            parts.append(f"(?P<{group}>{pattern}){token.modifier}")
    parts.append("$")
    try:
        regex = re.compile("".join(parts), re.IGNORECASE)
    except re.error as exc:
        raise PatternError(f"not a valid pattern: {exc}") from None
    return Source(regex, tuple(params))


def _lex(text: str) -> list[tuple[str, str, int]]:
    """Tokens ``(kind, value, position)``: MODIFIER, ESCAPED, OPEN, CLOSE, NAME, PATTERN, CHAR and a final END."""
    tokens: list[tuple[str, str, int]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "*+?":
            tokens.append(("MODIFIER", char, i))
            i += 1
        elif char == "\\":
            if i + 1 >= len(text):
                raise PatternError(f"a '\\' at the end (position {i}) escapes nothing")
            tokens.append(("ESCAPED", text[i + 1], i))
            i += 2
        elif char in "{}":
            tokens.append(("OPEN" if char == "{" else "CLOSE", char, i))
            i += 1
        elif char == ":":
            name = _NAME_CHAR.match(text, i + 1)
            if name is None:
                raise PatternError(f"':' at position {i} has no parameter name (letters, digits, '_')")
            tokens.append(("NAME", name.group(), i))
            i = name.end()
        elif char == "(":
            pattern, i = _group(text, i)
            tokens.append(("PATTERN", pattern, i))
        else:
            tokens.append(("CHAR", char, i))
            i += 1
    tokens.append(("END", "", len(text)))
    return tokens


def _group(text: str, start: int) -> tuple[str, int]:
    """The regular expression inside the ``(…)`` opening at ``start``, and the position after it."""
    depth = 1
    j = start + 1
    if j < len(text) and text[j] == "?":
        raise PatternError(f"the group at position {start} cannot start with '?'")
    pattern = []
    while j < len(text):
        if text[j] == "\\":
            pattern.append(text[j:j + 2])
            j += 2
            continue
        if text[j] == ")":
            depth -= 1
            if depth == 0:
                j += 1
                break
        elif text[j] == "(":
            depth += 1
            if text[j + 1:j + 2] != "?":
                raise PatternError(f"a capturing group inside (…) at position {j}; write (?:…)")
        pattern.append(text[j])
        j += 1
    if depth:
        raise PatternError(f"the group at position {start} is not closed")
    if not pattern:
        raise PatternError(f"the group at position {start} is empty")
    return "".join(pattern), j


def _parse(tokens: list[tuple[str, str, int]]) -> list[str | _Key]:
    """path-to-regexp's parse: literal text and parameters, a '/' or '.' before a parameter becoming its prefix."""
    result: list[str | _Key] = []
    position = 0
    unnamed = 0
    path = ""

    def take(kind: str) -> str | None:
        nonlocal position
        if tokens[position][0] == kind:
            position += 1
            return tokens[position - 1][1]
        return None

    def text() -> str:
        found = ""
        while True:
            value = take("CHAR")
            if value is None:
                value = take("ESCAPED")
            if value is None:
                return found
            found += value

    while position < len(tokens):
        char = take("CHAR")
        name = take("NAME")
        pattern = take("PATTERN")
        if name is not None or pattern is not None:
            prefix = char or ""
            if prefix not in _PREFIXES:
                path += prefix
                prefix = ""
            if path:
                result.append(path)
                path = ""
            key: str | int = name if name is not None else unnamed
            if name is None:
                unnamed += 1
            result.append(_Key(key, prefix, "", pattern or _DEFAULT_PATTERN, take("MODIFIER") or ""))
            continue
        value = char if char is not None else take("ESCAPED")
        if value is not None:
            path += value
            continue
        if path:
            result.append(path)
            path = ""
        if take("OPEN") is not None:
            prefix = text()
            name = take("NAME") or ""
            pattern = take("PATTERN") or ""
            suffix = text()
            if take("CLOSE") is None:
                kind, _, at = tokens[position]
                raise PatternError(f"expected '}}' at position {at}, found {kind.lower()}")
            group_name: str | int = name
            if not name and pattern:
                group_name = unnamed
                unnamed += 1
            result.append(_Key(group_name, prefix, suffix, _DEFAULT_PATTERN if name and not pattern else pattern,
                               take("MODIFIER") or ""))
            continue
        kind, value_text, at = tokens[position]
        if kind != "END":
            hint = " (write (.*) or :name* for any path)" if kind == "MODIFIER" else ""
            raise PatternError(f"unexpected {value_text!r} at position {at}{hint}")
        position += 1
    return result


Encode = Callable[[str], str]


def _same(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class Template:
    """A text with ``:name``, ``$1`` and ``$name`` references, rendered with what a rule matched."""

    parts: tuple[str | tuple[str, str], ...]  # literal text, or ("param" | "group", name)

    @classmethod
    def compile(cls, text: str, params: frozenset[str]) -> Template:
        """``text`` with references to ``params`` (``:name``) and to regex groups (``$…``); others stay as they are."""
        parts: list[str | tuple[str, str]] = []
        end = 0
        for match in _TEMPLATE_TOKEN.finditer(text):
            if match.group(1) is not None and match.group(1) not in params:
                continue  # not a parameter of this rule: literal text (e.g. a port)
            parts.append(text[end:match.start()])
            parts.append(("param", match.group(1)) if match.group(1) is not None else ("group", match.group(2)))
            end = match.end()
        parts.append(text[end:])
        return cls(tuple(part for part in parts if part != ""))

    @property
    def references(self) -> frozenset[str]:
        """The ``:name`` parameters this template uses."""
        return frozenset(part[1] for part in self.parts if isinstance(part, tuple) and part[0] == "param")

    def render(self, params: Mapping[str, str], groups: Sequence[str | None], encode: Encode = _same) -> str:
        """The text with every reference replaced by its (encoded) value; a reference that matched nothing is ""."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            kind, name = part
            if kind == "param":
                out.append(encode(params.get(name, "")))
            elif name.isdigit():
                index = int(name)
                value = groups[index - 1] if index <= len(groups) else None
                out.append(encode(value or ""))
            elif name in params:
                out.append(encode(params[name]))
            else:
                out.append("$" + name)
        return "".join(out)
