"""Load a project folder's ``hearth.toml`` into a ``Project``.

Every problem raises ``ConfigError`` naming the file, the key (with its line where it can be found) and what is
allowed, so that a typo is fixed in one look (``source.py`` finds the lines).

The tables are read by their own modules: ``functions.py`` (``[functions.NAME]``, its aliases and ``async``),
``gateway.py`` (``[gateway]``, ``[[routes]]``, ``[[headers]]``, ``[cors]``), and beside this package
``config/schedules.py``, ``config/triggers.py`` (a function's queues) and ``config/queues.py`` (``[queues.NAME]``).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

from hearth.config.include import check_includes
from hearth.config.manifest.functions import async_config, function_aliases, function_spec
from hearth.config.manifest.gateway import PROJECT_NAME, gateway_table, response_headers, route_spec, top_cors
from hearth.config.manifest.source import Source, key_error, queue_error
from hearth.config.queues import manifest_queues
from hearth.config.schedules import function_schedules
from hearth.config.triggers import function_queue_triggers
from hearth.config.vercel import is_vercel_project, load_vercel_project
from hearth.errors import ConfigError
from hearth.model import AliasSpec, EventSourceMappingSpec, Project, ScheduleSpec

__all__ = ["MANIFEST_NAME", "PROJECT_NAME", "default_name", "load_project", "named", "parse_project",
           "parse_vercel_project"]

MANIFEST_NAME = "hearth.toml"
TOP_KEYS = {"functions", "routes", "headers", "cors", "gateway", "queues"}


def load_project(root: Path) -> Project:
    """The project a folder declares: its ``hearth.toml`` when it has one, else its Vercel layout (``api/`` and
    ``vercel.json``, see ``config/vercel/``)."""
    root = root.resolve()
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory; give the path of a project folder")
    if not path.is_file():
        if is_vercel_project(root):
            return named(load_vercel_project(root), default_name(root))
        raise ConfigError(f"{path}: no manifest; create {MANIFEST_NAME} with a [functions.NAME] table (or give a "
                          "Vercel project: an api/ folder and/or vercel.json)")
    text = path.read_text(encoding="utf-8")
    if is_vercel_project(root) and not _declares_functions(text):  # hearth.toml only places a Vercel project
        return parse_vercel_project(root, default_name(root), text, path)
    project = parse_project(text, root, path, default_name(root))
    # Only here, on the machine that has the folders: a deployed manifest is parsed next to its package instead.
    check_includes(project, lambda name, problem: Source(path, text).error(
        f"functions.{name}.include", problem, "include", f"functions.{name}"))
    return project


def default_name(root: Path) -> str:
    """A project's name when its manifest gives none: its folder's name, made a valid one."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", root.name).lstrip("._-")[:64]
    return name or "project"


def named(project: Project, name: str) -> Project:
    """``project`` under ``name`` (its routes too), unless it has a name already."""
    if project.name:
        return project
    routes = tuple(dataclasses.replace(route, site=name) for route in project.routes)
    return dataclasses.replace(project, name=name, routes=routes)


def parse_project(text: str, root: Path, path: Path, name: str = "") -> Project:
    """The project a manifest's ``text`` declares, for code in ``root``; errors name ``path``. ``name`` is the
    project's name when the manifest's ``[gateway]`` gives none."""
    source = Source(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return named(parse_manifest(data, root, source), name)


def parse_vercel_project(root: Path, name: str, toml: str | None, toml_path: Path, config: str | None = None,
                         config_path: Path | None = None) -> Project:
    """A Vercel layout (``config/vercel/``; ``config`` is its ``vercel.json`` text when that is not in ``root``),
    placed on the gateway by the ``[gateway]`` table of the ``hearth.toml`` beside it (``toml``), which may hold
    nothing else: the project's functions are its ``api/`` files. ``name`` is its name when the table gives none."""
    project = load_vercel_project(root, config, config_path)
    if not toml:
        return named(project, name)
    source = Source(toml_path, toml)
    try:
        data = tomllib.loads(toml)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml_path}: not valid TOML: {exc}") from None
    others = sorted(set(data) - {"gateway"})
    if others:
        raise source.error(others[0], "beside api/ and vercel.json, hearth.toml may only hold a [gateway] table "
                                      "(name, hosts): the functions are the api/ files and vercel.json configures "
                                      "them; move this there, or drop api/ and vercel.json to describe the project "
                                      "in hearth.toml alone", line=source.top_level_line(others[0]))
    own, hosts, prefix = gateway_table(data.get("gateway", {}), source)
    if prefix:
        raise source.error("gateway.prefix", "a Vercel project's paths are its files' and vercel.json's; it cannot "
                                             "live under a prefix: give it hosts instead", "prefix", "gateway")
    return named(dataclasses.replace(project, hosts=hosts), own or name)


