"""``hearth doctor`` and ``GET /hearth/doctor``: what this host can enforce for function instances, and what it
falls back to, each found by a real probe.

Every check is a small function of a ``Host`` (the facts it may look at, gathered at the edge: the CLI's
environment, or a running platform) returning a ``Check``: its name, one of ``STATUSES`` and a detail that says
what to do when it is not ``enforced``. The limits checks reuse the limiters' own detection
(``pool.limits.detect_limits``), or describe a running platform's limiters, never a second probe.

    enforced     the host enforces it now
    fallback     a weaker substitute is used (the detail says which, and how to get the real thing)
    unavailable  nothing enforces it here (the detail says how to get it)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hearth.errors import ConfigError
from hearth.pool.limits import InstanceLimits, detect_limits
from hearth.secrets.keys import ENV_NAME, KEY_FILE, decode_key

Status = Literal["enforced", "fallback", "unavailable"]
STATUSES: tuple[Status, ...] = ("enforced", "fallback", "unavailable")
SANDBOX_TIMEOUT_S = 10.0  # a bwrap trial run takes milliseconds; a hung one must not hang the report
# The trial run of ``isolation = "sandbox"``: everything unshared, the host's root read-only; what runs inside dies
# with bwrap, so a trial killed at its timeout leaves nothing holding its pipes.
SANDBOX_TRIAL = ("--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--dev", "/dev", "--proc", "/proc",
                 "/bin/true")
BUBBLEWRAP_HINT = "apt-get install bubblewrap"


@dataclass(frozen=True)
class Check:
    """One capability: its ``name``, its ``status`` and a ``detail`` saying why and what to do."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Host:
    """What the checks look at. ``limits`` are a running platform's limiters (described as they are); when None,
    ``report`` detects them for the report and removes what the detection created."""

    data_dir: Path | None = None  # None: no data folder (``hearth dev`` without --data-dir)
    master_key_env: str | None = field(default=None, repr=False)  # HEARTH_MASTER_KEY's value; checked, never shown
    in_memory_key: bool = False  # ``hearth dev``: secrets are sealed with a key that dies with the process
    search_path: str = os.defpath  # the PATH ``bwrap`` is looked for on
    euid: int = field(default_factory=os.geteuid)
    memory_enforcement: str = "auto"
    cpu_follows_memory: bool = True
    instance_user: str = "auto"  # what the platform would be started with (``hearth serve``'s default)
    limits: InstanceLimits | None = field(default=None, compare=False)


class ProbeFailed(Exception):
    """A probe itself crashed (not a capability the host lacks, which is a ``Check``)."""


def identity(host: Host) -> Check:
    """Who instances run as (``pool/limits/identity.py``): a uid per function needs a root platform and
    ``--instance-user auto`` (``hearth serve``'s default)."""
    policy = _limits(host).identity
    if policy.switches:
        return Check("identity", "enforced", policy.description)
    how = ("start it with --instance-user auto (hearth serve's default) for a uid per function" if host.euid == 0
           else "run Hearth as root for a uid per function")
    return Check("identity", "fallback",
                 f"{policy.description}; functions can read each other's files and /proc/<pid>/environ: {how}")


def memory(host: Host) -> Check:
    """The memory limiter: a cgroup v1 memory controller, or RLIMIT_AS."""
    limiter = _limits(host).memory
    if limiter.name == "cgroup-v1":
        return Check("memory", "enforced", f"{limiter.description}: the kernel stops an instance that exceeds its "
                                           "memory_mb")
    return Check("memory", "fallback",
                 f"{limiter.description}; for exact limits run Hearth as root on a host with the cgroup v1 memory "
                 "controller mounted (Hearth does not use the cgroup v2 memory controller yet)")


def cpu(host: Host) -> Check:
    """The CPU share (memory_mb / 1769 cores): a cpu cgroup, v1 or v2, or none."""
    limiter = _limits(host).cpu
    if limiter.name != "none":
        return Check("cpu", "enforced", limiter.description)
    return Check("cpu", "unavailable",
                 f"{limiter.description}; instances share every CPU: run Hearth as root where a cpu cgroup "
                 "controller is writable (v1, or a delegated v2 cgroup: systemd Delegate=yes)")


def processes(host: Host) -> Check:
    """The process limit: a pids cgroup, or RLIMIT_NPROC (which does not bind root)."""
    limiter = _limits(host).processes
    if limiter.name.startswith("cgroup"):
        return Check("processes", "enforced", limiter.description)
    if limiter.name == "rlimit" and host.euid != 0:
        return Check("processes", "fallback",
                     f"{limiter.description}; RLIMIT_NPROC counts every process of uid {host.euid}, not one "
                     "instance's: make a pids cgroup controller writable (v1, or a delegated v2 cgroup)")
    return Check("processes", "unavailable",
                 f"{limiter.description}; root is exempt from RLIMIT_NPROC, so a fork bomb is not contained: make "
                 "a pids cgroup controller writable (v1, or a delegated v2 cgroup: systemd Delegate=yes)")


def open_files(host: Host) -> Check:
    """The open files limit: RLIMIT_NOFILE, which every process limiter sets."""
    count = getattr(_limits(host).processes, "open_files", None)
    if count is None:
        return Check("open_files", "unavailable", "no process limiter sets RLIMIT_NOFILE")
    return Check("open_files", "enforced", f"RLIMIT_NOFILE {count} per instance (as on Lambda); needs no privilege")


