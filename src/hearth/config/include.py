"""Shared code from outside a project folder: a function's ``include = ["../pkg"]`` in hearth.toml.

A monorepo keeps code that several apps use beside them (``pkg/`` next to ``app1/``). ``include`` names such
folders (or files) relative to the project folder; each appears at the root of the function's code under its own
name, so ``import pkg`` works as for a folder inside the project:

- ``hearth deploy`` packs them into the zip (``build_package(..., include=included(project))``); a deployed
  manifest is parsed next to that package, where they already are;
- ``hearth dev`` runs such a function from a *view* of the project (``LiveViews``): a folder of symbolic links to
  every entry of the project folder and to each included folder, brought in line with the project's top level on
  every reload. Edits show through the links at once; a file the function writes into its working directory lands
  in the view, not in the project (Lambda's code folder is read-only anyway);
- publishing from ``hearth dev`` snapshots the project folder with the included folders (``Catalog.snapshot``).

Why not ``PYTHONPATH`` in the function's environment: Python instances are forked from a zygote that is already
running (and was started with ``-I``, which ignores it), so no variable can change their ``sys.path``; the worker
puts exactly one folder there, the code folder, so the code folder is what must hold the included code. A view
also gives ``http`` and ``provided`` functions (which run in the code folder) the same layout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from hearth.errors import ConfigError, ServiceError
from hearth.model import FunctionSpec, Project

Mount = tuple[Path, str]  # (the folder or file, its name at the root of the code)


def include_problem(item: str, items: Iterable[str]) -> str | None:
    """Why one ``include`` entry cannot be used, judging only how it is written; None when it can."""
    if not item or item.strip() != item or "\\" in item:
        return 'give a path relative to the project folder, such as "../pkg"'
    path = PurePosixPath(item)
    if path.is_absolute():
        return f"{item!r} is absolute; give it relative to the project folder (e.g. \"../pkg\"), so the project " \
               "can move"
    if path.name in ("", ".", ".."):
        return f"{item!r} does not end with a name; include the folder itself (\"../pkg\"), which the code gets " \
               "under that name"
    if sum(1 for other in items if PurePosixPath(other).name == path.name) > 1:
        return f"two entries would both appear as {path.name!r} at the root of the code"
    return None


def mounts(spec: FunctionSpec) -> tuple[Mount, ...]:
    """``spec``'s included folders, resolved against its code folder, with the names they get."""
    return tuple(((spec.code_dir / item).resolve(), PurePosixPath(item).name) for item in spec.include)


def included(project: Project) -> tuple[Mount, ...]:
    """Every folder the project's functions include (once each, sorted by name): what its package adds."""
    found: dict[str, Path] = {}
    for spec in project.functions.values():
        for path, name in mounts(spec):
            found[name] = path
    return tuple((found[name], name) for name in sorted(found))


def check_includes(project: Project, fail: Callable[[str, str], ConfigError]) -> None:
    """Refuse includes that are missing, already in the project, or clash; ``fail(function, problem)`` makes the
    error (naming the manifest's line)."""
    root = project.root
    owners: dict[str, tuple[Path, str]] = {}
    for spec in project.functions.values():
        for (path, name), item in zip(mounts(spec), spec.include, strict=True):
            if not path.exists():
                raise fail(spec.name, f"{item}: no such folder or file ({path})")
            if path == root or path.is_relative_to(root):
                raise fail(spec.name, f"{item} is inside the project folder, which is packaged whole already; "
                                      "remove it from include")
            if root.is_relative_to(path):
                raise fail(spec.name, f"{item} holds the project folder itself; include the folder with the shared "
                                      "code (e.g. \"../pkg\")")
            if (root / name).exists() or (root / name).is_symlink():
                raise fail(spec.name, f"{item} would appear as {name}, but the project already has {name}; rename "
                                      "one of them")
            owner = owners.setdefault(name, (path, spec.name))
            if owner[0] != path:
                raise fail(spec.name, f"{item} and the include of function {owner[1]} ({owner[0]}) would both "
                                      f"appear as {name}; the package holds one")


class LiveViews:
    """``hearth dev``'s code folders for live functions that include folders: views of the project with them."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self._views: dict[tuple[Path, tuple[Mount, ...]], Path] = {}

    def code_dir(self, spec: FunctionSpec) -> Path:
        """The folder ``spec`` runs from: its own, or (a live folder with includes) a view, created if need be."""
        if not spec.include or spec.code_sha256:
            return spec.code_dir  # a package holds its included folders already
        key = (spec.code_dir, mounts(spec))
        view = self._views.get(key)
        if view is None:
            digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
            view = self._views[key] = self.scratch / digest
        _sync(view, *key)
        return view

    def refresh(self) -> None:
        """Bring every view in line with its project folder (entries added or removed at its top level)."""
        for (root, included_mounts), view in self._views.items():
            _sync(view, root, included_mounts)

    def close(self) -> None:
        """Remove every view."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._views.clear()


def _sync(view: Path, root: Path, included_mounts: tuple[Mount, ...]) -> None:
    """Make ``view`` hold one link per entry of ``root`` and per mount, and nothing else."""
    try:
        wanted = {entry.name: entry.path for entry in os.scandir(root)}
        for path, name in included_mounts:
            wanted.setdefault(name, str(path))  # the project's own entry wins (check_includes refuses the clash)
        view.mkdir(parents=True, exist_ok=True)
        for entry in os.scandir(view):
            target = os.readlink(entry.path) if entry.is_symlink() else None
            if wanted.get(entry.name) != target:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        for name, target in wanted.items():
            link = view / name
            if not link.is_symlink():
                os.symlink(target, link)
    except OSError as exc:
        raise ServiceError(f"{view}: cannot prepare the code folder of {root} with its included folders: "
                           f"{exc.strerror or exc}") from None
