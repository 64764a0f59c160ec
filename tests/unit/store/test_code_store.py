"""The code store: content-addressed packages, extracted safely, atomically and read-only, collected when unused."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hearth.errors import InvalidParameterValue, ServiceError
from hearth.store import CodeStore
from hearth.store.code import MAX_ENTRIES, MAX_UNZIPPED_BYTES, UNZIP_FAILED

FILE = 0o100000  # S_IFREG, as zip tools put it into the high 16 bits of external_attr
LINK = 0o120000  # S_IFLNK


def make_zip(*entries: tuple[str, bytes | str, int]) -> bytes:
    """A zip of ``(name, content, unix mode)`` entries; a symbolic link's content is its target."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def simple(text: str = "print('hi')") -> bytes:
    return make_zip(("app.py", text, FILE | 0o644))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "code"


@pytest.fixture
def code(root: Path) -> CodeStore:
    return CodeStore(root)


def listing(root: Path) -> list[str]:
    return sorted(os.listdir(root))


def test_a_package_is_addressed_by_the_digest_of_its_bytes(code: CodeStore, root: Path) -> None:
    data = make_zip(("app.py", "x = 1", FILE | 0o644), ("lib/deep/mod.py", "y = 2", FILE | 0o644))
    package, stored_now = code.put(data)
    digest = hashlib.sha256(data).hexdigest()
    assert stored_now
    assert (package.sha256, package.size, package.path) == (digest, len(data), root / digest)
    assert (package.path / "app.py").read_text() == "x = 1"
    assert (package.path / "lib" / "deep" / "mod.py").read_text() == "y = 2"  # folders implied by the paths
    assert (root / f"{digest}.zip").read_bytes() == data
    assert code.has(digest) and code.get(digest) == package


def test_python_sources_are_compiled_once_beside_them(code: CodeStore) -> None:
    """Instances under a uid of their own cannot write __pycache__ (pool/limits/identity.py): the store compiles
    each package, deep folders included; a file that does not compile is left to fail at its import."""
    package, _ = code.put(make_zip(("app.py", "x = 1", FILE | 0o644), ("lib/deep/mod.py", "y = 2", FILE | 0o644),
                                   ("broken.py", "def (:", FILE | 0o644)))
    tag = sys.implementation.cache_tag
    assert (package.path / "__pycache__" / f"app.{tag}.pyc").is_file()
    assert (package.path / "lib" / "deep" / "__pycache__" / f"mod.{tag}.pyc").is_file()
    assert not (package.path / "__pycache__" / f"broken.{tag}.pyc").exists()


def test_the_same_bytes_are_stored_once(code: CodeStore, root: Path) -> None:
    first, stored_first = code.put(simple())
    second, stored_second = code.put(simple())
    assert (stored_first, stored_second) == (True, False)
    assert first == second
    assert listing(root) == [first.sha256, f"{first.sha256}.zip"]  # no leftovers either


def test_different_bytes_are_two_packages(code: CodeStore, root: Path) -> None:
    one, _ = code.put(simple("a = 1"))
    two, _ = code.put(simple("a = 2"))
    assert one.sha256 != two.sha256
    assert listing(root) == sorted([one.sha256, f"{one.sha256}.zip", two.sha256, f"{two.sha256}.zip"])


def test_a_package_survives_a_new_store_on_the_same_root(code: CodeStore, root: Path) -> None:
    package, _ = code.put(simple())
    again = CodeStore(root)
    assert again.get(package.sha256) == package
    assert again.put(simple()) == (package, False)


@pytest.mark.parametrize("data", [b"", b"not a zip at all", simple()[:-30]], ids=["empty", "text", "truncated"])
def test_bytes_that_are_not_a_zip_are_refused_with_lambdas_message(code: CodeStore, root: Path, data: bytes) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        code.put(data)
    assert caught.value.message == UNZIP_FAILED
    assert listing(root) == []


def test_a_damaged_entry_is_refused_and_leaves_nothing(code: CodeStore, root: Path) -> None:
    data = bytearray(make_zip(("app.py", "x" * 1000, FILE | 0o644)))
    start = data.index(b"PK\x03\x04") + 30 + len("app.py")  # first byte of the compressed data
    data[start:start + 4] = b"\xff\xff\xff\xff"
    with pytest.raises(InvalidParameterValue, match="Could not unzip"):
        code.put(bytes(data))
    assert listing(root) == []


@pytest.mark.parametrize("name", ["../evil.py", "/tmp/evil.py", "lib/../../evil.py", "a/./../../evil.py"])
def test_an_entry_outside_the_folder_is_refused_naming_it(code: CodeStore, root: Path, tmp_path: Path,
                                                          name: str) -> None:
    with pytest.raises(InvalidParameterValue, match="outside the package folder") as caught:
        code.put(make_zip(("ok.py", "", FILE | 0o644), (name, "boom", FILE | 0o644)))
    assert repr(name) in caught.value.message
    assert listing(root) == []
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil.py").exists()


