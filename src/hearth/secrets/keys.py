"""The master key that seals every secret, and the sealing itself (AES-256-GCM, ``cryptography``).

Each seal uses a fresh random 96-bit nonce and the secret's name as associated data, so a ciphertext moved to
another name does not open. The key is 32 random bytes, kept base64-encoded in ``<data-dir>/master.key`` (mode
0600, created on first use), or given as ``HEARTH_MASTER_KEY`` (base64), in which case no file is written.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hearth.errors import ConfigError, SecretDecryptionFailed
from hearth.private_file import write_private

KEY_FILE = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12
ENV_NAME = "HEARTH_MASTER_KEY"


def new_key() -> bytes:
    """32 random bytes."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """A key as the base64 text the key file and ``HEARTH_MASTER_KEY`` hold."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, where: str) -> bytes:
    """The key in base64 ``text``; ``ConfigError`` naming ``where`` it came from when it is not 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where} is not a master key: it must be {KEY_BYTES} random bytes in base64 (e.g. the "
                          "output of `head -c 32 /dev/urandom | base64`)")
    return key


class MasterKey:
    """The key in use and where it lives: a file (``path``), the environment, or nowhere (``hearth dev``'s
    in-memory state)."""

    def __init__(self, key: bytes, path: Path | None = None, *, from_environment: bool = False) -> None:
        self.key = key
        self.path = path
        self.from_environment = from_environment

    @classmethod
    def ephemeral(cls) -> MasterKey:
        """A key that lives as long as this process (for a store that does too)."""
        return cls(new_key())

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """``HEARTH_MASTER_KEY``'s value."""
        return cls(decode_key(text, ENV_NAME), from_environment=True)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> MasterKey:
        """``data_dir/master.key``, created (0600, 32 random bytes) if missing."""
        path = data_dir / KEY_FILE
        try:
            return cls(decode_key(path.read_text(encoding="ascii"), str(path)), path)
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the master key {path} ({exc}); check its owner and mode (0600)") from None
        key = new_key()
        write_key_file(path, key, exclusive=True)
        try:  # another process may have created it first: use whichever key the file holds
            return cls(decode_key(path.read_text(encoding="ascii"), str(path)), path)
        except OSError as exc:
            raise ConfigError(f"cannot read the master key {path} ({exc})") from None

    @property
    def pending_path(self) -> Path | None:
        """Where a rotation keeps the new key until the store holds secrets sealed with it."""
        return None if self.path is None else self.path.with_name(self.path.name + ".new")

    def seal(self, name: str, value: bytes) -> tuple[bytes, bytes]:
        """``(nonce, ciphertext)`` of ``value`` under this key, bound to ``name``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, AESGCM(self.key).encrypt(nonce, value, name.encode())

    def open(self, name: str, nonce: bytes, ciphertext: bytes) -> bytes:
        """The value ``seal`` sealed; ``SecretDecryptionFailed`` for another key, name or an altered ciphertext."""
        try:
            return AESGCM(self.key).decrypt(nonce, ciphertext, name.encode())
        except (InvalidTag, ValueError):
            raise SecretDecryptionFailed(
                f"the secret {name} does not decrypt with this master key ({self.where}); start Hearth with the "
                f"key it was stored with, or set it again with `hearth secret set {name}`") from None

    @property
    def where(self) -> str:
        if self.from_environment:
            return ENV_NAME
        return str(self.path) if self.path is not None else "an in-memory key"


def write_key_file(path: Path, key: bytes, *, exclusive: bool = False) -> None:
    """Write ``key`` to ``path`` (0600 from the first byte) whole or not at all (``private_file.write_private``;
    ``exclusive``: never replacing a file another process made)."""
    try:
        write_private(path, encode_key(key).encode() + b"\n", exclusive=exclusive)
    except OSError as exc:
        raise ConfigError(f"cannot write the master key {path} ({exc.strerror}); make {path.parent} writable") \
            from None
