"""Load a Vercel project (``api/`` and ``vercel.json``, no ``hearth.toml``) into a ``Project``.

Functions: every ``api/**/*.py`` is one function, except files and folders whose name starts with ``_`` or ``.``
(shared code they import) and ``node_modules``. Its handler is the file's path (``handler = "api/users/[id].py"``)
and its route the path without ``.py``:

- ``api/user.py`` → ``/api/user``; ``api/index.py`` → ``/api`` (an ``index`` file answers for its folder);
- ``[name]`` (a file or a folder) is one path segment: ``api/users/[id].py`` → ``/api/users/{id}``;
- ``[...name]`` (last) is one or more segments: ``api/docs/[...slug].py`` → ``/api/docs/{slug+}``;
- ``[[...name]]`` (last) is zero or more: ``/api/docs`` and ``/api/docs/{slug+}`` (Next.js's optional catch-all).

Vercel's own ``api/`` routing has neither catch-all; Hearth adds both. Precedence is Vercel's: a static path before
a dynamic one (more static segments first), catch-alls last (``gateway/routes.py`` ranks them so). Two files that
answer the same paths, or that name the same segment differently (``api/[a]/x.py`` and ``api/[b]/y.py``), are an
error, as on Vercel. Parameter names are Python identifiers.

Function names depend only on the file's own path, so adding or removing files never renames another: the path
without ``.py``, ``/`` becoming ``-``, a ``-`` within a name doubled (``--``), ``[id]`` → ``_id``, ``[...slug]`` →
``__slug``, ``[[...slug]]`` → ``___slug`` (``api/users/[id].py`` → ``api-users-_id``, ``api/get-user.py`` →
``api-get--user``). A path this cannot spell within Lambda's 64 characters of ``[A-Za-z0-9_-]`` (other characters,
a name starting or ending with ``-``, too long) gets a readable prefix and the first 8 hex digits of the path's
SHA-256 (``api/hello world.py`` → ``api-hello-world-0c5d…``); the load fails if two names still collide.

vercel.json: ``rewrites``, ``redirects``, ``headers``, ``routes`` (legacy; not with the other four nor
``cleanUrls``/``trailingSlash``), ``cleanUrls``, ``trailingSlash``, ``functions`` (glob → ``memory``,
``maxDuration``, ``includeFiles``, ``excludeFiles``), ``crons``, ``env`` (legacy: variables for every function),
``outputDirectory`` and ``public``. Defaults are Vercel's: 1024 MB and 10 s. Static files come from
``outputDirectory``, else ``public/`` when it exists, else the project root (``gateway/static.py`` hides the
project's code there). A key Hearth does not support is named in one warning (logger ``hearth.config``) rather
than silently ignored; a wrong type, a bad pattern or invalid JSON is a ``ConfigError`` naming the file and key.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from hearth.config.schedules import cron_schedule
from hearth.config.vercel.api import (
    API_DIR,
    api_files,
    api_routes,
    check_conflicts,
    function_name,
    function_settings,
    glob_regex,
    rank,
    settings_for,
)
from hearth.config.vercel.reader import VercelJson, array, boolean, obj, optional_boolean, text
from hearth.config.vercel.rules import headers_rule, legacy_routes, redirect, rewrite
from hearth.errors import ConfigError
from hearth.model import FunctionSpec, Project, RouteSpec, ScheduleSpec, VercelRouting

__all__ = ["API_DIR", "CONFIG_NAME", "function_name", "glob_regex", "is_vercel_project", "load_vercel_project"]

log = logging.getLogger("hearth.config")

CONFIG_NAME = "vercel.json"
PUBLIC_DIR = "public"
TOP_KEYS = {"rewrites", "redirects", "headers", "routes", "cleanUrls", "trailingSlash", "functions", "crons", "env",
            "outputDirectory", "public", "$schema"}
CRON_KEYS = {"path", "schedule"}
MIXED = ("rewrites", "redirects", "headers", "cleanUrls", "trailingSlash")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def is_vercel_project(root: Path) -> bool:
    """Whether ``root`` has a Vercel layout: a ``vercel.json`` or an ``api/`` folder."""
    return (root / CONFIG_NAME).is_file() or (root / API_DIR).is_dir()


def load_vercel_project(root: Path, text: str | None = None, path: Path | None = None) -> Project:
    """The project a Vercel layout declares; raises ``ConfigError``, warns once about what it leaves out.
    ``text`` is its ``vercel.json`` when the file is not in ``root`` (a deployed package; errors then name
    ``path``)."""
    root = root.resolve()
    path = path or root / CONFIG_NAME
    config = VercelJson(path)
    data: dict[str, Any] = {}
    if text is None and path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"{path}: cannot read it as UTF-8 text: {exc}") from None
    if text is not None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(data, dict):
            config.fail("(top level)", "must be a JSON object, e.g. {\"rewrites\": []}")
    config.unsupported("", data, TOP_KEYS)
    mixed = [key for key in MIXED if key in data]
    if "routes" in data and mixed:
        config.fail("routes", f"cannot be used with {', '.join(mixed)} (Vercel refuses the mix); move the legacy "
                              "routes into rewrites, redirects and headers, or drop the other keys")
    routing = VercelRouting(
        redirects=tuple(redirect(config, f"redirects[{i}]", raw) for i, raw in enumerate(array(config, data,
                                                                                                 "redirects"))),
        headers=tuple(headers_rule(config, f"headers[{i}]", raw)
                      for i, raw in enumerate(array(config, data, "headers"))),
        rewrites=tuple(rewrite(config, f"rewrites[{i}]", raw) for i, raw in enumerate(array(config, data,
                                                                                               "rewrites"))),
        routes=legacy_routes(config, array(config, data, "routes")),
        clean_urls=boolean(config, data, "cleanUrls", False),
        trailing_slash=optional_boolean(config, data, "trailingSlash"),
    )
    boolean(config, data, "public", False)  # Vercel: source and logs visible to anyone; nothing to show here
    env = _env(config, data.get("env", {}))
    settings = function_settings(config, data.get("functions", {}))
    files, others = api_files(root)
    config.ignored.extend(f"{name} (only Python functions run on Hearth)" for name in others)
    functions: dict[str, FunctionSpec] = {}
    routes: list[tuple[tuple[int, int, str], RouteSpec]] = []
    used: set[str] = set()
    owners: dict[str, str] = {}
    for relative in files:
        name = function_name(relative)
        if name in owners:
            raise ConfigError(f"{root / relative}: its function name {name!r} is also the name of "
                              f"{owners[name]}; rename one of the files")
        owners[name] = relative
        pattern, memory_mb, timeout_s = settings_for(relative, settings)
        if pattern is not None:
            used.add(pattern)
        functions[name] = FunctionSpec(name=name, handler=relative, code_dir=root, runtime="python",
                                       memory_mb=memory_mb, timeout_s=timeout_s, env=dict(env))
        for route_path in api_routes(relative, root):
            routes.append((rank(route_path), RouteSpec(path=route_path, function=name)))
    unused = [pattern for pattern in settings if pattern not in used]
    if unused:
        config.fail(f"functions.{unused[0]}", "matches no Python file under api/ (a pattern names files relative "
                                              "to the project folder, e.g. \"api/*.py\" or \"api/**/*.py\")")
    check_conflicts(root, [(route.path, owners[route.function]) for _, route in routes])
    if config.ignored:
        log.warning("%s: not supported by Hearth and ignored: %s", path if text is not None else root,
                    "; ".join(config.ignored))
    return Project(
        root=root,
        functions=functions,
        routes=tuple(route for _, route in sorted(routes, key=lambda item: item[0])),
        manifest=path,
        layout="vercel",
        routing=routing,
        static_dir=_static_dir(config, root, data.get("outputDirectory")),
        schedules=tuple(_cron(config, i, raw) for i, raw in enumerate(array(config, data, "crons"))),
    )


def _env(config: VercelJson, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        config.fail("env", 'must be an object of strings, e.g. {"GREETING": "hi"}')
    bad = [name for name in raw if not _ENV_NAME.match(name)]
    if bad:
        config.fail("env", f"invalid variable name {bad[0]!r}; use letters, digits and '_'")
    return dict(raw)


def _cron(config: VercelJson, index: int, raw: Any) -> ScheduleSpec:
    where = f"crons[{index}]"
    raw = obj(config, where, raw, CRON_KEYS)
    path = text(config, where, raw, "path", '"/api/cron"')
    if not path.startswith("/") or len(path) > 512:
        config.fail(f"{where}.path", 'must be a path starting with "/" (at most 512 characters), e.g. "/api/cron"')
    schedule = text(config, where, raw, "schedule", '"0 5 * * *"')
    if len(schedule.split()) != 5:
        config.fail(f"{where}.schedule", f"must be a cron expression of five fields (minute hour day month "
                                         f"weekday), e.g. \"0 5 * * *\", got {schedule!r}")
    try:
        return cron_schedule(index, path, schedule)
    except ValueError as exc:
        config.fail(f"{where}.schedule", str(exc))


def _static_dir(config: VercelJson, root: Path, output: Any) -> Path:
    if output is not None:
        if not isinstance(output, str) or not output or os.path.isabs(output):
            config.fail("outputDirectory", 'must be a folder inside the project, e.g. "dist"')
        folder = (root / output).resolve()
        if not folder.is_relative_to(root):
            config.fail("outputDirectory", f"{output!r} is outside the project folder")
        if not folder.is_dir():
            config.fail("outputDirectory", f"{output!r} is not a folder (build it first, or remove the key)")
        return folder
    public = root / PUBLIC_DIR
    return public if public.is_dir() else root
