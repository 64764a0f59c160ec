"""The Vercel site helpers: query parameters from dynamic segments, header replacement, streaming a static file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hearth.gateway.static import CHUNK_SIZE, StaticFiles, respond
from hearth.gateway.vercel_site import params_query, replace_headers, send_static


def test_dynamic_segment_values_come_first_and_replace_the_requests_own() -> None:
    assert params_query(b"full=1&id=spoofed&id=again", {"id": "42"}) == b"id=42&full=1"
    assert params_query(b"", {"slug": "a/b c"}) == b"slug=a%2Fb%20c"
    assert params_query(b"x=1", {}) == b"x=1"


def test_replacements_drop_every_value_of_the_names_they_set() -> None:
    headers = [(b"cache-control", b"no-store"), (b"vary", b"a"), (b"cache-control", b"private")]
    assert replace_headers(headers, ((b"cache-control", b"max-age=60"),)) == [(b"vary", b"a"),
                                                                             (b"cache-control", b"max-age=60")]


def _send_all(response: Any, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(send_static(send, response, headers))
    return messages


def test_a_large_file_streams_in_chunks_and_the_last_one_ends_the_body(tmp_path: Path) -> None:
    data = b"x" * (CHUNK_SIZE * 2 + 10)
    (tmp_path / "big.bin").write_bytes(data)
    file = StaticFiles(tmp_path).lookup("/big.bin")
    assert file is not None
    messages = _send_all(respond(file, "GET", []), [])
    bodies = messages[1:]
    assert messages[0]["status"] == 200
    assert b"".join(m["body"] for m in bodies) == data
    assert [m["more_body"] for m in bodies] == [True, True, False]


def test_a_file_that_shrank_after_lookup_cuts_the_response_off(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (CHUNK_SIZE * 2))
    file = StaticFiles(tmp_path).lookup("/big.bin")
    assert file is not None
    path.write_bytes(b"x" * (CHUNK_SIZE + 5))
    messages = _send_all(respond(file, "GET", []), [])
    assert all(m.get("more_body") for m in messages[1:])  # never a final message: the server closes the connection
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello")
    tiny = StaticFiles(tmp_path).lookup("/small.txt")
    assert tiny is not None
    small.unlink()
    assert [m["type"] for m in _send_all(respond(tiny, "GET", []), [])] == ["http.response.start"]


def test_head_and_not_modified_send_no_body(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"hello")
    file = StaticFiles(tmp_path).lookup("/a.txt")
    assert file is not None
    head = _send_all(respond(file, "HEAD", []), [])
    assert head[1] == {"type": "http.response.body", "body": b""}
    cached = _send_all(respond(file, "GET", [(b"if-none-match", file.etag.encode())]), [])
    assert cached[0]["status"] == 304 and cached[1]["body"] == b""
