"""``pack`` and ``build_package``: the same content gives the same zip bytes, and requirements.txt is installed once."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from hearth.config.package import UNZIPPED_LIMIT, Package, build_package, pack
from hearth.errors import ConfigError

TREE = {
    "hearth.toml": '[functions.hello]\nhandler = "app.main"\n',
    "app.py": "def main(event, context):\n    return {'ok': True}\n",
    "lib/helpers.py": "X = 1\n",
    "lib/data/table.csv": "a,b\n1,2\n",
    "run.sh": "#!/bin/sh\necho hi\n",
}


def write_tree(root: Path, files: dict[str, str], *, reverse: bool = False) -> Path:
    """Write ``files`` under ``root``; ``reverse`` creates them in the other order (directory order differs)."""
    for name in sorted(files, reverse=reverse):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name], encoding="utf-8")
    return root


def names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def read(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


def infos(data: bytes) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: info for info in archive.infolist()}


def config_error(*args: object, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        pack(*args, **kwargs)  # type: ignore[arg-type]
    return caught.value.message


# --- determinism -----------------------------------------------------------------------------------------------


def test_the_same_tree_in_two_places_with_different_mtimes_gives_identical_bytes(tmp_path: Path) -> None:
    first = write_tree(tmp_path / "first", TREE)
    second = write_tree(tmp_path / "elsewhere" / "second", TREE, reverse=True)
    (first / "run.sh").chmod(0o755)
    (second / "run.sh").chmod(0o700)  # only the owner-exec bit matters
    (second / "app.py").chmod(0o600)
    for path in second.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))

    one = build_package(first, python=sys.executable)
    other = build_package(second, python=sys.executable)

    assert one.data == other.data
    assert one.sha256 == other.sha256 == hashlib.sha256(one.data).hexdigest()
    assert (one.files, one.unzipped_size) == (5, sum(len(text) for text in TREE.values()))


def test_changing_one_byte_changes_the_digest(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "project", TREE)
    before = build_package(root, python=sys.executable)
    (root / "lib/helpers.py").write_text("X = 2\n", encoding="utf-8")
    after = build_package(root, python=sys.executable)
    assert before.sha256 != after.sha256


def test_entries_are_sorted_with_fixed_times_modes_and_no_directories_or_extras(tmp_path: Path) -> None:
    root = write_tree(tmp_path, TREE)
    (root / "run.sh").chmod(0o755)
    (root / "app.py").chmod(0o600)

    data, files, size = pack([root])

    entries = infos(data)
    assert list(entries) == sorted(TREE)
    assert files == len(TREE) and size == sum(len(text) for text in TREE.values())
    for name, info in entries.items():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        assert info.extra == b""
        assert info.compress_type == zipfile.ZIP_DEFLATED
        expected = 0o100755 if name == "run.sh" else 0o100644
        assert info.external_attr >> 16 == expected, name
    assert read(data, "lib/data/table.csv") == b"a,b\n1,2\n"


def test_build_package_reports_progress_and_works_without_a_callback(tmp_path: Path) -> None:
    root = write_tree(tmp_path, TREE)
    messages: list[str] = []
    package = build_package(root, python=sys.executable, progress=messages.append)
    assert messages == ["packing 5 files"]
    assert isinstance(package, Package) and "data" not in repr(package)


# --- what is left out ------------------------------------------------------------------------------------------


def test_tool_and_cache_folders_are_left_out_but_node_modules_is_kept(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "app.py": "",
        ".git/config": "",
        ".hg/store": "",
        ".svn/entries": "",
        "__pycache__/app.cpython-311.pyc": "",
        "lib/__pycache__/x.pyc": "",
        "lib/stale.pyc": "",
        "lib/keep.py": "",
        ".venv/bin/python": "",
        "venv/lib/site.py": "",
        ".mypy_cache/x.json": "",
        ".pytest_cache/v": "",
        ".ruff_cache/c": "",
        ".DS_Store": "",
        "node_modules/left-pad/index.js": "",
    })
    assert names(pack([root])[0]) == ["app.py", "lib/keep.py", "node_modules/left-pad/index.js"]


def test_hearthignore_patterns_are_honoured(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        ".hearthignore": "# a comment\n\n*.log\nbuild/\n/secrets.txt\ndocs/*.md\n**/fixtures\ntmp?.txt\n",
        "app.py": "",
        "debug.log": "",
        "lib/deep/trace.log": "",
        "build/out.bin": "",
        "lib/build": "a file, not a directory",
        "secrets.txt": "",
        "lib/secrets.txt": "anchored patterns only match at the root",
        "docs/guide.md": "",
        "docs/api/ref.md": "* does not cross /",
        "tests/unit/fixtures/x.json": "",
        "tmp1.txt": "",
        "tmp10.txt": "",
    })
    assert names(pack([root])[0]) == [
        ".hearthignore", "app.py", "docs/api/ref.md", "lib/build", "lib/secrets.txt", "tmp10.txt",
    ]


def test_hearthignore_negation_is_refused_with_its_line(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {".hearthignore": "*.log\n!keep.log\n", "app.py": ""})
    message = config_error([root])
    assert ".hearthignore:2" in message and "negation" in message


# --- merging sources -------------------------------------------------------------------------------------------


def test_the_earlier_source_wins_a_name_clash(tmp_path: Path) -> None:
    code = write_tree(tmp_path / "code", {"shared.py": "from code", "pkg": "a file named pkg", "app.py": ""})
    deps = write_tree(tmp_path / "deps", {"shared.py": "from deps", "pkg/__init__.py": "", "requests/api.py": ""})

    data, files, size = pack([code, deps])

    assert names(data) == ["app.py", "pkg", "requests/api.py", "shared.py"]
    assert read(data, "shared.py") == b"from code"
    assert files == 4 and size == len("from code") + len("a file named pkg")


def test_a_later_file_cannot_take_the_place_of_an_earlier_folder(tmp_path: Path) -> None:
    code = write_tree(tmp_path / "code", {"pkg/__init__.py": "mine"})
    deps = write_tree(tmp_path / "deps", {"pkg": "a file", "other.py": ""})
    data, _, _ = pack([code, deps])
    assert names(data) == ["other.py", "pkg/__init__.py"]


# --- symlinks --------------------------------------------------------------------------------------------------


def test_symlinks_inside_the_folder_are_followed(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "project", {"real.py": "REAL = 1\n", "lib/util.py": "U = 1\n"})
    (root / "alias.py").symlink_to("real.py")
    (root / "shortcut").symlink_to(root / "lib", target_is_directory=True)

    data, _, _ = pack([root])

    assert names(data) == ["alias.py", "lib/util.py", "real.py", "shortcut/util.py"]
    assert read(data, "alias.py") == b"REAL = 1\n"


def test_a_symlink_pointing_outside_the_folder_is_refused_by_name(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "s3cret"})
    root = write_tree(tmp_path / "project", {"app.py": ""})
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    message = config_error([root])
    assert "leak.txt" in message and "outside the project folder" in message


def test_an_ignored_symlink_may_point_anywhere(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "s3cret"})
    root = write_tree(tmp_path / "project", {"app.py": "", ".hearthignore": "leak.txt\n"})
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    assert names(pack([root])[0]) == [".hearthignore", "app.py"]


def test_broken_symlinks_and_loops_are_refused(tmp_path: Path) -> None:
    broken = write_tree(tmp_path / "broken", {"app.py": ""})
    (broken / "gone.py").symlink_to(broken / "missing.py")
    assert "gone.py" in config_error([broken])

    looped = write_tree(tmp_path / "looped", {"lib/a.py": ""})
    (looped / "lib" / "again").symlink_to(looped / "lib", target_is_directory=True)
    assert "symlink loop" in config_error([looped])


# --- size limit ------------------------------------------------------------------------------------------------


def test_the_unzipped_size_limit_names_what_to_exclude(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"app.py": "x" * 10, "data/big.bin": "x" * 80, "models/m.bin": "x" * 20})
    assert UNZIPPED_LIMIT == 262_144_000
    assert pack([root], limit=110)[2] == 110

    message = config_error([root], limit=109)
    assert "over the limit" in message and "109 bytes" in message and ".hearthignore" in message
    assert message.index("data/") < message.index("models/") < message.index("app.py")

    with pytest.raises(ConfigError):
        build_package(root, python=sys.executable, limit=109)


# --- requirements.txt ------------------------------------------------------------------------------------------


def make_wheel(folder: Path, value: int = 42) -> Path:
    """A minimal pure-Python wheel ``mini-1.0`` holding ``pkg`` and a script, built by hand (no network)."""
    files = {
        "pkg/__init__.py": f"VALUE = {value}\n".encode(),
        "mini-1.0.data/scripts/mini-hello": b"#!python\nprint('hello')\n",
        "mini-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: mini\nVersion: 1.0\n",
        "mini-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hearth-tests\nRoot-Is-Purelib: true\n"
                                    b"Tag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("mini-1.0.dist-info/RECORD,,")
    files["mini-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "mini-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if "/scripts/" in name else 0o100644) << 16  # pip keeps a script's mode
            archive.writestr(info, data)
    return wheel


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose requirements.txt installs a local wheel kept out of the package by .hearthignore."""
    root = write_tree(tmp_path / "project", {
        "hearth.toml": TREE["hearth.toml"],
        "app.py": "import pkg\n",
        ".hearthignore": "vendor/\n",
        "requirements.txt": "# local wheel\n./vendor/mini-1.0-py3-none-any.whl\n",
    })
    make_wheel(root / "vendor")
    return root


