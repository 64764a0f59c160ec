"""Platform settings: one frozen value, built at the edge (the CLI) from flags and ``HEARTH_*`` variables."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hearth.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MEMORY_ENFORCEMENT = ("auto", "cgroup", "rlimit")
DEFAULT_CONCURRENCY_LIMIT = 1000


def instance_base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The few host variables an instance inherits; everything else it gets from its function's config."""
    keep = ("PATH", "LANG", "LC_ALL", "HOME")
    env = {name: environ[name] for name in keep if name in environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    return env


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``127.0.0.1``, ``::1`` → networks; a bad value raises ``ConfigError`` naming it."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"trusted proxy {value!r} is not an IP address or network (e.g. 10.0.0.0/8, "
                              "127.0.0.1, ::1)") from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    """How the platform runs; ``expose_errors`` is on for ``hearth dev`` and off for a production server."""

    host: str = "127.0.0.1"
    port: int = 8080
    control_port: int = 9090
    expose_errors: bool = True
    concurrency_limit: int = DEFAULT_CONCURRENCY_LIMIT
    memory_enforcement: str = "auto"
    python: str = sys.executable
    base_env: Mapping[str, str] = field(default_factory=lambda: instance_base_env({}))
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-* the gateway believes (gateway/forwarded.py)
    https_redirect: bool = False  # 301 to https for requests a trusted proxy says came over http
    async_retry_delay_s: float = 60.0  # before an asynchronous event's first retry (Lambda's); doubles per retry

    def __post_init__(self) -> None:
        if self.memory_enforcement not in MEMORY_ENFORCEMENT:
            raise ConfigError(f"memory enforcement must be one of {', '.join(MEMORY_ENFORCEMENT)}, "
                              f"got {self.memory_enforcement!r}")
        for name, port in (("port", self.port), ("control port", self.control_port)):
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be from 0 to 65535 (0 picks a free port), got {port}")
        if self.concurrency_limit < 1:
            raise ConfigError(f"concurrency limit must be at least 1, got {self.concurrency_limit}")
        if self.https_redirect and not self.trusted_proxies:
            raise ConfigError("--https-redirect needs --trusted-proxy: only a trusted proxy (the TLS terminator in "
                              "front of Hearth) can say that a client used plain http")
