"""The ``hearth dev`` loop: watch the project folder and reload code and manifest within a fraction of a second.

After a change, new invocations run on new instances; invocations in flight finish on the old code. A manifest
that no longer loads is reported and the last good one stays in force.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import watchfiles

from hearth.config.manifest import MANIFEST_NAME, load_project
from hearth.errors import HearthError
from hearth.platform import Platform

DEBOUNCE_MS = 50
STEP_MS = 25


async def watch(root: Path, platform: Platform, report: Callable[[str], None],
                stop: asyncio.Event | None = None) -> None:
    """Reload ``platform`` whenever a file under ``root`` changes, until ``stop`` is set."""
    async for changes in watchfiles.awatch(root, debounce=DEBOUNCE_MS, step=STEP_MS, stop_event=stop,
                                           watch_filter=watchfiles.DefaultFilter(), recursive=True):
        paths = [Path(path) for _, path in changes]
        if any(path.name == MANIFEST_NAME and path.parent == root for path in paths):
            try:
                applied = platform.catalog.apply(load_project(root), prune=True)
            except HearthError as error:  # a bad manifest, or one the catalog refuses
                report(f"manifest not reloaded, the previous one stays in force: {error.message}")
            else:
                for change in applied:
                    if change.action == "skipped":
                        report(f"{change.subject} skipped: {change.detail}")
        platform.reload()
        names = ", ".join(sorted({path.name for path in paths}))
        report(f"reloaded after a change to {names}")