def test_a_parent_folder_entry_is_refused(code: CodeStore, root: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="'../' would be written outside"):
        code.put(make_zip(("../", "", 0o040755)))
    assert listing(root) == []


def test_nothing_is_written_through_a_link_that_has_come_to_lead_outside(code: CodeStore, root: Path) -> None:
    # "up" is inside when it is made (a/b/../.. is the folder itself while "a" does not exist); once "a" is "."
    # and "b" exists, it leads to the folder's parent, and a file under it would land there.
    data = make_zip(("up", "a/b/../..", LINK | 0o777), ("a", ".", LINK | 0o777), ("b/", "", 0o040755),
                    ("up/escaped.txt", "boom", FILE | 0o644))
    with pytest.raises(InvalidParameterValue, match="'up/escaped.txt' would be written outside"):
        code.put(data)
    assert listing(root) == []


@pytest.mark.parametrize("target", ["../outside", "../../..", "/etc/passwd", "lib/../../x", ""])
def test_a_symbolic_link_leading_outside_is_refused(code: CodeStore, root: Path, target: str) -> None:
    with pytest.raises(InvalidParameterValue, match="'link' points outside"):
        code.put(make_zip(("link", target, LINK | 0o777)))
    assert listing(root) == []


def test_a_link_made_to_escape_by_a_later_link_is_refused(code: CodeStore, root: Path) -> None:
    # When "sneaky" is checked, "a" does not exist and a/b/../../x stays inside; once "a" is ".", it leaves.
    data = make_zip(("sneaky", "a/b/../../x", LINK | 0o777), ("a", ".", LINK | 0o777))
    with pytest.raises(InvalidParameterValue, match="'sneaky' points outside"):
        code.put(data)
    assert listing(root) == []


def test_links_inside_the_folder_are_kept(code: CodeStore) -> None:
    package, _ = code.put(make_zip(
        ("lib/v1/mod.py", "v = 1", FILE | 0o644),
        ("lib/current", "v1", LINK | 0o777),
        ("bin/tool", "../lib/current/mod.py", LINK | 0o777),
        ("lib/current/extra.py", "e = 1", FILE | 0o644),  # written through a link that stays inside
    ))
    assert os.readlink(package.path / "lib" / "current") == "v1"
    assert (package.path / "bin" / "tool").read_text() == "v = 1"
    assert (package.path / "lib" / "v1" / "extra.py").read_text() == "e = 1"


def test_an_entry_cannot_be_written_over_another(code: CodeStore, root: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="'app.py/x.py' conflicts"):
        code.put(make_zip(("app.py", "", FILE | 0o644), ("app.py/x.py", "", FILE | 0o644)))
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile warns, but writes it
        through_link = make_zip(("lib/a.py", "", FILE | 0o644), ("link", "lib/a.py", LINK | 0o777),
                                ("link", "overwrite the target", FILE | 0o644))
    with pytest.raises(InvalidParameterValue, match="'link' conflicts"):
        code.put(through_link)
    assert listing(root) == []


def test_the_unzipped_size_limit_counts_every_file(root: Path) -> None:
    code = CodeStore(root, max_unzipped=1000)
    with pytest.raises(InvalidParameterValue) as caught:
        code.put(make_zip(("a.bin", bytes(600), FILE | 0o644), ("b.bin", bytes(600), FILE | 0o644)))
    assert caught.value.message == "Unzipped size must be smaller than 1000 bytes"
    assert listing(root) == []
    assert code.put(make_zip(("a.bin", bytes(1000), FILE | 0o644)))[1]  # the limit itself is allowed


def test_the_default_limit_is_lambdas_and_declared_sizes_are_checked_first(code: CodeStore, root: Path) -> None:
    assert MAX_UNZIPPED_BYTES == 262_144_000
    # Claim one byte over the limit in the central directory, without building a 250 MB file.
    data = bytearray(make_zip(("big.bin", b"x", FILE | 0o644)))
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", MAX_UNZIPPED_BYTES + 1)
    with pytest.raises(InvalidParameterValue) as caught:
        code.put(bytes(data))
    assert caught.value.message == "Unzipped size must be smaller than 262144000 bytes"
    assert listing(root) == []


