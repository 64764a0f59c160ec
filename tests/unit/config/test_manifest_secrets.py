"""``secrets`` and ``secrets_as_files`` in a function's manifest table, and the spec keeping them in the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from hearth.config.manifest import load_project
from hearth.errors import ConfigError
from hearth.store.base import decode_function, encode_function

BASE = '[functions.hello]\nhandler = "app.main"\n'


def load(root: Path, text: str) -> object:
    (root / "hearth.toml").write_text(text)
    return load_project(root)


def error(root: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(root, text)
    return caught.value.message


def test_secret_names_are_kept_in_order_and_stored_with_the_spec(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text(BASE + 'secrets = ["DB_URL", "API_TOKEN"]\nsecrets_as_files = true\n')
    spec = load_project(tmp_path).functions["hello"]
    assert spec.secrets == ("DB_URL", "API_TOKEN") and spec.secrets_as_files
    assert decode_function(encode_function(spec)) == spec
    (tmp_path / "hearth.toml").write_text(BASE)
    plain = load_project(tmp_path).functions["hello"]
    assert plain.secrets == () and not plain.secrets_as_files


@pytest.mark.parametrize(("line", "problem"), [
    ('secrets = "DB_URL"', "must be a list of secret names"),
    ('secrets = ["db-url"]', "is not a valid secret name"),
    ('secrets = ["AWS_LAMBDA_FUNCTION_NAME"]', "is a variable Hearth sets"),
    ('secrets = ["A", "A"]', "A is listed twice"),
    ('secrets = ["GREETING"]\nenv = { GREETING = "hi" }', "GREETING is both in env and in secrets"),
    ("secrets_as_files = 1", "must be true"),
])
def test_bad_secrets_keys_say_what_is_wrong(tmp_path: Path, line: str, problem: str) -> None:
    message = error(tmp_path, BASE + line + "\n")
    assert "functions.hello.secrets" in message and problem in message
