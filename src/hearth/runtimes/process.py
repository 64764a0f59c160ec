"""What every runtime's processes share: killing a process group, naming how a process ended as Lambda does, and
reading its peak memory."""

from __future__ import annotations

import os
import signal

from hearth import errors


def kill_group(pid: int | None, signum: int = signal.SIGKILL) -> None:
    """Signal the process group ``pid`` leads (every instance runs in its own); nothing if it is gone."""
    if pid is not None:
        try:
            os.killpg(pid, signum)
        except OSError:
            pass


def exit_failure(status: int | None, error: str | None, oom_killed: bool,
                 clean_exit: str | None = None) -> errors.FunctionFailure:
    """The failure a process's end means: ``Runtime.OutOfMemory`` after a cgroup OOM kill, else
    ``Runtime.ExitError`` with Lambda's wording; ``clean_exit`` names an exit with status 0 when given."""
    if oom_killed:
        return errors.OutOfMemory("Runtime exited with error: signal: killed")
    if status is None:
        return errors.ExitError(f"Runtime exited with error: {error or 'unknown status'}")
    if clean_exit is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return errors.ExitError(clean_exit)
    return errors.ExitError(f"Runtime exited with error: {wait_status_text(status)}")


def wait_status_text(status: int) -> str:
    """Lambda's wording for how a runtime process ended: ``exit status 3`` or ``signal: killed``."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return "signal: " + _SIGNAL_WORDS.get(number, f"signal {number}")
    return f"exit status {os.WEXITSTATUS(status)}"


_SIGNAL_WORDS = {1: "hangup", 2: "interrupt", 4: "illegal instruction", 6: "aborted", 7: "bus error",
                 8: "floating point exception", 9: "killed", 11: "segmentation fault", 15: "terminated"}


def peak_rss_kb(pid: int | None) -> int:
    """The process's peak resident memory (``VmHWM``), 0 when it cannot be read."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
