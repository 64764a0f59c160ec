"""``Vault``: the secrets of one state store, sealed with one master key.

The store holds only nonces and ciphertexts, plus a *key check* (a constant sealed with the key, in its ``meta``
table) written with the first secret: a Hearth started with another key is refused at start, with a message
that says which key it needs, instead of failing at the first instance that reads a secret.

Rotating the key re-seals every secret in one store transaction. With a key file, the new key is first written
beside it (``master.key.new``) and renamed over it once the transaction has committed; ``verify`` at the next
start finishes a rotation that a crash interrupted, or forgets one that never committed. With
``HEARTH_MASTER_KEY`` the operator supplies the new key and must restart Hearth with it.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hearth import errors
from hearth.errors import ConfigError
from hearth.secrets.keys import ENV_NAME, KEY_BYTES, MasterKey, decode_key, new_key, write_key_file
from hearth.secrets.names import check_secret_name
from hearth.store.base import SecretRow, Store

CHECK_META = "secrets_key_check"
CHECK_NAME = "\x00hearth key check"  # no secret can have this name: it is sealed with its own associated data
CHECK_VALUE = b"hearth secrets"
MAX_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: never its value."""

    name: str
    version: int
    created: float
    updated: float


def _info(row: SecretRow) -> SecretInfo:
    return SecretInfo(row.name, row.version, row.created, row.updated)


class Vault:
    """Sets, lists, removes and reveals the secrets of ``store``; ``listeners`` hear the name of a secret whose
    value changed (set or removed), so instances that hold the old value can be replaced."""

    def __init__(self, store: Store, key: MasterKey, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.key = key
        self.clock = clock
        self.listeners: list[Callable[[str], None]] = []

    # -- the key -----------------------------------------------------------------------------------------------

    def verify(self) -> None:
        """Check at start that the key opens the stored secrets, finishing (or forgetting) an interrupted
        rotation; ``ConfigError`` naming the key otherwise."""
        check = self.store.meta(CHECK_META)
        pending = self.key.pending_path
        if check is None or self._opens(self.key, check):
            if pending is not None:
                pending.unlink(missing_ok=True)  # a rotation that never committed
            return
        if pending is not None and self.key.path is not None and pending.exists():
            candidate = MasterKey(decode_key(pending.read_text(encoding="ascii"), str(pending)), self.key.path)
            if self._opens(candidate, check):  # the store was re-sealed, the rename did not happen
                os.replace(pending, self.key.path)
                self.key = candidate
                return
        raise ConfigError(f"the master key ({self.key.where}) is not the key the stored secrets were encrypted "
                          f"with; start Hearth with that key ({ENV_NAME}, or the data folder's master.key it "
                          "wrote), or move state.db away to start without secrets")

    def _opens(self, key: MasterKey, check: str) -> bool:
        try:
            raw = base64.b64decode(check, validate=True)
            return key.open(CHECK_NAME, raw[:12], raw[12:]) == CHECK_VALUE
        except (errors.SecretDecryptionFailed, binascii.Error, ValueError):
            return False

    def _check(self, key: MasterKey) -> str:
        nonce, ciphertext = key.seal(CHECK_NAME, CHECK_VALUE)
        return base64.b64encode(nonce + ciphertext).decode("ascii")

    def rotate(self, new: bytes | None = None) -> int:
        """Seal every secret with a new key (``new``, else 32 random bytes) and make it the key in use; returns
        how many secrets were re-sealed. With ``HEARTH_MASTER_KEY`` the new key must be given."""
        if self.key.from_environment and new is None:
            raise errors.InvalidParameterValue(
                f"the master key comes from {ENV_NAME}, so Hearth cannot keep a new one for you: write a new key "
                "to a file (`head -c 32 /dev/urandom | base64 > new.key`), run `hearth secret rotate-key "
                f"--new-key-from-file new.key`, then restart Hearth with {ENV_NAME} set to that key")
        if new is not None and len(new) != KEY_BYTES:
            raise errors.InvalidParameterValue(f"a master key is {KEY_BYTES} bytes (base64 in the file), "
                                               f"not {len(new)}")
        replacement = MasterKey(new if new is not None else new_key(), self.key.path,
                                from_environment=self.key.from_environment)
        pending = self.key.pending_path
        if pending is not None:
            write_key_file(pending, replacement.key)
        try:
            with self.store.transaction():
                rows = self.store.secrets()
                for row in rows:
                    value = self.key.open(row.name, row.nonce, row.ciphertext)
                    self.store.reseal_secret(row.name, *replacement.seal(row.name, value))
                self.store.put_meta(CHECK_META, self._check(replacement))
        except BaseException:
            if pending is not None:
                pending.unlink(missing_ok=True)
            raise
        if pending is not None and self.key.path is not None:
            write_key_file(self.key.path, replacement.key)
            pending.unlink(missing_ok=True)
        self.key = replacement
        return len(rows)

    # -- secrets -----------------------------------------------------------------------------------------------

    def set(self, name: str, value: str) -> SecretInfo:
        """Store ``value`` as the secret ``name`` (a new version when it exists)."""
        check_secret_name(name)
        data = value.encode("utf-8")
        if len(data) > MAX_VALUE_BYTES:
            raise errors.InvalidParameterValue(f"the value of {name} is {len(data)} bytes; a secret holds at most "
                                               f"{MAX_VALUE_BYTES} (store a larger one elsewhere and keep its "
                                               "credentials here)")
        if "\x00" in value:
            raise errors.InvalidParameterValue(f"the value of {name} contains a NUL character, which an "
                                               "environment variable cannot hold; encode it (e.g. base64)")
        with self.store.transaction():
            if self.store.meta(CHECK_META) is None:
                self.store.put_meta(CHECK_META, self._check(self.key))
            row = self.store.put_secret(name, *self.key.seal(name, data), self.clock())
        self._changed(name)
        return _info(row)

    def remove(self, name: str) -> None:
        """Forget the secret ``name``; ``SecretNotFound`` if it is not set."""
        check_secret_name(name)
        if not self.store.delete_secret(name):
            raise errors.SecretNotFound(f"no secret named {name} is set; `hearth secret ls` lists them")
        self._changed(name)

    def listing(self) -> list[SecretInfo]:
        """Every secret, by name, without values."""
        return [_info(row) for row in self.store.secrets()]

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` that are not set."""
        stored = {row.name for row in self.store.secrets()}
        return [name for name in names if name not in stored]

    def value(self, name: str) -> str | None:
        """The value of the secret ``name``, or None when it is not set (route auth reads its tokens here)."""
        row = self.store.secret(name)
        return None if row is None else self.key.open(name, row.nonce, row.ciphertext).decode("utf-8")

    def reveal(self, function: str, names: Iterable[str]) -> dict[str, str]:
        """The values of ``names`` for an instance of ``function``; ``MissingSecret`` for one that is not set."""
        values = {}
        for name in names:
            row = self.store.secret(name)
            if row is None:
                raise errors.MissingSecret(f"{function} reads the secret {name}, which is not set; set it with "
                                           f"`hearth secret set {name}`, or remove it from the function's "
                                           "`secrets`")
            values[name] = self.key.open(name, row.nonce, row.ciphertext).decode("utf-8")
        return values

    def _changed(self, name: str) -> None:
        for listener in self.listeners:
            listener(name)