def cache_entries(cache: Path) -> list[Path]:
    return sorted((cache / "deps").iterdir())


@pytest.mark.slow  # runs pip
def test_requirements_are_installed_at_the_package_root(project: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    messages: list[str] = []
    package = build_package(project, python=sys.executable, cache_dir=Path("cache"), installer="pip",
                            progress=messages.append)

    contents = names(package.data)
    assert read(package.data, "pkg/__init__.py") == b"VALUE = 42\n"
    assert "app.py" in contents and "requirements.txt" in contents
    assert not any(name.startswith("vendor/") or "__pycache__" in name for name in contents)
    assert infos(package.data)["bin/mini-hello"].external_attr >> 16 == 0o100755  # console scripts are kept
    assert messages[0] == "installing requirements.txt with pip"
    assert messages[1].startswith("packing ")
    assert len(cache_entries(tmp_path / "cache")) == 1  # a relative cache_dir is relative to the caller, not root
    assert not (project / "cache").exists()


@pytest.mark.slow  # runs pip
def test_an_unchanged_redeploy_reuses_the_cached_install(project: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = build_package(project, python=sys.executable, cache_dir=cache, installer="pip")
    [entry] = cache_entries(cache)
    inode = entry.stat().st_ino

    # With no uv on PATH, a forced uv install would fail: the build succeeds only if nothing is installed.
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    messages: list[str] = []
    second = build_package(project, python=sys.executable, cache_dir=cache, installer="uv", progress=messages.append)

    assert second.sha256 == first.sha256
    assert cache_entries(cache) == [entry] and entry.stat().st_ino == inode
    assert not any(message.startswith("installing") for message in messages)


@pytest.mark.slow  # runs pip
def test_a_changed_local_wheel_is_installed_again(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = build_package(project, python=sys.executable, cache_dir=cache, installer="pip")
    make_wheel(project / "vendor", value=43)

    second = build_package(project, python=sys.executable, cache_dir=cache, installer="pip")

    assert read(second.data, "pkg/__init__.py") == b"VALUE = 43\n"
    assert second.sha256 != first.sha256
    assert len(cache_entries(cache)) == 2


@pytest.mark.slow  # runs pip
def test_without_a_cache_dir_the_install_is_temporary(project: Path) -> None:
    package = build_package(project, python=sys.executable, installer="pip")
    assert read(package.data, "pkg/__init__.py") == b"VALUE = 42\n"


@pytest.mark.slow  # runs pip
def test_a_failing_install_reports_the_installer_output_and_command(project: Path, tmp_path: Path) -> None:
    (project / "requirements.txt").write_text("./nope.whl\n", encoding="utf-8")
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError) as caught:
        build_package(project, python=sys.executable, cache_dir=cache, installer="pip")
    message = caught.value.message
    assert "requirements.txt" in message and "pip failed" in message
    assert "-m pip install --target" in message  # the command that was run
    assert "nope.whl" in message.split("\n", 1)[1]  # pip's own words, after the first line
    assert cache_entries(cache) == []  # no half-made entry is left behind


def test_a_blank_requirements_file_installs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(tmp_path / "project", {"app.py": "", "requirements.txt": "# nothing yet\n\n"})
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    package = build_package(root, python=sys.executable, cache_dir=tmp_path / "cache", installer="uv")
    assert names(package.data) == ["app.py", "requirements.txt"]


def test_installer_problems_are_config_errors(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown installer 'conda'"):
        build_package(project, python=sys.executable, installer="conda")
    with pytest.raises(ConfigError, match="Python interpreter"):
        build_package(project, python=str(tmp_path / "no-such-python"), cache_dir=tmp_path / "cache")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(ConfigError, match="'uv' is not on PATH"):
        build_package(project, python=sys.executable, cache_dir=tmp_path / "cache", installer="uv")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed on this machine")
def test_uv_installs_the_requirements(project: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    package = build_package(project, python=sys.executable, cache_dir=tmp_path / "cache", installer="uv",
                            progress=messages.append)
    assert read(package.data, "pkg/__init__.py") == b"VALUE = 42\n"
    assert messages[0] == "installing requirements.txt with uv"


def test_excluded_root_names_are_left_out_and_do_not_change_the_digest(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    (root / "app.py").write_text("def handler(e, c): return 1\n")
    (root / "sub" / "hearth.toml").write_text("# not at the root: kept\n")
    (root / "hearth.toml").write_text("[functions.a]\nhandler = 'app.handler'\n")
    first = build_package(root, python=sys.executable, exclude=frozenset({"hearth.toml"}))
    names = zipfile.ZipFile(io.BytesIO(first.data)).namelist()
    assert "hearth.toml" not in names and "sub/hearth.toml" in names and "app.py" in names
    (root / "hearth.toml").write_text("[functions.b]\nhandler = 'app.handler'\n")
    assert build_package(root, python=sys.executable, exclude=frozenset({"hearth.toml"})).sha256 == first.sha256
