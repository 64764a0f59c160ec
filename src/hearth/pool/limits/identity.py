"""Who an instance runs as, and its own home: a uid of its function's own (the platform runs as root), one
configured uid, or the platform's own user.

With a switched identity (``Identities``) every instance's child starts as root, joins its cgroups, changes into
its code folder, and then drops to ``uid``/``gid`` (no supplementary groups) before any user code runs. Each
function gets a uid of its own, ``UID_BASE`` plus a hash of its name (probing on within this platform when two
names meet), so it is the same across restarts and two functions never share one. Those uids own nothing on the
host: an instance can read what every user may read (the system, world-readable files), its own code, home and
secrets, and nothing of the platform's (its data folder is 0700) or of another function's.

- *Home*: ``<area>/u<uid>/i<instance id>`` (0700, the uid's), given as ``HOME`` and ``TMPDIR``, removed when the
  instance stops. ``<area>`` is 0711: a uid can pass through it to its own folder but cannot list it.
- *Bytecode*: such an instance has no ``sys.pycache_prefix`` (a cache every function wrote would let one plant
  bytecode another runs, and a prefix hides the ``__pycache__`` folders the interpreter's library ships, so each
  function would compile the library again). It reads ``__pycache__`` beside the sources: the library's, and the
  code store's, which compiles every package it stores; it can write none.
- *Code*: a code folder only root can reach (the code store is in the 0700 data folder) is opened by the child
  while it is still root, and the instance imports it through ``/proc/self/fd/N``: the link leads into the folder
  without the kernel checking the folders above it, and only this process holds it. An executable (``provided``,
  ``http``) is started as ``/proc/self/cwd/<path>`` from the code folder it was changed into, with
  ``LAMBDA_TASK_ROOT`` ``/proc/self/cwd`` (right for every process that has not changed its directory). The
  zygote reaches the interpreter's own library the same way (``worker.grant_import_path``). A code folder that
  others may not read fails Init with ``Runtime.ImportModuleError`` saying so.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hearth.errors import ConfigError
from hearth.runtimes.python.worker import reachable_by_others

UID_BASE = 1_500_000_000  # above the ranges systems hand out (users, DynamicUser, container subuids start lower)
UID_SPAN = 1_000_000
INSTANCE_USERS = ("auto", "self")  # or UID[:GID] or a user name


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int


class IdentityPolicy(Protocol):
    """Gives an instance its identity and home, and removes the home when the instance stops."""

    name: str
    description: str
    switches: bool  # whether instances run as another user than the platform

    @property
    def area(self) -> Path | None:
        """Where the homes are (0711), if instances have their own."""

    def of(self, function: str) -> Identity | None:
        """The identity instances of ``function`` run as; None: the platform's own."""

    def prepare(self, instance_id: int, function: str, code_dir: str) -> dict[str, Any]:
        """Fields for the child's spec: ``uid``, ``gid``, ``home`` and ``code_via_fd``."""

    def reachable(self, path: str) -> bool:
        """Whether an instance's identity can reach ``path`` by its name."""

    def release(self, instance_id: int) -> None:
        """Remove the instance's home."""

    def close(self) -> None:
        """Remove every home."""


class SameUser:
    """Instances run as the platform's own user; ``description`` says why."""

    name = "same user"
    switches = False
    area: Path | None = None

    def __init__(self, reason: str) -> None:
        self.description = f"instances run as the platform's user ({_user_name(os.geteuid())}): {reason}"

    def of(self, function: str) -> Identity | None:
        return None

    def prepare(self, instance_id: int, function: str, code_dir: str) -> dict[str, Any]:
        return {}

    def reachable(self, path: str) -> bool:
        return True

    def release(self, instance_id: int) -> None:
        pass

    def close(self) -> None:
        pass


