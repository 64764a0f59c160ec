"""Facts about other processes on this host."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (one we may not signal counts: it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