def many(count: int, first: str = "") -> bytes:
    """A zip of ``count`` empty files (after ``first``, when given)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        if first:
            archive.writestr(first, b"")
        for number in range(count - (1 if first else 0)):
            archive.writestr(f"node_modules/m{number}.js", b"")
    return buffer.getvalue()


def test_the_entry_count_is_capped_before_anything_is_written(root: Path) -> None:
    code = CodeStore(root, max_entries=500)
    with pytest.raises(InvalidParameterValue) as caught:
        code.put(many(501))
    assert caught.value.message.startswith("Could not unzip uploaded file: it has 501 entries, and a package may "
                                           "have at most 500 (each becomes a file or folder)")
    assert caught.value.status == 400 and caught.value.error_type == "InvalidParameterValueException"
    assert listing(root) == []
    # Counted before any entry is looked at: an entry that would escape is not what the refusal names.
    with pytest.raises(InvalidParameterValue, match="it has 501 entries"):
        code.put(many(501, first="../escape.js"))
    package, stored = code.put(many(500))  # the cap itself is allowed
    assert stored and len(list((package.path / "node_modules").iterdir())) == 500


def test_the_default_entry_cap_is_what_the_docs_say(code: CodeStore) -> None:
    assert MAX_ENTRIES == 100_000 and code.max_entries == MAX_ENTRIES
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert "| a package's entries (files and folders) | 100,000 |" in readme


def test_files_are_read_only_and_keep_their_executable_bit(code: CodeStore) -> None:
    package, _ = code.put(make_zip(
        ("bootstrap", "#!/bin/sh\n", FILE | 0o755),
        ("bin/tool", "#!/bin/sh\n", FILE | 0o700),
        ("data.txt", "", FILE | 0o664),
        ("empty/", "", 0o040755),
    ))

    def mode(*parts: str) -> int:
        return stat.S_IMODE(os.lstat(package.path.joinpath(*parts)).st_mode)

    assert mode("bootstrap") == 0o555
    assert mode("bin", "tool") == 0o555
    assert mode("data.txt") == 0o444
    assert mode("empty") == mode("bin") == mode() == 0o555
    assert os.access(package.path / "bootstrap", os.X_OK)


def test_a_zip_without_unix_modes_gives_readable_files(code: CodeStore) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("app.py")
        info.create_system = 0  # made on Windows: no unix mode bits
        info.external_attr = 0
        archive.writestr(info, "x = 1")
    package, _ = code.put(buffer.getvalue())
    assert stat.S_IMODE((package.path / "app.py").stat().st_mode) == 0o444


def test_garbage_collection_removes_only_unreferenced_packages(code: CodeStore, root: Path) -> None:
    kept, _ = code.put(simple("kept"))
    gone = [code.put(make_zip(("deep/er/x.py", str(n), FILE | 0o755)))[0] for n in range(2)]
    (root / "README").write_text("not a package: left alone")
    assert code.remove_unreferenced({kept.sha256}) == 2
    assert listing(root) == sorted(["README", kept.sha256, f"{kept.sha256}.zip"])
    assert not any(code.has(package.sha256) for package in gone)
    assert (kept.path / "app.py").read_text() == "kept"
    assert code.remove_unreferenced({kept.sha256}) == 0


def test_garbage_collection_removes_leftovers_of_dead_processes_only(code: CodeStore, root: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    half = root / f".tmp-{dead.pid}-crashed"
    (half / "lib").mkdir(parents=True)
    (half / "lib" / "a.py").write_text("half-extracted")
    for folder in (half / "lib", half):
        folder.chmod(0o555)
    ours = root / f".tmp-{os.getpid()}-in-progress"
    ours.mkdir()
    assert code.remove_unreferenced(set()) == 0
    assert listing(root) == [ours.name]


def test_a_half_extracted_folder_is_never_a_package(code: CodeStore, root: Path) -> None:
    data = simple()
    digest = hashlib.sha256(data).hexdigest()
    (root / f".tmp-1-{digest}").mkdir()  # what a crash mid-extraction leaves: a temporary name, not the digest
    assert not code.has(digest)
    assert code.put(data)[1]


def test_a_missing_package_is_a_service_error(code: CodeStore) -> None:
    package, _ = code.put(simple())
    (code.root / f"{package.sha256}.zip").unlink()
    for digest in (package.sha256, "0" * 64, "../etc", ""):
        assert not code.has(digest)
        with pytest.raises(ServiceError, match="missing"):
            code.get(digest)


def test_an_entry_compressed_beyond_what_deflate_can_reach_is_refused_as_a_bomb(code: CodeStore, root: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("zeros.bin", bytes(4 * 1024 * 1024))  # bzip2 packs 4 MiB of zeros into ~50 bytes
    with pytest.raises(InvalidParameterValue, match=r"'zeros.bin' claims 4194304 bytes from \d+ compressed"):
        code.put(buffer.getvalue())
    assert listing(root) == []
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("zeros.bin", bytes(4 * 1024 * 1024))  # ~1,000:1, what deflate reaches at best
    package, _ = code.put(deflated.getvalue())
    assert (package.path / "zeros.bin").stat().st_size == 4 * 1024 * 1024
