"""Platform settings: one frozen value, built at the edge (the CLI) from flags and ``HEARTH_*`` variables."""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hearth.billing.prices import Billing, PriceTable
from hearth.errors import ConfigError
from hearth.pool.limits.identity import parse_instance_user

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MEMORY_ENFORCEMENT = ("auto", "cgroup", "rlimit")
DEFAULT_CONCURRENCY_LIMIT = 1000
DEFAULT_LOG_RETENTION_S = 7 * 86400.0
DEFAULT_LOG_MAX_BYTES = 1024 ** 3
DEFAULT_LOG_DRAIN_BUFFER = 10_000  # lines waiting per drain (telemetry/drains.py)
DEFAULT_METER_FLUSH_S = 5.0  # the meter writes its tallies this often (billing/meter.py): what a SIGKILL can lose
DEFAULT_IDLE_CHECK_S = 600.0  # how often auto_disable_after_days looks for idle functions (billing/idle.py)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|K|M|G|T)?$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4, "kib": 1024, "k": 1024,
               "mib": 1024 ** 2, "m": 1024 ** 2, "gib": 1024 ** 3, "g": 1024 ** 3, "tib": 1024 ** 4, "t": 1024 ** 4}


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


def parse_duration(value: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` (a bare number is seconds) → seconds; raises ``ConfigError``."""
    found = _DURATION.match(value.strip())
    if not found or float(found.group(1)) <= 0:
        raise ConfigError(f"{value!r} is not a duration: use a positive number with s, m, h, d or w (e.g. 7d, 12h)")
    return float(found.group(1)) * _DURATION_UNITS[found.group(2) or "s"]


def parse_size(value: str) -> int:
    """``1GiB``, ``500MB``, ``64M`` (a bare number is bytes; K/M/G/T are binary) → bytes; raises ``ConfigError``."""
    found = _SIZE.match(value.strip())
    if not found or float(found.group(1)) <= 0:
        raise ConfigError(f"{value!r} is not a size: use a positive number with B, KiB, MiB, GiB, KB, MB or GB "
                          "(e.g. 1GiB, 500MB)")
    return int(float(found.group(1)) * _SIZE_UNITS[(found.group(2) or "b").lower()])


@dataclass(frozen=True)
class Settings:
    """How the platform runs; ``expose_errors`` is on for ``hearth dev`` and off for a production server."""

    host: str = "127.0.0.1"
    port: int = 8080
    control_port: int = 9090
    expose_errors: bool = True
    concurrency_limit: int = DEFAULT_CONCURRENCY_LIMIT
    memory_enforcement: str = "auto"
    cpu_follows_memory: bool = True  # an instance's CPU share is memory_mb / 1769 cores (pool/limits/cpu.py)
    # Who instances run as (pool/limits/identity.py): "auto" (root: a uid per function), "self", UID[:GID] or a user
    instance_user: str = "self"
    python: str = sys.executable
    base_env: Mapping[str, str] = field(default_factory=lambda: instance_base_env({}))
    # The platform's own environment, where routes' ``token_env``/``jwt_secret_env`` are read (gateway/auth.py).
    route_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-* the gateway believes (gateway/forwarded.py)
    https_redirect: bool = False  # 301 to https for requests a trusted proxy says came over http
    async_retry_delay_s: float = 60.0  # before an asynchronous event's first retry (Lambda's); doubles per retry
    data_dir: Path | None = None  # ``hearth serve``'s data folder (state, code, keys); None: ``hearth dev``
    log_dir: Path | None = None  # the log store's folder (telemetry/logstore.py); None: scratch, removed at exit
    log_retention_s: float = DEFAULT_LOG_RETENTION_S  # whole segments older than this are deleted
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES  # then the oldest while the store is larger
    log_drains: tuple[str, ...] = ()  # http(s):// endpoints and file:/// folders every log line goes to
    log_drain_secret: str | None = None  # what HTTP drains sign their batches with (x-hearth-signature)
    log_drain_buffer: int = DEFAULT_LOG_DRAIN_BUFFER  # lines each drain keeps while it cannot deliver
    billing: Billing = Billing()  # billed duration: granularity and whether Init counts (billing/prices.py)
    prices: PriceTable = PriceTable()  # what usage costs, unless a function's manifest overrides a price
    meter_flush_s: float = DEFAULT_METER_FLUSH_S
    auto_disable_after_days: int | None = None  # disable functions with no invocation for this long; None: never
    idle_check_interval_s: float = DEFAULT_IDLE_CHECK_S

    def __post_init__(self) -> None:
        if self.memory_enforcement not in MEMORY_ENFORCEMENT:
            raise ConfigError(f"memory enforcement must be one of {', '.join(MEMORY_ENFORCEMENT)}, "
                              f"got {self.memory_enforcement!r}")
        parse_instance_user(self.instance_user)
        for name, port in (("port", self.port), ("control port", self.control_port)):
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be from 0 to 65535 (0 picks a free port), got {port}")
        if self.concurrency_limit < 1:
            raise ConfigError(f"concurrency limit must be at least 1, got {self.concurrency_limit}")
        if self.log_retention_s <= 0 or self.log_max_bytes <= 0:
            raise ConfigError("log retention and log size must be positive")
        for url in self.log_drains:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if not (scheme in ("http", "https", "otlp+http", "otlp+https") and parts.hostname
                    or scheme == "file" and parts.netloc in ("", "localhost") and parts.path):
                raise ConfigError(f"log drain {url!r} is not an http(s) URL, a file:///absolute/folder, or an "
                                  "otlp+http(s):// endpoint for spans")
        if self.log_drain_buffer < 1:
            raise ConfigError(f"log drain buffer must be at least 1 line, got {self.log_drain_buffer}")
        if not 0.05 <= self.meter_flush_s <= 3600:
            raise ConfigError(f"meter flush interval must be from 0.05 s to 1 h, got {self.meter_flush_s} s")
        if self.auto_disable_after_days is not None and self.auto_disable_after_days < 1:
            raise ConfigError(f"auto_disable_after_days must be at least 1 (leave it unset to never disable), got "
                              f"{self.auto_disable_after_days}")
        if self.idle_check_interval_s <= 0:
            raise ConfigError(f"the idle check interval must be positive, got {self.idle_check_interval_s}")
        if self.https_redirect and not self.trusted_proxies:
            raise ConfigError("--https-redirect needs --trusted-proxy: only a trusted proxy (the TLS terminator in "
                              "front of Hearth) can say that a client used plain http")
