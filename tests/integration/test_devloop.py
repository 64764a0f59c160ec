"""``hearth dev`` reloads: new code served within a second, in-flight calls finish on old code, manifests re-read."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import HearthProcess, poll


def test_edit_is_served_within_one_second_and_in_flight_call_keeps_old_code(
        project_copy: Callable[[str], Path]) -> None:
    root = project_copy("reload")
    hearth = HearthProcess(root, "--quiet").start()
    try:
        url = f"{hearth.gateway}/v"
        assert httpx.get(url).json() == {"version": "v1"}
        in_flight: list[dict[str, str]] = []
        thread = threading.Thread(target=lambda: in_flight.append(httpx.get(f"{url}?s=1.5", timeout=30).json()))
        thread.start()
        assert poll(lambda: any(i["state"] == "busy" for i in hearth.instances("app")), 10)
        source = root / "app.py"
        source.write_text(source.read_text().replace('"v1"', '"v2"'))
        edited = time.monotonic()
        assert poll(lambda: httpx.get(url, timeout=30).json() == {"version": "v2"}, 5)
        assert time.monotonic() - edited <= 1.0
        thread.join(30)
        assert in_flight == [{"version": "v1"}]
    finally:
        hearth.stop()


def test_manifest_change_is_reread_and_bad_edit_keeps_last_good(project_copy: Callable[[str], Path]) -> None:
    root = project_copy("reload")
    hearth = HearthProcess(root, "--quiet").start()
    try:
        assert httpx.get(f"{hearth.gateway}/v2").status_code == 404
        manifest = root / "hearth.toml"
        good = manifest.read_text()
        manifest.write_text(good + '\n[[routes]]\npath = "/v2"\nfunction = "app"\n')
        assert poll(lambda: httpx.get(f"{hearth.gateway}/v2").status_code == 200, 5)
        manifest.write_text(good + "\n[functions.app2]\nhandlr = 'x.y'\n")
        hearth.wait_for(lambda: any("manifest not reloaded" in line for line in hearth.stderr), 5,
                        "the bad-manifest report")
        assert any("handlr" in line and "hearth.toml:" in line for line in hearth.stderr)
        assert httpx.get(f"{hearth.gateway}/v2").status_code == 200  # the last good manifest still serves
    finally:
        hearth.stop()


def test_bad_manifest_at_start_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text('[functions.f]\nhandler = "a.b"\nmemroy_mb = 256\n')
    result = subprocess.run([sys.executable, "-m", "hearth", "dev", str(tmp_path), "--port", "0",
                             "--control-port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{tmp_path / 'hearth.toml'}:3" in result.stderr
    assert "functions.f.memroy_mb: unknown key; allowed:" in result.stderr and "memory_mb" in result.stderr
    assert result.stdout == ""


def test_invalid_value_at_start(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text('[functions.f]\nhandler = "a.b"\nmemory_mb = 64\n')
    result = subprocess.run([sys.executable, "-m", "hearth", "dev", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "hearth.toml:3" in result.stderr and "from 128 to 10240, got 64" in result.stderr


def test_a_published_version_is_frozen_while_latest_follows_edits_and_an_alias_routes_to_it(
        project_copy: Callable[[str], Path]) -> None:
    root = project_copy("reload")
    manifest = root / "hearth.toml"
    manifest.write_text(manifest.read_text() + """
[functions.app.aliases.live]
version = 1

[[routes]]
path = "/live"
function = "app:live"
""")
    hearth = HearthProcess(root).start()
    try:
        # version 1 does not exist yet: the alias is skipped, and the note says what to do
        hearth.wait_for(lambda: any("alias app:live skipped" in line and "hearth publish app" in line
                                    for line in hearth.stderr), 5, "the note on the skipped alias")
        assert httpx.get(f"{hearth.gateway}/live").status_code == 404
        published = httpx.post(f"{hearth.control}/2015-03-31/functions/app/versions", json={})
        assert published.status_code == 201, published.text
        assert published.json()["Version"] == "1"
        httpx.post(f"{hearth.control}/2015-03-31/functions/app/aliases",
                   json={"Name": "live", "FunctionVersion": "1"}).raise_for_status()
        source = root / "app.py"
        source.write_text(source.read_text().replace('"v1"', '"v2"'))
        assert poll(lambda: httpx.get(f"{hearth.gateway}/v").json() == {"version": "v2"}, 5)
        live = httpx.get(f"{hearth.gateway}/live")
        assert live.json() == {"version": "v1"}  # the version froze the folder as it was when published
        assert live.headers["x-amz-executed-version"] == "1"
        request_id = live.headers["x-amzn-requestid"]
        hearth.wait_for(lambda: f"START RequestId: {request_id} Version: 1" in hearth.stdout, 5, "the START line")
    finally:
        hearth.stop()
