"""``StaticFiles`` and ``respond``: safe lookups, index.html, clean URLs, ETags, 304, HEAD, streaming."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hearth.gateway.static import CACHE_CONTROL, StaticFile, StaticFiles, content_type, iter_chunks, respond
from hearth.model import Project, VercelRouting

SITE = {
    "index.html": "<h1>home</h1>",
    "about.html": "<h1>about</h1>",
    "style.css": "body{}",
    "app.js": "console.log(1)",
    "docs/index.html": "<h1>docs</h1>",
    "docs/guide.html": "<h1>guide</h1>",
    "data.json": "{}",
    "font.woff2": "wOF2",
    "blob.unknownext": "?",
    ".env": "SECRET=1",
    ".git/config": "[core]",
    "a/.hidden/x.txt": "x",
    ".well-known/security.txt": "Contact: me",
    "404.html": "<h1>not here</h1>",
    "hearth.toml": "[functions]",
    "nested/vercel.json": "{}",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def public(tmp_path: Path) -> Path:
    return write(tmp_path / "public", SITE)


def served(files: StaticFiles, path: str) -> str | None:
    found = files.lookup(path)
    return None if found is None else found.path.relative_to(files.root).as_posix()


@pytest.mark.parametrize(("path", "expected"), [
    ("/", "index.html"),
    ("/index.html", "index.html"),
    ("/about.html", "about.html"),
    ("/about", None),  # without cleanUrls an .html keeps its extension
    ("/docs", "docs/index.html"),
    ("/docs/", "docs/index.html"),
    ("/docs/guide.html", "docs/guide.html"),
    ("/style.css", "style.css"),
    ("/style.css/", None),  # a file is not a folder
    ("/missing", None),
    ("/.env", None),  # dotfiles and dot folders are never served
    ("/.git/config", None),
    ("/a/.hidden/x.txt", None),
    ("/.well-known/security.txt", ".well-known/security.txt"),  # except /.well-known/, which exists to be fetched
    ("/hearth.toml", None),
    ("/nested/vercel.json", None),
    ("/../secret", None),  # traversal attempts
    ("/docs/../../secret", None),
    ("/docs/./index.html", None),
    ("/docs//index.html", None),
    ("/docs\\index.html", None),
    ("/index.html\x00.css", None),
    ("relative", None),
])
def test_lookup(public: Path, path: str, expected: str | None) -> None:
    assert served(StaticFiles(public), path) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/about", "about.html"),
    ("/about/", "about.html"),  # trailingSlash: true asks for this form
    ("/docs/guide", "docs/guide.html"),
    ("/docs", "docs/index.html"),
    ("/about.html", "about.html"),  # the router redirects it to /about first
])
def test_lookup_with_clean_urls(public: Path, path: str, expected: str) -> None:
    assert served(StaticFiles(public, clean_urls=True), path) == expected


def test_symlinks_may_not_lead_out_of_the_folder(tmp_path: Path, public: Path) -> None:
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", public / "leak.txt")
    os.symlink(tmp_path, public / "up")
    os.symlink(public / ".env", public / "env.txt")  # inside, but to a hidden file
    os.symlink(public / "style.css", public / "alias.css")  # inside and visible: fine
    os.symlink("loop", public / "loop")
    files = StaticFiles(public)
    assert served(files, "/leak.txt") is None
    assert served(files, "/up/secret.txt") is None
    assert served(files, "/env.txt") is None
    assert served(files, "/alias.css") == "style.css"
    assert served(files, "/loop") is None


def test_the_project_root_hides_code_and_configuration(tmp_path: Path) -> None:
    write(tmp_path, {"index.html": "hi", "api/user.py": "x", "lib/db.py": "PASSWORD = 1", "requirements.txt": "",
                     "package.json": "{}", "node_modules/x/index.js": "", "vercel.json": "{}", "img/logo.svg": "<svg/>",
                     "api.html": "api docs"})
    files = StaticFiles(tmp_path, project_root=True)
    for path in ("/api/user.py", "/api", "/lib/db.py", "/requirements.txt", "/package.json",
                 "/node_modules/x/index.js", "/vercel.json"):
        assert served(files, path) is None, path
    assert served(files, "/") == "index.html"
    assert served(files, "/img/logo.svg") == "img/logo.svg"
    assert served(files, "/api.html") == "api.html"
    assert served(StaticFiles(tmp_path), "/lib/db.py") == "lib/db.py"  # a public/ folder is served whole


def test_a_projects_site_picks_the_folder_and_its_rules(tmp_path: Path) -> None:
    write(tmp_path, {"public/about.html": "a", "api/x.py": ""})
    project = Project(root=tmp_path, functions={}, routes=(), manifest=tmp_path / "vercel.json", layout="vercel",
                      routing=VercelRouting(clean_urls=True), static_dir=tmp_path / "public")
    assert project.site.vercel is not None
    files = StaticFiles.for_site(project.site.vercel)
    assert files is not None and not files.project_root and files.clean_urls
    assert served(files, "/about") == "about.html"
    root_project = Project(root=tmp_path, functions={}, routes=(), manifest=tmp_path / "vercel.json",
                           layout="vercel", static_dir=tmp_path)
    assert root_project.site.vercel is not None
    root_files = StaticFiles.for_site(root_project.site.vercel)
    assert root_files is not None and root_files.project_root
    assert Project(root=tmp_path, functions={}, routes=(), manifest=tmp_path / "hearth.toml").site.vercel is None


def test_a_deployed_packages_installed_dependencies_are_not_static_files(tmp_path: Path) -> None:
    write(tmp_path, {
        "index.html": "home", "api/x.py": "", "docs/guide.html": "guide",
        "flask/templates/page.html": "theirs", "certifi/cacert.pem": "theirs", "six.py": "",
        "flask-3.0.0.dist-info/RECORD": "flask/__init__.py,sha256=x,1\nflask/templates/page.html,,\n"
                                        "../../bin/flask,,\n",
        "flask-3.0.0.dist-info/METADATA": "Name: flask",
        "certifi-2024.2.2.dist-info/RECORD": "certifi/cacert.pem,sha256=y,2\n",
        "bin/flask": "#!/bin/sh",
    })
    files = StaticFiles(tmp_path, project_root=True)
    assert served(files, "/flask/templates/page.html") is None
    assert served(files, "/certifi/cacert.pem") is None
    assert served(files, "/flask-3.0.0.dist-info/METADATA") is None
    assert served(files, "/bin/flask") is None
    assert served(files, "/index.html") == "index.html"
    assert served(files, "/docs/guide.html") == "docs/guide.html"
    assert served(StaticFiles(tmp_path / "flask"), "/templates/page.html") == "templates/page.html"  # public/-like


def test_etag_is_a_content_hash_and_follows_the_content(public: Path) -> None:
    files = StaticFiles(public)
    first = files.lookup("/style.css")
    assert first is not None
    assert first.etag == '"' + hashlib.sha256(b"body{}").hexdigest()[:32] + '"'
    assert files.lookup("/style.css") == first  # remembered
    (public / "style.css").write_text("body{color:red}")
    second = files.lookup("/style.css")
    assert second is not None and second.etag != first.etag and second.size == 15
    (public / "copy.css").write_text("body{color:red}")
    copy = files.lookup("/copy.css")
    assert copy is not None and copy.etag == second.etag  # same bytes, same tag, wherever they are


@pytest.mark.parametrize(("name", "expected"), [
    ("index.html", "text/html; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("data.json", "application/json; charset=utf-8"),
    ("font.woff2", "font/woff2"),
    ("logo.SVG", "image/svg+xml"),
    ("photo.jpeg", "image/jpeg"),
    ("table.tsv", "text/tab-separated-values; charset=utf-8"),  # from Python's built-in table
    ("bundle.tar", "application/x-tar"),
    ("blob.unknownext", "application/octet-stream"),
    ("Makefile", "application/octet-stream"),
])
def test_content_types(name: str, expected: str) -> None:
    assert content_type(name) == expected


def found(files: StaticFiles, path: str) -> StaticFile:
    file = files.lookup(path)
    assert file is not None
    return file


def test_get_has_the_headers_and_the_file_to_stream(public: Path) -> None:
    file = found(StaticFiles(public), "/index.html")
    response = respond(file, "GET", [])
    assert response.status == 200
    assert dict(response.headers) == {
        b"content-type": b"text/html; charset=utf-8",
        b"content-length": b"13",
        b"etag": file.etag.encode(),
        b"cache-control": CACHE_CONTROL.encode(),
    }
    assert response.file == file
    assert b"".join(iter_chunks(file, chunk_size=4)) == b"<h1>home</h1>"


def test_head_has_the_headers_of_get_and_no_body(public: Path) -> None:
    file = found(StaticFiles(public), "/index.html")
    head, get = respond(file, "HEAD", []), respond(file, "GET", [])
    assert head.status == 200 and head.headers == get.headers and head.file is None


@pytest.mark.parametrize("header", [
    lambda etag: etag, lambda etag: "W/" + etag, lambda etag: f'"nope", {etag}', lambda etag: "*",
])
def test_if_none_match_gives_304(public: Path, header: Callable[[str], str]) -> None:
    file = found(StaticFiles(public), "/style.css")
    value = header(file.etag)
    response = respond(file, "GET", [(b"If-None-Match", value.encode())])
    assert response.status == 304 and response.file is None
    assert dict(response.headers) == {b"etag": file.etag.encode(), b"cache-control": CACHE_CONTROL.encode()}


def test_a_stale_etag_gets_the_file(public: Path) -> None:
    file = found(StaticFiles(public), "/style.css")
    response = respond(file, "GET", [(b"if-none-match", b'"0123"')])
    assert response.status == 200 and response.file == file


def test_other_methods_are_refused(public: Path) -> None:
    response = respond(found(StaticFiles(public), "/style.css"), "POST", [])
    assert response.status == 405 and (b"allow", b"GET, HEAD") in response.headers and response.file is None


def test_the_404_page_is_served_with_its_status_and_never_as_304(public: Path) -> None:
    files = StaticFiles(public)
    page = files.not_found_page()
    assert page is not None and page.path.name == "404.html"
    response = respond(page, "GET", [(b"if-none-match", page.etag.encode())], status=404)
    assert response.status == 404 and response.file == page
    assert StaticFiles(public / "docs").not_found_page() is None


def test_a_file_that_grew_is_cut_at_the_size_announced(public: Path) -> None:
    file = found(StaticFiles(public), "/style.css")
    (public / "style.css").write_text("body{} and more")
    assert b"".join(iter_chunks(file)) == b"body{}"
