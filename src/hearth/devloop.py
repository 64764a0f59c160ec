"""The ``hearth dev`` loop: watch the project folder and reload code and manifest within a fraction of a second.

After a change, new invocations run on new instances; invocations in flight finish on old code. The project is
read again when its manifest changes (``hearth.toml``, or ``vercel.json``) or, for a Vercel layout, when a file
appears in or disappears from ``api/`` (files are functions there); a project that no longer loads is reported
and the last good one stays in force. Folders the functions ``include`` from outside the project are watched too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from hearth.config.include import mounts
from hearth.config.manifest import MANIFEST_NAME, load_project
from hearth.config.vercel import API_DIR, CONFIG_NAME
from hearth.errors import HearthError
from hearth.platform import Platform

DEBOUNCE_MS = 50
STEP_MS = 25


async def watch(root: Path, platform: Platform, report: Callable[[str], None],
                stop: asyncio.Event | None = None) -> None:
    """Reload ``platform`` whenever a file under ``root`` (or a folder it includes) changes, until ``stop`` is set."""
    while True:
        watched = _watched(root, platform)
        async for changes in watchfiles.awatch(*watched, debounce=DEBOUNCE_MS, step=STEP_MS, stop_event=stop,
                                               watch_filter=watchfiles.DefaultFilter(), recursive=True):
            if _reshapes_project(root, changes):
                try:
                    project = load_project(root)
                    applied = platform.catalog.apply(project, prune=True)
                except HearthError as error:  # a bad manifest, or one the catalog refuses
                    report(f"manifest not reloaded, the previous one stays in force: {error.message}")
                else:
                    for change in applied:
                        if change.action == "skipped":
                            report(f"{change.subject} skipped: {change.detail}")
            platform.reload()
            names = ", ".join(sorted({Path(path).name for _, path in changes}))
            report(f"reloaded after a change to {names}")
            if _watched(root, platform) != watched:
                break  # the manifest changed what is included: watch the new set of folders
        else:
            return  # stopped


def _reshapes_project(root: Path, changes: Iterable[tuple[watchfiles.Change, str]]) -> bool:
    """Whether ``changes`` may change the project itself, not only its code."""
    api = root / API_DIR
    for change, raw in changes:
        path = Path(raw)
        if path.parent == root and path.name in (MANIFEST_NAME, CONFIG_NAME):
            return True
        if change != watchfiles.Change.modified and path.is_relative_to(api):
            return True
    return False


def _watched(root: Path, platform: Platform) -> tuple[Path, ...]:
    """The project folder and the folders its live functions include (those that exist)."""
    paths = {root}
    for record in platform.catalog.functions.values():
        if record.latest.code_sha256 == "":
            paths.update(path for path, _ in mounts(record.latest) if path.exists())
    return tuple(sorted(paths))