def sandbox(host: Host) -> Check:
    """Whether ``isolation = "sandbox"`` can work: bwrap on PATH, and a trial run, with and without a network
    namespace of its own."""
    bwrap = shutil.which("bwrap", path=host.search_path)
    if bwrap is None:
        return Check("sandbox", "unavailable", f"bwrap (bubblewrap) is not on PATH: {BUBBLEWRAP_HINT}")
    name = f"{bwrap} ({_version(bwrap)})"
    problem = _trial([bwrap, *SANDBOX_TRIAL])
    if problem is None:
        return Check("sandbox", "enforced", f"{name}: a trial run with every namespace unshared works, network "
                                            "isolation (--unshare-net) included")
    shared = [*SANDBOX_TRIAL]
    shared.insert(shared.index("--unshare-all") + 1, "--share-net")
    if _trial([bwrap, *shared]) is None:
        return Check("sandbox", "fallback", f"{name} works, but not network isolation (--unshare-net: {problem}); "
                                            "sandboxed functions would share the host's network")
    return Check("sandbox", "unavailable",
                 f"{name} cannot run a sandbox here ({problem}): run Hearth as root, or allow unprivileged user "
                 "namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)")


def master_key(host: Host) -> Check:
    """Where the master key that seals secrets comes from, and whether it is safe there (never the key itself)."""
    if host.master_key_env is not None:
        try:
            decode_key(host.master_key_env, ENV_NAME)
        except ConfigError as error:
            return Check("master_key", "unavailable", f"{error.message}; hearth serve refuses to start with it")
        return Check("master_key", "enforced", f"from {ENV_NAME} (no key file is written)")
    if host.in_memory_key or host.data_dir is None:
        return Check("master_key", "fallback", "an in-memory key (hearth dev): secrets last as long as the process")
    path = host.data_dir / KEY_FILE
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        decode_key(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        return Check("master_key", "enforced", f"{path} does not exist yet: hearth serve creates it (mode 0600, 32 "
                                               f"random bytes) at its first start; or set {ENV_NAME} to keep the "
                                               "key off this disk")
    except ConfigError as error:
        return Check("master_key", "unavailable", error.message)
    except (OSError, UnicodeDecodeError) as exc:
        return Check("master_key", "unavailable", f"cannot read {path} ({getattr(exc, 'strerror', None) or exc}); "
                                                  "check its owner and mode (0600)")
    if mode & 0o077:
        return Check("master_key", "fallback", f"{path} is mode {mode:04o}: other users may read the key that opens "
                                               f"every secret; chmod 600 {path}")
    return Check("master_key", "enforced", f"{path} (mode {mode:04o})")


def data_dir(host: Host) -> Check:
    """Whether the data folder (state, code, keys, logs) is private to its owner."""
    folder = host.data_dir
    if folder is None:
        return Check("data_dir", "fallback", "no data folder: state lives in memory and a scratch folder (hearth "
                                             "dev); hearth serve --data-dir keeps it")
    try:
        info = folder.stat()
    except FileNotFoundError:
        return Check("data_dir", "fallback", f"{folder} does not exist yet: hearth serve would create it with your "
                                             f"umask's mode; create it private first: mkdir -m 700 {folder}")
    except OSError as exc:
        return Check("data_dir", "unavailable", f"cannot inspect {folder} ({exc.strerror}); check its parents' modes")
    if not stat.S_ISDIR(info.st_mode):
        return Check("data_dir", "unavailable", f"{folder} is not a folder; choose another with --data-dir")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return Check("data_dir", "fallback", f"{folder} is mode {mode:04o}: other users can read functions' "
                                             f"configuration, code and logs in it; chmod 700 {folder}")
    return Check("data_dir", "enforced", f"{folder} (mode {mode:04o}): only its owner (uid {info.st_uid}) can "
                                         "read it")


CHECKS: tuple[Callable[[Host], Check], ...] = (identity, memory, cpu, processes, open_files, sandbox, master_key,
                                               data_dir)


def report(host: Host, checks: tuple[Callable[[Host], Check], ...] = CHECKS) -> list[Check]:
    """Every check, in order; ``ProbeFailed`` naming the check whose probe crashed."""
    detected = host.limits is None
    if detected:
        try:
            host = dataclasses.replace(host, limits=detect_limits(host.memory_enforcement, host.cpu_follows_memory,
                                                                     host.instance_user))
        except Exception as exc:
            raise ProbeFailed(f"detecting the instance limits failed: {exc}") from exc
    try:
        results = []
        for check in checks:
            try:
                results.append(check(host))
            except Exception as exc:
                raise ProbeFailed(f"the {check.__name__} probe failed: {exc}") from exc
        return results
    finally:
        if detected:
            _limits(host).close()  # the detection's cgroups (hearth-<pid>) go with this report


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    """The report as JSON values: ``[{"name", "status", "detail"}, …]``."""
    return [dataclasses.asdict(check) for check in checks]


def _limits(host: Host) -> InstanceLimits:
    assert host.limits is not None, "report() fills in the limits"
    return host.limits


def _trial(command: list[str]) -> str | None:
    """Run ``command``, bounded by ``SANDBOX_TIMEOUT_S``: None when it succeeded, else why it failed."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=SANDBOX_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"it did not finish in {SANDBOX_TIMEOUT_S:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def _version(bwrap: str) -> str:
    """What ``bwrap --version`` says (bounded like a trial run)."""
    try:
        done = subprocess.run([bwrap, "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=SANDBOX_TIMEOUT_S, check=False)
    except (subprocess.TimeoutExpired, OSError):
        return "version unknown"
    return done.stdout.strip() or "version unknown"
