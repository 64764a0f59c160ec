"""``hearth dev`` on a monorepo app that includes ``../pkg``, and on a Vercel layout, over real HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from conftest import HearthProcess, Serve, poll

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_function_imports_the_included_package_and_sees_its_edits(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "monorepo", tmp_path / "monorepo", ignore=shutil.ignore_patterns("__pycache__"))
    root = tmp_path / "monorepo" / "app1"
    hearth = HearthProcess(root, "--quiet").start()
    try:
        reply = httpx.get(f"{hearth.gateway}/hello/ada", timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"message": "hello, ada, from pkg!", "from": "app1"}
        shared = tmp_path / "monorepo" / "pkg" / "greetings.py"
        shared.write_text(shared.read_text().replace("hello,", "hi,"))  # outside the project: watched too
        assert poll(lambda: httpx.get(f"{hearth.gateway}/hello/ada", timeout=30).json()["message"] ==
                    "hi, ada, from pkg!", 5)
        (root / "extra.py").write_text("X = 1\n")  # a new file at the project's top level shows in the view
        hearth.wait_for(lambda: any("reloaded after a change to extra.py" in line for line in hearth.stderr), 5,
                        "the reload note")
        assert httpx.get(f"{hearth.gateway}/hello/bo", timeout=30).status_code == 200
    finally:
        assert hearth.stop() == 0


def test_hearth_dev_serves_a_vercel_layout_without_a_manifest(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "vercel-routing", tmp_path / "site", ignore=shutil.ignore_patterns("__pycache__"))
    hearth = HearthProcess(tmp_path / "site", "--quiet").start()
    try:
        routes = ("/api/hello → api-hello", "/api/users/{id} → api-users-_id", "/api/docs/{slug+} → api-docs-__slug")
        hearth.wait_for(lambda: all(any(route in line for line in hearth.stderr) for route in routes), 5,
                        "the route notes")
        assert not any("not supported by Hearth" in line for line in hearth.stderr)
        (tmp_path / "site" / "api" / "ping.py").write_text("def handler(event, context):\n    return 'pong'\n")
        hearth.wait_for(lambda: any("reloaded after a change to ping.py" in line for line in hearth.stderr), 5,
                        "the reload note")
        (tmp_path / "site" / "vercel.json").write_text('{"cleanUrls": "yes"}')
        hearth.wait_for(lambda: any("manifest not reloaded" in line and "cleanUrls: must be true or false" in line
                                    for line in hearth.stderr), 5, "the report of the bad vercel.json")
    finally:
        assert hearth.stop() == 0


def test_hearth_deploy_packs_the_included_package(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "data")
    try:
        output = serve.deploy(EXAMPLES / "monorepo" / "app1")
        assert "created   function app" in output, output
        reply = serve.gateway.get("/hello/ada")
        assert reply.status_code == 200 and reply.json()["message"] == "hello, ada, from pkg!"
    finally:
        serve.stop()
