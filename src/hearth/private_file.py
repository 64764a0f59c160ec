"""Writing a file that holds keys (the master key, the admin credentials): private (0600) from its first byte,
whole or not at all, and durable."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` through a temporary file (``O_EXCL``: it also refuses to write through a symlink
    planted at that name), fsync it, then publish it with a hard link (``exclusive``: never replacing a file that a
    concurrent start-up has just made, and whose keys it may already have printed) or a rename over the old one.

    False when ``exclusive`` and ``path`` exists already (it is left alone); raises ``OSError``.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if exclusive:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)
    return True


def _fsync_directory(directory: Path) -> None:
    """Make the new directory entry durable; best effort, because some file systems cannot fsync a directory and
    the file is complete and in place either way."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