class Identities:
    """Instances drop to a uid of their function's own (``fixed`` None) or to ``fixed``; needs root."""

    name = "switched user"
    switches = True

    def __init__(self, fixed: Identity | None = None, *, base: int = UID_BASE, span: int = UID_SPAN) -> None:
        self.fixed = fixed
        self.base = base
        self.span = span
        self._area = Path(tempfile.mkdtemp(prefix="hearth-instances-"))
        self._area.chmod(0o711)
        self._by_function: dict[str, Identity] = {}
        self._taken: set[int] = set()
        self._homes: dict[int, Path] = {}  # instance id → its home
        self._owned: set[int] = set()  # uids whose folder exists
        self._reachable: dict[str, bool] = {}
        if fixed is not None:
            self.description = f"instances run as uid {fixed.uid}, gid {fixed.gid} (--instance-user)"
        else:
            self.description = (f"each function runs under a uid of its own ({base} + a hash of its name), "
                                "without access to the platform's files or other functions'")

    @property
    def area(self) -> Path:
        return self._area

    def of(self, function: str) -> Identity:
        if self.fixed is not None:
            return self.fixed
        identity = self._by_function.get(function)
        if identity is None:
            offset = int.from_bytes(hashlib.blake2b(function.encode(), digest_size=8).digest(), "big") % self.span
            while self.base + offset in self._taken:
                offset = (offset + 1) % self.span
            uid = self.base + offset
            self._taken.add(uid)
            identity = self._by_function[function] = Identity(uid, uid)
        return identity

    def prepare(self, instance_id: int, function: str, code_dir: str) -> dict[str, Any]:
        identity = self.of(function)
        folder = self.area / f"u{identity.uid}"
        if identity.uid not in self._owned:
            self._own(folder, identity, 0o700)
            self._owned.add(identity.uid)
        home = folder / f"i{instance_id}"
        self._own(home, identity, 0o700)
        self._homes[instance_id] = home
        return {"uid": identity.uid, "gid": identity.gid, "home": str(home),
                "code_via_fd": not self.reachable(code_dir)}

    def reachable(self, path: str) -> bool:
        known = self._reachable.get(path)
        if known is None:
            known = self._reachable[path] = reachable_by_others(path)
        return known

    def release(self, instance_id: int) -> None:
        home = self._homes.pop(instance_id, None)
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)

    def close(self) -> None:
        self._homes.clear()
        shutil.rmtree(self.area, ignore_errors=True)

    @staticmethod
    def _own(folder: Path, identity: Identity, mode: int) -> None:
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            pass
        os.chown(folder, identity.uid, identity.gid)
        folder.chmod(mode)


def parse_instance_user(value: str) -> str:
    """``--instance-user``: ``auto``, ``self``, ``UID[:GID]`` or a user name; raises ``ConfigError``."""
    text = value.strip()
    if text not in INSTANCE_USERS:
        _fixed_identity(text)
    return text


def detect_identities(instance_user: str = "auto") -> IdentityPolicy:
    """The identity policy ``--instance-user`` asks for, on this host: ``auto`` switches to per-function uids when
    the platform runs as root and keeps its own user otherwise; raises ``ConfigError`` for a uid it cannot take."""
    root = os.geteuid() == 0
    if instance_user == "self":
        return SameUser("--instance-user self")
    if instance_user == "auto":
        if root:
            return Identities()
        return SameUser("the platform is not root, so it cannot give functions uids of their own (run it as root "
                        "for that)")
    fixed = _fixed_identity(instance_user)
    if fixed.uid == os.geteuid() and fixed.gid == os.getegid():
        return SameUser(f"--instance-user {instance_user} is the platform's own user")
    if not root:
        raise ConfigError(f"--instance-user {instance_user}: only a platform running as root can run instances "
                          "as another user; use --instance-user self or start it as root")
    return Identities(fixed)


def _fixed_identity(text: str) -> Identity:
    uid_text, _, gid_text = text.partition(":")
    try:
        if uid_text.isdigit():
            uid = int(uid_text)
            gid = int(gid_text) if gid_text else uid
        else:
            entry = pwd.getpwnam(uid_text)
            uid, gid = entry.pw_uid, int(gid_text) if gid_text else entry.pw_gid
    except (KeyError, ValueError):
        raise ConfigError(f"--instance-user {text!r}: expected auto, self, UID[:GID] or the name of a user of "
                          "this host") from None
    return Identity(uid, gid)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
