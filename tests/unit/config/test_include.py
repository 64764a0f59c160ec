"""``include = ["../pkg"]``: shared code from beside the project is checked at load, packed into the zip at its
own name, and (``hearth dev``) put beside the project in a view the function runs from."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hearth.catalog import Catalog
from hearth.config.include import LiveViews, included, mounts
from hearth.config.manifest import load_project
from hearth.config.package import build_package, pack
from hearth.config.settings import Settings
from hearth.errors import ConfigError
from hearth.model import FunctionSpec
from hearth.platform import Platform
from hearth.store import SqliteStore
from hearth.store.code import CodeStore

APP = 'from pkg.greet import hello\n\ndef handler(event, context):\n    return {"message": hello()}\n'


MANIFEST = '[functions.app]\nhandler = "app.handler"\ninclude = ["../pkg"]\n'


def monorepo(tmp_path: Path, manifest: str = MANIFEST) -> Path:
    """``tmp_path/app1`` (the project) with ``tmp_path/pkg`` beside it."""
    files = {
        "app1/hearth.toml": manifest,
        "app1/app.py": APP,
        "app1/data.txt": "data",
        "pkg/__init__.py": "",
        "pkg/greet.py": 'def hello():\n    return "hello from pkg"\n',
        "pkg/.hearthignore": "fixtures/\n",
        "pkg/fixtures/big.bin": "x" * 100,
        "shared.py": "X = 1\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "app1"


def names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def test_include_is_read_into_the_spec(tmp_path: Path) -> None:
    project = load_project(monorepo(tmp_path))
    spec = project.functions["app"]
    assert spec.include == ("../pkg",)
    assert mounts(spec) == (((tmp_path / "pkg").resolve(), "pkg"),)
    assert included(project) == (((tmp_path / "pkg").resolve(), "pkg"),)


@pytest.mark.parametrize(("include", "problem"), [
    ('"../pkg"', "functions.app.include: must be a list of folders relative to the project folder"),
    ('["/abs/pkg"]', "'/abs/pkg' is absolute; give it relative to the project folder"),
    ('[".."]', "'..' does not end with a name"),
    ('["../pkg", "../other/pkg"]', "two entries would both appear as 'pkg'"),
    ('[""]', "give a path relative to the project folder"),
])
def test_include_is_checked_as_written(tmp_path: Path, include: str, problem: str) -> None:
    root = monorepo(tmp_path, f'[functions.app]\nhandler = "app.handler"\ninclude = {include}\n')
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert caught.value.message.startswith(f"{root.resolve() / 'hearth.toml'}:3: ")
    assert problem in caught.value.message


@pytest.mark.parametrize(("include", "problem"), [
    ('["../missing"]', "../missing: no such folder or file"),
    ('["./data.txt"]', "./data.txt is inside the project folder, which is packaged whole already"),
    ('["../../' + '"]', "does not end with a name"),
])
def test_include_is_checked_against_the_folders(tmp_path: Path, include: str, problem: str) -> None:
    root = monorepo(tmp_path, f'[functions.app]\nhandler = "app.handler"\ninclude = {include}\n')
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert caught.value.message.startswith(f"{root.resolve() / 'hearth.toml'}:3: functions.app.include: ")
    assert problem in caught.value.message


def test_an_include_may_not_hide_a_project_entry_or_another_include(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    (root / "pkg").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert "../pkg would appear as pkg, but the project already has pkg" in caught.value.message
    (root / "pkg").rmdir()
    (tmp_path / "other" / "pkg").mkdir(parents=True)
    (root / "hearth.toml").write_text('[functions.app]\nhandler = "app.handler"\ninclude = ["../pkg"]\n'
                                      '[functions.b]\nhandler = "app.handler"\ninclude = ["../other/pkg"]\n')
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert "would both appear as pkg; the package holds one" in caught.value.message


def test_an_include_holding_the_project_is_refused(tmp_path: Path) -> None:
    root = monorepo(tmp_path, '[functions.app]\nhandler = "app.handler"\ninclude = ["../../' + tmp_path.name + '"]\n')
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert "holds the project folder itself" in caught.value.message


def test_a_deployed_manifest_is_parsed_without_the_folders(tmp_path: Path) -> None:
    from hearth.config.manifest import parse_project

    text = '[functions.app]\nhandler = "app.handler"\ninclude = ["../pkg"]\n'
    project = parse_project(text, tmp_path, tmp_path / "hearth.toml (deployed)")  # no ../pkg here: not checked
    assert project.functions["app"].include == ("../pkg",)


def test_the_package_contains_the_included_folder(tmp_path: Path) -> None:
    project = load_project(monorepo(tmp_path))
    package = build_package(project.root, python=sys.executable, exclude=frozenset({"hearth.toml"}),
                            include=included(project))
    # the included folder's own .hearthignore applies to it
    assert names(package.data) == ["app.py", "data.txt", "pkg/.hearthignore", "pkg/__init__.py", "pkg/greet.py"]
    again = build_package(project.root, python=sys.executable, exclude=frozenset({"hearth.toml"}),
                          include=included(project))
    assert again.sha256 == package.sha256


def test_a_file_can_be_included_and_a_clash_is_an_error(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    data, _, _ = pack([root], include=[(tmp_path / "shared.py", "shared.py")])
    assert "shared.py" in names(data)
    with pytest.raises(ConfigError) as caught:
        pack([root], include=[(tmp_path / "shared.py", "app.py")])
    assert "included as app.py, but" in caught.value.message


def live(root: Path, **changes: object) -> FunctionSpec:
    spec = FunctionSpec(name="app", handler="app.handler", code_dir=root, include=("../pkg",))
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def test_a_live_view_has_the_project_and_the_included_folders(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    views = LiveViews(tmp_path / "views")
    view = views.code_dir(live(root))
    assert view.parent == tmp_path / "views"
    assert sorted(os.listdir(view)) == ["app.py", "data.txt", "hearth.toml", "pkg"]
    assert (view / "pkg").resolve() == (tmp_path / "pkg").resolve()
    assert views.code_dir(live(root)) == view  # one view per project and set of includes
    # the worker chdirs into its code folder and puts it first on sys.path: that is all `import pkg` needs
    result = subprocess.run([sys.executable, "-I", "-B", "-c", "import sys; sys.path.insert(0, '.'); import app; "
                             "print(app.handler({}, None)['message'])"], cwd=view, capture_output=True, text=True,
                            check=False)
    assert result.stdout.strip() == "hello from pkg", result.stderr
    (root / "new.py").write_text("")
    (root / "data.txt").unlink()
    (view / "scratch.log").write_text("written by the function")
    views.refresh()
    assert sorted(os.listdir(view)) == ["app.py", "hearth.toml", "new.py", "pkg", "scratch.log"]
    views.close()
    assert not view.exists()


def test_packaged_or_include_free_functions_run_from_their_own_folder(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    views = LiveViews(tmp_path / "views")
    assert views.code_dir(live(root, include=())) == root
    assert views.code_dir(live(root, code_sha256="ab" * 32)) == root


def test_publishing_a_live_function_snapshots_the_included_folders(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    store = SqliteStore.memory()
    catalog = Catalog(store, CodeStore(tmp_path / "code"), concurrency_limit=1000)
    try:
        catalog.apply(load_project(root), prune=True)
        version = catalog.publish_version("app")
        assert (version.code_dir / "pkg" / "greet.py").is_file()
        assert (version.code_dir / "app.py").is_file()
    finally:
        store.close()


def test_the_platform_runs_a_live_function_from_its_view(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    store = SqliteStore.memory()
    catalog = Catalog(store, CodeStore(tmp_path / "code"), concurrency_limit=1000)
    platform = Platform(catalog, Settings())
    try:
        catalog.apply(load_project(root), prune=True)
        spec = catalog.record("app").latest
        runnable = platform._runnable(spec)
        assert runnable.code_dir != spec.code_dir and (runnable.code_dir / "pkg").is_symlink()
        assert dataclasses.replace(runnable, code_dir=spec.code_dir) == spec
        packaged = dataclasses.replace(spec, code_sha256="ab" * 32)
        assert platform._runnable(packaged) is packaged
    finally:
        platform.views.close()
        store.close()
