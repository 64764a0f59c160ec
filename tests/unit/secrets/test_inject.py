"""The injector: variables by default, 0400 files in a 0500 per-instance folder with ``secrets_as_files``, and
folders removed once their instance is gone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hearth import errors
from hearth.model import FunctionSpec
from hearth.secrets import MasterKey, Vault
from hearth.secrets.inject import DIR_VARIABLE, Injector
from hearth.store.sqlite import SqliteStore


@pytest.fixture
def injector(tmp_path: Path) -> Injector:
    vault = Vault(SqliteStore.memory(), MasterKey.ephemeral())
    vault.set("DB_URL", "postgres://u:p@h/db")
    vault.set("TOKEN", "t0k")
    return Injector(vault, tmp_path / "secrets")


def spec(**changes: object) -> FunctionSpec:
    return FunctionSpec("api", "app.handler", Path("/code"), **changes)  # type: ignore[arg-type]


def test_a_function_without_secrets_gets_nothing_and_reads_nothing(injector: Injector) -> None:
    injector.vault.store.close()  # a read would fail
    assert injector.environment(spec(), 1) == {}


def test_secrets_become_variables(injector: Injector) -> None:
    assert injector.environment(spec(secrets=("TOKEN",)), 1) == {"TOKEN": "t0k"}
    assert not injector.has_files


def test_secrets_as_files_are_0400_in_a_0500_folder_and_swept(injector: Injector) -> None:
    env = injector.environment(spec(secrets=("DB_URL", "TOKEN"), secrets_as_files=True), 7)
    folder = Path(env[DIR_VARIABLE])
    assert set(env) == {DIR_VARIABLE} and folder.name == "i7"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o500
    assert (folder / "DB_URL").read_text() == "postgres://u:p@h/db" and (folder / "TOKEN").read_text() == "t0k"
    assert stat.S_IMODE(os.stat(folder / "TOKEN").st_mode) == 0o400
    injector.sweep({7})
    assert folder.exists()
    injector.sweep(set())
    assert not folder.exists() and not injector.has_files


def test_a_missing_secret_fails_the_start(injector: Injector) -> None:
    with pytest.raises(errors.MissingSecret, match="api reads the secret NOPE"):
        injector.environment(spec(secrets=("TOKEN", "NOPE"), secrets_as_files=True), 3)
