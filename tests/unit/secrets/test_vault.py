"""The vault: sealed at rest, the name bound to its ciphertext, a wrong key refused, rotation all or nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hearth import errors
from hearth.errors import ConfigError
from hearth.secrets import MasterKey, Vault
from hearth.secrets.keys import KEY_FILE, encode_key, new_key
from hearth.secrets.vault import CHECK_META
from hearth.store.sqlite import SqliteStore

PLAIN = "s3cr3t-plain-value-7f1c"


def vault(tmp_path: Path, key: MasterKey | None = None) -> Vault:
    return Vault(SqliteStore(tmp_path / "state.db"), key or MasterKey.load_or_create(tmp_path),
                 clock=lambda: 1000.0)


def test_a_secret_is_stored_sealed_and_revealed_to_its_function(tmp_path: Path) -> None:
    v = vault(tmp_path)
    info = v.set("DB_URL", PLAIN)
    assert (info.name, info.version, info.created) == ("DB_URL", 1, 1000.0)
    assert v.set("DB_URL", PLAIN + "2").version == 2
    assert v.reveal("api", ["DB_URL"]) == {"DB_URL": PLAIN + "2"}
    assert [item.name for item in v.listing()] == ["DB_URL"]
    v.store.close()
    data = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("state.db"))
    assert PLAIN.encode() not in data and b"DB_URL" in data


def test_the_key_file_is_0600_and_reused(tmp_path: Path) -> None:
    first = MasterKey.load_or_create(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode)
    assert mode == 0o600
    assert MasterKey.load_or_create(tmp_path).key == first.key


def test_each_seal_has_its_own_nonce_and_the_name_is_bound(tmp_path: Path) -> None:
    key = MasterKey.ephemeral()
    one, two = key.seal("A", b"x"), key.seal("A", b"x")
    assert one[0] != two[0] and one[1] != two[1]
    with pytest.raises(errors.SecretDecryptionFailed, match="does not decrypt"):
        key.open("B", *one)  # a ciphertext moved to another name


def test_a_wrong_master_key_is_refused_at_start_never_garbage(tmp_path: Path) -> None:
    v = vault(tmp_path)
    v.set("TOKEN", PLAIN)
    other = Vault(v.store, MasterKey.from_text(encode_key(new_key())))
    with pytest.raises(ConfigError, match="HEARTH_MASTER_KEY.*not the key the stored secrets"):
        other.verify()
    with pytest.raises(errors.SecretDecryptionFailed, match="TOKEN does not decrypt"):
        other.reveal("api", ["TOKEN"])


def test_names_are_environment_variable_names_and_not_reserved(tmp_path: Path) -> None:
    v = vault(tmp_path)
    for bad in ("1ABC", "A-B", "", "X" * 129, "AWS_LAMBDA_FUNCTION_NAME", "HEARTH_SECRETS_DIR", "_HANDLER"):
        with pytest.raises(errors.InvalidSecretName) as caught:
            v.set(bad, PLAIN)
        assert caught.value.status == 400 and PLAIN not in caught.value.message
    with pytest.raises(errors.InvalidParameterValue, match="NUL"):
        v.set("OK", "a\x00b")
    assert v.listing() == []


def test_a_missing_secret_names_itself_and_the_command(tmp_path: Path) -> None:
    v = vault(tmp_path)
    with pytest.raises(errors.MissingSecret, match="api reads the secret DB_URL.*hearth secret set DB_URL"):
        v.reveal("api", ["DB_URL"])
    with pytest.raises(errors.SecretNotFound):
        v.remove("DB_URL")


def test_a_value_is_read_by_name_or_none(tmp_path: Path) -> None:
    v = vault(tmp_path)
    assert v.value("ROUTE_TOKEN") is None
    v.set("ROUTE_TOKEN", "tok-1")
    assert v.value("ROUTE_TOKEN") == "tok-1"
    v.set("ROUTE_TOKEN", "tok-2")
    assert v.value("ROUTE_TOKEN") == "tok-2"


def test_listeners_hear_sets_and_removes(tmp_path: Path) -> None:
    v = vault(tmp_path)
    heard: list[str] = []
    v.listeners.append(heard.append)
    v.set("A", "1")
    v.remove("A")
    assert heard == ["A", "A"]


def test_rotation_reseals_everything_and_replaces_the_key_file(tmp_path: Path) -> None:
    v = vault(tmp_path)
    v.set("A", "one")
    v.set("B", "two")
    old = (tmp_path / KEY_FILE).read_text()
    before = {row.name: row.ciphertext for row in v.store.secrets()}
    assert v.rotate() == 2
    assert (tmp_path / KEY_FILE).read_text() != old
    assert not (tmp_path / (KEY_FILE + ".new")).exists()
    assert {row.name: row.version for row in v.store.secrets()} == {"A": 1, "B": 1}
    assert all(before[row.name] != row.ciphertext for row in v.store.secrets())
    again = Vault(v.store, MasterKey.load_or_create(tmp_path))
    again.verify()
    assert again.reveal("f", ["A", "B"]) == {"A": "one", "B": "two"}


def test_a_rotation_interrupted_after_its_commit_is_finished_at_start(tmp_path: Path) -> None:
    v = vault(tmp_path)
    v.set("A", "one")
    old_key = (tmp_path / KEY_FILE).read_text()
    v.rotate()
    # as if the process died between the commit and the rename: old file, new key beside it
    (tmp_path / (KEY_FILE + ".new")).write_text((tmp_path / KEY_FILE).read_text())
    (tmp_path / KEY_FILE).write_text(old_key)
    again = Vault(v.store, MasterKey.load_or_create(tmp_path))
    again.verify()
    assert again.reveal("f", ["A"]) == {"A": "one"}
    assert not (tmp_path / (KEY_FILE + ".new")).exists()


def test_a_failed_rotation_changes_nothing(tmp_path: Path) -> None:
    v = vault(tmp_path)
    v.set("A", "one")
    v.store.reseal_secret("A", b"\x00" * 12, b"garbage-ciphertext-bytes")  # a damaged row
    check = v.store.meta(CHECK_META)
    with pytest.raises(errors.SecretDecryptionFailed):
        v.rotate()
    assert v.store.meta(CHECK_META) == check
    assert not (tmp_path / (KEY_FILE + ".new")).exists()
    Vault(v.store, MasterKey.load_or_create(tmp_path)).verify()


def test_an_environment_key_needs_the_new_key_given(tmp_path: Path) -> None:
    v = Vault(SqliteStore(tmp_path / "state.db"), MasterKey.from_text(encode_key(new_key())))
    v.set("A", "one")
    with pytest.raises(errors.InvalidParameterValue, match="--new-key-from-file"):
        v.rotate()
    fresh = new_key()
    assert v.rotate(fresh) == 1
    assert not list(tmp_path.glob("master.key*"))
    restarted = Vault(v.store, MasterKey.from_text(encode_key(fresh)))
    restarted.verify()
    assert restarted.reveal("f", ["A"]) == {"A": "one"}


def test_a_malformed_environment_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="HEARTH_MASTER_KEY is not a master key"):
        MasterKey.from_text("too-short")
