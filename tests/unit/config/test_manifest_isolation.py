"""``isolation`` and ``network`` in a function's manifest table, and the spec keeping them in the store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hearth.config.manifest import load_project
from hearth.errors import ConfigError
from hearth.model import FunctionSpec
from hearth.store.base import decode_function, encode_function

BASE = '[functions.hello]\nhandler = "app.main"\n'


def error(root: Path, text: str) -> str:
    (root / "hearth.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    return caught.value.message


def test_isolation_and_network_are_read_and_stored_with_the_spec(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text(BASE + 'isolation = "sandbox"\nnetwork = false\n')
    spec = load_project(tmp_path).functions["hello"]
    assert spec.isolation == "sandbox" and spec.network is False
    assert decode_function(encode_function(spec)) == spec
    (tmp_path / "hearth.toml").write_text(BASE)
    plain = load_project(tmp_path).functions["hello"]
    assert plain.isolation == "process" and plain.network is True


def test_a_function_stored_before_isolation_existed_loads_as_process_isolated() -> None:
    spec = FunctionSpec(name="old", handler="app.main", code_dir=Path("/srv/old"))
    document = orjson.loads(encode_function(spec))
    del document["isolation"], document["network"]
    loaded = decode_function(orjson.dumps(document))
    assert loaded.isolation == "process" and loaded.network is True


@pytest.mark.parametrize(("lines", "key", "problem"), [
    ('isolation = "vm"', "isolation", 'must be "process"'),
    ("network = 0", "network", "must be true"),
    ("network = false", "network", 'network = false needs isolation = "sandbox"'),
    ('isolation = "sandbox"\nsecrets = ["TOKEN"]\nsecrets_as_files = true', "secrets_as_files",
     'cannot be used with isolation = "sandbox"'),
])
def test_bad_isolation_keys_say_what_is_wrong(tmp_path: Path, lines: str, key: str, problem: str) -> None:
    message = error(tmp_path, BASE + lines + "\n")
    assert f"functions.hello.{key}" in message and problem in message, message


def test_provided_and_http_sandboxes_need_the_network(tmp_path: Path) -> None:
    message = error(tmp_path, '[functions.web]\nruntime = "http"\ncommand = "./server"\nisolation = "sandbox"\n'
                              "network = false\n")
    assert "functions.web.network" in message and "gateway reaches its server" in message, message
    message = error(tmp_path, '[functions.go]\nruntime = "provided"\nisolation = "sandbox"\nnetwork = false\n')
    assert "functions.go.network" in message and "Runtime API" in message, message
    (tmp_path / "hearth.toml").write_text('[functions.go]\nruntime = "provided"\nisolation = "sandbox"\n')
    assert load_project(tmp_path).functions["go"].isolation == "sandbox"
