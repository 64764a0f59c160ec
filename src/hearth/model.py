"""Domain objects shared by every part of Hearth: functions, routes, projects and invocation records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

ACCOUNT_ID = "000000000000"
REGION = "us-east-1"
LATEST = "$LATEST"

MEMORY_MB_RANGE = (128, 10240)
TIMEOUT_S_RANGE = (1, 900)
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3
DEFAULT_IDLE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class FunctionSpec:
    """A named unit of code and configuration, as the manifest declares it."""

    name: str
    handler: str
    code_dir: Path
    runtime: str = "python"
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_s: float = DEFAULT_TIMEOUT_S
    concurrency: int | None = None
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    env: Mapping[str, str] = field(default_factory=dict)
    version: str = LATEST

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class RouteSpec:
    """An HTTP method set and path pattern on the gateway that targets a function."""

    path: str
    function: str
    methods: frozenset[str] | None = None  # None: any method

    def route_key(self, method: str) -> str:
        """API Gateway's ``routeKey`` for a request with ``method`` that matched this route."""
        return f"ANY {self.path}" if self.methods is None else f"{method} {self.path}"


@dataclass(frozen=True)
class Project:
    """Everything one project folder declares."""

    root: Path
    functions: Mapping[str, FunctionSpec]
    routes: tuple[RouteSpec, ...]
    manifest: Path


class InvocationRecord(NamedTuple):
    """The structured facts of one invocation, kept for logs, metrics and billing.

    Immutable like the other domain objects, but a NamedTuple: one is built per invocation on the hot path, and
    a frozen dataclass's ``__init__`` costs several times more.
    """

    request_id: str
    function: str
    version: str
    trigger: str
    start: float  # epoch seconds
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None  # set on a cold start
    status: str  # success | error | timeout | throttled | oom | crash
    error_type: str | None
    log_lines: tuple[str, ...] = ()
    init_log_lines: tuple[str, ...] = ()

    @property
    def cold(self) -> bool:
        return self.init_ms is not None