def _declares_functions(text: str) -> bool:
    """Whether a manifest's text has a ``functions`` table (one that does not parse is left to the parser)."""
    try:
        return "functions" in tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True


def parse_manifest(data: dict[str, Any], root: Path, source: Source) -> Project:
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise source.error(unknown[0], f"unknown key; allowed top-level keys: {', '.join(sorted(TOP_KEYS))}",
                           line=source.top_level_line(unknown[0]))
    raw_functions = data.get("functions", {})
    if not isinstance(raw_functions, dict) or not raw_functions:
        raise source.error("functions", "declare at least one function as a [functions.NAME] table")
    functions = {name: function_spec(name, raw, root, source) for name, raw in raw_functions.items()}
    aliases: list[AliasSpec] = []
    provisioned: dict[tuple[str, str], int] = {}
    for name, raw in raw_functions.items():
        for alias, count in function_aliases(name, raw.get("aliases", {}), source):
            aliases.append(alias)
            if count is not None:
                provisioned[(name, alias.name)] = count
    declared = {(alias.function, alias.name) for alias in aliases}
    event_invoke_configs = tuple(async_config(name, raw["async"], source) for name, raw in raw_functions.items()
                                 if "async" in raw)
    schedules: list[ScheduleSpec] = []
    mappings: list[EventSourceMappingSpec] = []
    for name, raw in raw_functions.items():
        schedules.extend(function_schedules(name, raw, key_error(source, f"functions.{name}")))
        mappings.extend(function_queue_triggers(name, raw, key_error(source, f"functions.{name}")))
    local = [spec.name for spec in schedules]
    clash = next((name for name in local if local.count(name) > 1), None)
    if clash is not None:
        raise source.error("functions", f"two schedules are named {clash!r}; give one a name of its own "
                                        "(name = \"…\" in its [[functions.NAME.schedules]] table)")
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, list):
        raise source.error("routes", "must be an array of tables ([[routes]])", key="routes")
    name, hosts, prefix = gateway_table(data.get("gateway", {}), source)
    routes = tuple(route_spec(index, raw, functions, declared, prefix, name, source, root)
                   for index, raw in enumerate(raw_routes))
    cors = top_cors(data["cors"], source) if "cors" in data else None
    raw_headers = data.get("headers", [])
    if not isinstance(raw_headers, list):
        raise source.error("headers", 'must be an array of tables: [[headers]] with source = "/assets/**" and '
                                      'headers = { "Cache-Control" = "public, max-age=600" }',
                           line=source.top_level_line("headers"))
    headers = tuple(response_headers(index, raw, cors is not None, source) for index, raw in enumerate(raw_headers))
    queues = manifest_queues(data["queues"], queue_error(source)) if "queues" in data else ()
    return Project(root=root, functions=functions, routes=routes, manifest=source.path, aliases=tuple(aliases),
                   provisioned=provisioned, headers=headers, cors=cors, name=name, hosts=hosts, prefix=prefix,
                   event_invoke_configs=event_invoke_configs, schedules=tuple(schedules), queues=queues,
                   event_source_mappings=tuple(mappings))
