"""``hearth serve`` refuses bad input with Lambda's errors and keeps serving: crafted packages, over-size uploads,
bad names, oversized or slow requests."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from conftest import Serve

ROLE = "arn:aws:iam::000000000000:role/ignored"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    running = Serve(tmp_path_factory.mktemp("serve-bad-input"), "--quiet")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def client(serve: Serve) -> Any:
    return serve.client()


def crafted_zip(*entries: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fns.py", "def echo(event, context):\n    return event\n")
        for name, content in entries:
            archive.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


def refused(client: Any, code: bytes, name: str = "evil") -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="fns.echo",
                               Code={"ZipFile": code})
    return caught.value.response  # type: ignore[no-any-return]


def test_a_package_that_writes_outside_its_folder_is_refused_and_writes_nothing(serve: Serve, client: Any,
                                                                               tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    outside = [Path(f"/tmp/evil-{mark}"), serve.data_dir.parent / f"evil-{mark}", serve.data_dir / f"evil-{mark}"]
    for entry in (f"../../evil-{mark}", f"/tmp/evil-{mark}", f"lib/../../../evil-{mark}"):
        response = refused(client, crafted_zip((entry, b"boom")))
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["Error"]["Code"] == "InvalidParameterValueException"
        assert "would be written outside the package folder" in response["Error"]["Message"]
    link = zipfile.ZipInfo("escape")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(link, "../../../../tmp")
        archive.writestr(f"escape/evil-{mark}", b"boom")
    response = refused(client, buffer.getvalue())
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert not [path for path in outside if path.exists()]
    assert not list(serve.data_dir.rglob(f"evil-{mark}"))
    with pytest.raises(botocore.exceptions.ClientError, match="ResourceNotFoundException"):
        client.get_function(FunctionName="evil")


def test_a_zip_bomb_is_refused(client: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("fns.py", "def echo(event, context):\n    return event\n")
        archive.writestr("bomb.bin", bytes(64 * 1024 * 1024))
    response = refused(client, buffer.getvalue())
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "'bomb.bin' claims 67108864 bytes" in response["Error"]["Message"]


def test_an_upload_over_50_mb_is_refused_as_too_large(serve: Serve) -> None:
    response = refused(serve.client(), bytes(50 * 1024 * 1024 + 1))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert response["Error"]["Code"] == "RequestTooLargeException"
    assert "at most 52428800 bytes" in response["Error"]["Message"]


@pytest.mark.parametrize("name", ["has space", "x" * 65, "semi;colon", "dots.are.not.allowed", ""])
def test_a_function_name_outside_lambdas_pattern_is_refused(serve: Serve, name: str) -> None:
    response = refused(serve.client(validate=False), crafted_zip(), name=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["Error"]["Message"] == (f"FunctionName {name!r} is not valid: use 1 to 64 letters, digits, "
                                            "'-' or '_', or the function's ARN")
