"""How an instance gets its function's secrets: at its start, as environment variables, or as files.

Files (``secrets_as_files = true``): one folder per instance, ``<scratch>/secrets/i<instance id>`` (mode 0500),
with one file per secret named as the secret (mode 0400, the value as written, no newline added), both owned by
the instance's identity (``pool/limits/identity.py``; then under its 0711 area, not the 0700 scratch), and the
folder's path in ``HEARTH_SECRETS_DIR``; the secrets are then *not* environment variables (which child processes
inherit and ``/proc/<pid>/environ`` shows). A folder goes when its instance is gone (``sweep``, on the platform's
reaper tick) and with the platform's scratch folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from hearth.errors import ServiceError
from hearth.model import FunctionSpec
from hearth.secrets.vault import Vault

DIR_VARIABLE = "HEARTH_SECRETS_DIR"


class Injector:
    """Reveals a function's secrets for one of its instances (``environment``), and removes the files of
    instances that are gone (``sweep``)."""

    def __init__(self, vault: Vault, folder: Path) -> None:
        self.vault = vault
        self.folder = folder
        self.owner_of: Callable[[str], Any] = lambda function: None  # a function's instances' Identity, or None
        self._folders: dict[int, Path] = {}  # instance id → its secrets folder

    def environment(self, spec: FunctionSpec, instance_id: int) -> dict[str, str]:
        """What to add to the environment of instance ``instance_id`` of ``spec``; raises ``MissingSecret``."""
        if not spec.secrets:
            return {}
        values = self.vault.reveal(spec.name, spec.secrets)
        if not spec.secrets_as_files:
            return values
        folder = self.folder / f"i{instance_id}"
        try:
            owner = self.owner_of(spec.name)
            self.folder.mkdir(mode=0o700 if owner is None else 0o711, parents=True, exist_ok=True)
            self._remove(folder)  # left by an earlier start of the same instance
            folder.mkdir(mode=0o700)
            self._folders[instance_id] = folder
            for name, value in values.items():
                fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
                with os.fdopen(fd, "wb") as file:
                    if owner is not None:
                        os.fchown(file.fileno(), owner.uid, owner.gid)
                    file.write(value.encode("utf-8"))
            if owner is not None:
                os.chown(folder, owner.uid, owner.gid)
            folder.chmod(0o500)
        except OSError as exc:
            raise ServiceError(f"cannot write the secrets of {spec.name} for an instance ({exc.strerror}); check "
                               f"that {self.folder} is writable") from None
        return {DIR_VARIABLE: str(folder)}

    @property
    def has_files(self) -> bool:
        """Whether any instance has a secrets folder (the reaper sweeps only then)."""
        return bool(self._folders)

    def sweep(self, live: Collection[int]) -> None:
        """Remove the secrets folders of instances not in ``live``."""
        for instance_id in [key for key in self._folders if key not in live]:
            self._remove(self._folders.pop(instance_id))

    def _remove(self, folder: Path) -> None:
        if folder.exists():
            folder.chmod(0o700)  # a 0500 folder's files cannot be unlinked
            shutil.rmtree(folder, ignore_errors=True)
