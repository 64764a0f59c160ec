"""Domain objects shared by every part of Hearth: functions, versions, aliases, routes, gateway response rules,
projects and records."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
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
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's limit on a synchronous invocation's request and response
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # Lambda's limit on an asynchronous (Event) invocation's payload (1 MB)
ASYNC_PAYLOAD_PURPOSE = "for an asynchronous invocation (Event)"  # what RequestTooLarge says the limit is for
# What names and handlers look like, wherever they come from (manifest, Lambda API).
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
ALIAS_NAME = re.compile(r"^(?!\d+\Z)[A-Za-z0-9_-]{1,128}\Z")  # never all digits: that is a version
HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z")
# Lambda's Python runtime names; all of them run on the platform's own interpreter (the zygote's).
PYTHON_RUNTIMES = frozenset({"python", *(f"python3.{minor}" for minor in range(8, 15))})
# Lambda's OS-only runtimes: the package brings a ``bootstrap`` that speaks the Runtime API.
PROVIDED_RUNTIMES = frozenset({"provided", "provided.al2", "provided.al2023"})
HTTP_RUNTIME = "http"  # Hearth's own: any HTTP server process, started on demand and reverse-proxied
BOOTSTRAP = "bootstrap"
# How a function's instances are kept apart from the host: "process" (their own process group, cgroups and
# rlimits) or "sandbox" (that, inside bubblewrap: read-only system, private /tmp, only its own package visible,
# network optional; runtimes/python/sandbox.py).
ISOLATIONS = ("process", "sandbox")


def runtime_family(name: str) -> str | None:
    """The Hearth runtime that runs a runtime name (``python3.12`` → ``python``, ``provided.al2`` → ``provided``,
    ``http``), or None if none does."""
    if name in PYTHON_RUNTIMES:
        return "python"
    if name in PROVIDED_RUNTIMES:
        return "provided"
    return HTTP_RUNTIME if name == HTTP_RUNTIME else None


def handler_problem(runtime: str, handler: str) -> str | None:
    """Why ``handler`` cannot be the handler of a ``runtime`` function, or None when it can."""
    family = runtime_family(runtime)
    if family == "python" and handler.endswith(".py"):
        return _python_file_problem(handler)
    if family == "python" and not HANDLER.match(handler):
        return ('use "module.function", e.g. app.handler (packages allowed: pkg.mod.fn), or the path of a .py file '
                'in the code folder, e.g. api/users/[id].py')
    if family == "provided" and not re.match(r"^\S{1,128}$", handler):
        return (f"use 1 to 128 characters without spaces; the runtime reads it from $_HANDLER "
                f"({BOOTSTRAP!r}, or the path of another executable in the package)")
    return None


def _python_file_problem(path: str) -> str | None:
    """Why ``path`` cannot name a Python file of a code folder (``api/users/[id].py``), or None when it can."""
    parts = path.split("/")
    if len(path) > 128 or re.search(r"[\s\\\x00-\x1f\x7f]", path):
        return "a file handler has at most 128 characters, without spaces, backslashes or control characters"
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return ('a file handler is a path inside the code folder, e.g. api/users/[id].py: no leading "/", '
                'no "." or ".." parts, no empty ones')
    if parts[-1] == ".py":
        return "a file handler names a file: give its name before .py, e.g. api/index.py"
    return None


@dataclass(frozen=True)
class ServerSpec:
    """How the ``http`` runtime runs a function: the server command and when it counts as started.

    ``command`` may contain ``{port}``, replaced by the port the server must listen on (also in ``$PORT``).
    """

    command: tuple[str, ...]
    health_path: str = "/"
    startup_timeout_s: float = 10.0
    max_concurrency: int = 100  # requests in flight per instance (a Lambda instance takes one)


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
    version: str = LATEST  # "$LATEST", or "1", "2", … for a published (immutable) version
    description: str = ""
    code_sha256: str = ""  # hex digest of the code package in the code store; "" for a live folder (hearth dev)
    code_size: int = 0
    revision_id: str = ""  # changes whenever code or configuration changes
    last_modified: str = ""  # ISO 8601, as Lambda prints it
    server: ServerSpec | None = None  # set for the ``http`` runtime only
    # Folders (or files) from outside the project, as the manifest writes them (relative to the project folder,
    # e.g. "../pkg"): the package holds each at its root under its own name, and ``hearth dev`` runs the function
    # from a view of the project that has them too (config/include.py).
    include: tuple[str, ...] = ()
    # Lambda's DeadLetterConfig: the queue ARN an asynchronous event goes to once its retries are exhausted.
    dead_letter_arn: str | None = None
    # Prices that differ from the platform's table for this function's usage (``billing/prices.py``: "gb_second",
    # "per_million_requests", "provisioned_gb_second" → US dollars), e.g. to charge a team back. Reports price
    # every version of a function with its $LATEST's table.
    price: Mapping[str, Decimal] = field(default_factory=dict)
    keep_alive: bool = False  # never disabled for having no invocations (``auto_disable_after_days``)
    # Names of the secrets (``hearth secret set``) its instances get, as environment variables or, with
    # ``secrets_as_files``, as 0400 files in the folder ``HEARTH_SECRETS_DIR`` names. Values never live here.
    secrets: tuple[str, ...] = ()
    secrets_as_files: bool = False
    isolation: str = "process"  # one of ISOLATIONS
    network: bool = True  # False: a sandboxed function's instances have loopback only (its own, not the host's)

    @property
    def arn(self) -> str:
        """The unqualified function ARN."""
        return function_arn(self.name)

    @property
    def version_arn(self) -> str:
        """The ARN qualified with this spec's version (Lambda's ``FunctionArn`` of a version)."""
        return function_arn(self.name, self.version)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


def function_arn(name: str, qualifier: str | None = None) -> str:
    """``arn:aws:lambda:<region>:000000000000:function:NAME[:QUALIFIER]``."""
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@dataclass(frozen=True)
class HeaderRule:
    """Send calls whose request header matches to ``version`` (Tencent SCF's routing by rule).

    A rule matches either one exact value (``equals``) or a numeric range ``[low, high]`` (both ends included).
    An alias evaluates its rules, in order, before its weights.
    """

    header: str  # lower-case
    version: str
    equals: str | None = None
    low: float | None = None
    high: float | None = None

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.equals is not None:
            return value == self.equals
        try:
            number = float(value)
        except ValueError:
            return False
        if not math.isfinite(number):
            return False
        return (self.low is None or number >= self.low) and (self.high is None or number <= self.high)


@dataclass(frozen=True)
class AliasSpec:
    """A name pointing at one version, with at most one extra version and its weight, and header rules."""

    function: str
    name: str
    version: str
    weights: Mapping[str, float] = field(default_factory=dict)  # Lambda's AdditionalVersionWeights (≤ 1 entry)
    rules: tuple[HeaderRule, ...] = ()
    description: str = ""
    revision_id: str = ""

    @property
    def arn(self) -> str:
        return function_arn(self.function, self.name)


MISSED_POLICIES = ("skip", "once")


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule (``triggers/scheduler.py``): on every tick of ``expression`` (``triggers/schedule.py``), an
    asynchronous invocation of ``function[:qualifier]`` with EventBridge's Scheduled Event (or ``input``), or, for a
    Vercel ``crons`` entry, a GET of ``path`` on the gateway."""

    name: str  # unique on the platform: "<project>.<function>" or "<project>.<function>.<n>", "<project>.cron.<n>"
    expression: str  # canonical (``Schedule.expression``)
    timezone: str = "UTC"
    function: str = ""  # "" for a path
    qualifier: str | None = None
    input: str | None = None  # JSON text that replaces the Scheduled Event
    path: str = ""  # a Vercel cron: GET this path on the gateway (with its project's host)
    site: str = ""  # the project that declared it
    missed: str = "skip"  # ticks missed while Hearth was down: "skip" them, or fire "once" for the latest
    enabled: bool = True  # false: declared, never fires

    @property
    def target(self) -> str:
        if self.path:
            return f"GET {self.path}"
        return f"{self.function}:{self.qualifier}" if self.qualifier else self.function


AUDIT_ACTIONS = ("disabled", "enabled")


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: what was done to a function, when and why (``hearth audit``). A disabled
    function's state is the entry that disabled it."""

    time: float  # epoch seconds
    function: str
    action: str  # one of AUDIT_ACTIONS
    reason: str  # "no invocations for 30 days (auto_disable_after_days = 30)", "hearth enable", …


MAX_RETRY_ATTEMPTS_RANGE = (0, 2)  # Lambda's EventInvokeConfig bounds
MAX_EVENT_AGE_S_RANGE = (60, 21600)


@dataclass(frozen=True)
class EventInvokeConfig:
    """How a function (one qualifier of it) handles asynchronous invocations, as Lambda's EventInvokeConfig: how
    often a failed event is retried, how old an event may get, and where the invocation record of a success or
    a final failure goes (a destination ARN: a function, or later a queue; ``parse_destination`` reads one).

    A config belongs to exactly one qualifier: an invocation through alias ``live`` uses ``live``'s, not its
    version's. ``last_modified`` is ISO 8601 like a function's (the Lambda API renders it as epoch seconds)."""

    function: str
    qualifier: str = LATEST  # "$LATEST", a version number or an alias
    maximum_retry_attempts: int = 2
    maximum_event_age_s: int = 21600
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: str = ""


QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}\Z")  # an SQS standard queue's name (FIFO queues cannot be destinations)
VERSION_QUALIFIER = re.compile(r"^[1-9][0-9]*\Z")


def queue_arn(name: str) -> str:
    """``arn:aws:sqs:<region>:000000000000:NAME``."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


VISIBILITY_TIMEOUT_S_RANGE = (0, 43_200)  # SQS's bounds, here and below
MESSAGE_RETENTION_S_RANGE = (60, 1_209_600)
DELAY_S_RANGE = (0, 900)
MAX_RECEIVE_COUNT_RANGE = (1, 1000)
RECEIVE_WAIT_S_RANGE = (0, 20)
MAXIMUM_MESSAGE_SIZE_RANGE = (1024, 1_048_576)
BATCH_SIZE_RANGE = (1, 10_000)  # Lambda's for SQS: more than 10 needs a batching window
BATCHING_WINDOW_S_RANGE = (0, 300)
MAXIMUM_CONCURRENCY_RANGE = (2, 1000)


@dataclass(frozen=True)
class QueueSpec:
    """A durable queue, as SQS's standard queue: its messages live in the event store (queue = ``name``)."""

    name: str  # QUEUE_NAME
    visibility_timeout_s: int = 30  # a received message is hidden this long unless deleted
    message_retention_s: int = 345_600  # 4 days; older messages are dropped
    delay_s: int = 0  # a new message becomes visible after this long
    receive_wait_s: int = 0  # ReceiveMessage's default long-poll wait (0 to 20)
    maximum_message_size: int = 262_144  # bytes of body and attributes
    dead_letter_queue: str | None = None  # with max_receive_count: where a message goes after that many receives
    max_receive_count: int | None = None
    site: str = ""  # the project that declared it ("" when made through the API)
    created: str = ""  # ISO 8601

    @property
    def arn(self) -> str:
        return queue_arn(self.name)


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """A queue feeding a function (Lambda's event source mapping for SQS): batches of up to ``batch_size``
    messages, gathered for up to ``maximum_batching_window_s``, at most ``maximum_concurrency`` batches at once."""

    uuid: str
    queue: str
    function: str
    qualifier: str | None = None
    batch_size: int = 10
    maximum_batching_window_s: int = 0
    maximum_concurrency: int | None = None  # None: as many as the function's concurrency allows
    report_batch_item_failures: bool = False  # FunctionResponseTypes ["ReportBatchItemFailures"]
    enabled: bool = True
    site: str = ""  # the project that declared it ("" when made through the API)
    last_modified: str = ""


class Destination(NamedTuple):
    """What a destination ARN names: a function (with the qualifier the ARN carries, or None) or a queue."""

    kind: str  # "function" or "queue"
    name: str
    qualifier: str | None = None


def parse_destination(arn: str) -> Destination:
    """The function or queue an asynchronous invocation's destination ARN names. Raises ``ValueError`` saying what
    is wrong when it names neither: another service, account or region, or a malformed name."""
    usage = (f"give a function's ARN ({function_arn('NAME')}[:QUALIFIER]) or a standard queue's "
             f"({queue_arn('NAME')})")
    parts = arn.split(":")
    if len(parts) < 6 or parts[:2] != ["arn", "aws"]:
        raise ValueError(f"{arn!r} is not an ARN; {usage}")
    service, region, account = parts[2:5]
    if service not in ("lambda", "sqs"):
        raise ValueError(f"{arn!r}: Hearth delivers asynchronous invocation records to functions and queues, not to "
                         f"{service or 'an unnamed service'}; {usage}")
    if (region, account) != (REGION, ACCOUNT_ID):
        raise ValueError(f"{arn!r}: Hearth is one account ({ACCOUNT_ID}) in one region ({REGION}); {usage}")
    if service == "sqs":
        if len(parts) != 6 or not QUEUE_NAME.match(parts[5]):
            raise ValueError(f"{arn!r}: a queue's name is 1 to 80 letters, digits, '-' or '_'; {usage}")
        return Destination("queue", parts[5])
    qualifier = parts[7] if len(parts) == 8 else None
    if (len(parts) not in (7, 8) or parts[5] != "function" or not FUNCTION_NAME.match(parts[6])
            or (qualifier is not None and qualifier != LATEST and not VERSION_QUALIFIER.match(qualifier)
                and not ALIAS_NAME.match(qualifier))):
        raise ValueError(f"{arn!r} is not a function's ARN; {usage}")
    return Destination("function", parts[6], qualifier)


@dataclass(frozen=True)
class RouteSpec:
    """An HTTP method set and path pattern on the gateway that targets a function, alias or version."""

    path: str  # the whole path on the gateway (a project's ``prefix`` included)
    function: str
    methods: frozenset[str] | None = None  # None: any method
    qualifier: str | None = None  # an alias name or a version number; None: $LATEST
    site: str = ""  # the project that declared it (``SiteSpec.name``): its hosts, header rules and CORS apply
    strip_prefix: str = ""  # leading static segments the function does not see ("/v1": /v1/a arrives as /a)
    # Header-based routing: the route matches only requests that have each (lower-case name, exact value);
    # among routes for the same path, one with more conditions is tried first.
    match_headers: tuple[tuple[str, str], ...] = ()
    cors: CorsSpec | None = None  # this route's own CORS, instead of its project's
    cors_off: bool = False  # ``cors = false``: the gateway leaves CORS to the function on this route
    asynchronous: bool = False  # ``async = true``: the request is stored as an asynchronous event, answered 202
    auth: RouteAuth | None = None  # ``auth = "token" | "jwt"``: the gateway checks the caller first; None: open

    @property
    def target(self) -> str:
        """``function``, ``function:alias`` or ``function:version``, as the manifest spells it."""
        return f"{self.function}:{self.qualifier}" if self.qualifier else self.function

    def route_key(self, method: str) -> str:
        """API Gateway's ``routeKey`` for a request with ``method`` that matched this route."""
        return f"ANY {self.path}" if self.methods is None else f"{method} {self.path}"


AUTH_KINDS = ("none", "token", "jwt")


@dataclass(frozen=True)
class RouteAuth:
    """What a route requires of a caller (``auth = "token" | "jwt"`` on a ``[[routes]]`` entry; see
    ``gateway/auth.py``). It names where secrets come from, never holds one: the manifest and the state store keep
    only these references, resolved by the gateway from the platform's environment when it builds its routes, or
    from the secrets store (``*_secret``) at each request."""

    kind: str  # "token" or "jwt"
    token_env: str = ""  # token: the platform's environment variable holding the bearer token
    token_secret: str = ""  # token: the stored secret (``hearth secret set``) holding it, instead of token_env
    jwks_url: str = ""  # jwt: the issuer's key set (JSON Web Key Set), fetched and cached
    jwt_key: str = ""  # jwt: a PEM public key (RSA or EC), inline: public keys are not secrets
    jwt_secret_env: str = ""  # jwt: the platform's environment variable holding an HS256/384/512 secret
    jwt_hmac_secret: str = ""  # jwt: the stored secret holding that HMAC secret, instead of jwt_secret_env
    issuer: str = ""  # the ``iss`` a token must carry; "" checks none
    audience: tuple[str, ...] = ()  # ``aud`` (or ``client_id`` when there is no ``aud``) must be one of these
    algorithms: tuple[str, ...] = ()  # allowed signing algorithms; () the default for the key's kind
    scopes: tuple[str, ...] = ()  # a token must carry at least one of these in ``scope``/``scp`` (else 403)


@dataclass(frozen=True)
class ResponseHeaders:
    """Headers the gateway sets on every response whose request path matches ``source`` (Vercel's ``headers``).

    ``source`` is a path pattern (see ``gateway/policy.py``): route syntax (``/users/{id}``, ``/static/{file+}``)
    plus globs (``*`` within one segment, ``**`` for any number of segments; no leading ``/``: at any depth).
    """

    source: str
    headers: Mapping[str, str]  # lower-case name → value, in manifest order


@dataclass(frozen=True)
class CorsSpec:
    """The gateway's CORS configuration (API Gateway HTTP API's ``CorsConfiguration``); ``*`` means any."""

    allow_origins: tuple[str, ...]  # "*" or lower-case "scheme://host[:port]"
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()  # lower-case
    expose_headers: tuple[str, ...] = ()  # lower-case
    max_age: int | None = None  # seconds a browser may cache a preflight answer; None: no header
    allow_credentials: bool = False


@dataclass(frozen=True)
class SiteSpec:
    """A project's place on the gateway: the hosts it answers, the prefix its routes live under, and the header
    rules and CORS of its responses. Several projects share one gateway; a request goes to the project whose
    ``hosts`` name its ``Host`` (exactly, or ``*.example.com`` for any subdomain), else to the projects that name
    no host (their routes share one table)."""

    name: str  # the project's name (``[gateway] name``, else its folder's); "" for state from before projects
    hosts: tuple[str, ...] = ()  # lower-case host names without a port; "*.example.com" patterns
    prefix: str = ""  # "/v1": the project's routes, header rules and 404s live under it
    headers: tuple[ResponseHeaders, ...] = ()  # in manifest order: a later rule wins for the same header
    cors: CorsSpec | None = None
    vercel: VercelSpec | None = None  # a Vercel project's routing and static files, served before its routes


# --- Vercel routing (vercel.json), applied by gateway/rewrites.py ------------------------------------------------

CONDITION_TYPES = ("header", "cookie", "query", "host")


@dataclass(frozen=True)
class RouteCondition:
    """One ``has`` or ``missing`` item of a Vercel rule: a request header, cookie, query parameter, or the host.

    ``value`` is a regular expression the whole value must match (its named groups become parameters of the
    destination); None asks only that the item is present (its value then becomes the parameter ``key``).
    """

    type: str  # one of CONDITION_TYPES
    key: str = ""  # the header (lower-case), cookie or query parameter name; "" for host
    value: str | None = None


@dataclass(frozen=True)
class RewriteRule:
    """vercel.json ``rewrites``: serve ``destination`` for paths matching ``source``; the URL does not change."""

    source: str  # a path-to-regexp pattern: /users/:id, /blog/:path*, /(.*)
    destination: str  # an internal path (with :params, $1 and a query), or an external URL
    has: tuple[RouteCondition, ...] = ()
    missing: tuple[RouteCondition, ...] = ()
    status: int | None = None  # ``statusCode``: the status of the response served


@dataclass(frozen=True)
class RedirectRule:
    """vercel.json ``redirects``: answer paths matching ``source`` with ``status`` and a ``Location``."""

    source: str
    destination: str
    status: int = 308  # ``permanent`` true → 308, false → 307; or ``statusCode``
    has: tuple[RouteCondition, ...] = ()
    missing: tuple[RouteCondition, ...] = ()


@dataclass(frozen=True)
class HeadersRule:
    """vercel.json ``headers``: response headers for paths matching ``source`` (values may use its :params)."""

    source: str
    headers: tuple[tuple[str, str], ...]  # (name, value) in file order; names as written
    has: tuple[RouteCondition, ...] = ()
    missing: tuple[RouteCondition, ...] = ()


@dataclass(frozen=True)
class LegacyRoute:
    """One entry of vercel.json's legacy ``routes`` array: a regular expression ``src`` and what to do on a match,
    or (``handle``) the start of a phase such as ``filesystem``."""

    src: str = ""  # a regular expression, anchored with ^…$ as Vercel anchors it
    dest: str | None = None  # with $1, $name substitutions; a query is allowed; an absolute URL proxies
    headers: tuple[tuple[str, str], ...] = ()
    status: int | None = None
    methods: frozenset[str] | None = None  # None: any method
    continue_: bool = False  # ``continue``: apply headers/dest and keep matching the routes after this one
    check: bool = False  # with ``dest``: go on matching when nothing serves the destination
    case_sensitive: bool = False
    has: tuple[RouteCondition, ...] = ()
    missing: tuple[RouteCondition, ...] = ()
    handle: str | None = None  # "filesystem"; when set, the other fields are empty


@dataclass(frozen=True)
class VercelRouting:
    """A project's Vercel routing, in the order Vercel applies it (see ``gateway/rewrites.py``)."""

    redirects: tuple[RedirectRule, ...] = ()
    headers: tuple[HeadersRule, ...] = ()
    rewrites: tuple[RewriteRule, ...] = ()
    routes: tuple[LegacyRoute, ...] = ()  # never together with the four keys above and below (Vercel refuses)
    clean_urls: bool = False
    trailing_slash: bool | None = None  # True: add one, False: remove it, None: leave paths as they come

    @property
    def empty(self) -> bool:
        return self == VercelRouting()


@dataclass(frozen=True)
class VercelSpec:
    """What a Vercel project adds to its site: ``vercel.json``'s routing, its static files, and the file behind each
    of its function paths (``/api/user.py`` reaches ``/api/user``, as on Vercel). The gateway applies it before the
    route table (``gateway/vercel_site.py``)."""

    routing: VercelRouting = VercelRouting()
    static_dir: Path | None = None  # public/, outputDirectory or the project root; None: no static files
    static_is_root: bool = False  # the static files are the project root's: its code and dependencies stay hidden
    files: tuple[tuple[str, str], ...] = ()  # (route path, handler file) of each function route, in route order
    code_sha256: str = ""  # the deployed package ``static_dir`` is in ("" for a live folder), kept while in use


@dataclass(frozen=True)
class Project:
    """Everything one project folder declares."""

    root: Path
    functions: Mapping[str, FunctionSpec]
    routes: tuple[RouteSpec, ...]
    manifest: Path  # hearth.toml, or vercel.json for a Vercel layout (which may lack one)
    aliases: tuple[AliasSpec, ...] = ()
    provisioned: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (function, qualifier) → instances
    headers: tuple[ResponseHeaders, ...] = ()  # in manifest order: a later rule wins for the same header
    cors: CorsSpec | None = None
    layout: str = "hearth"  # "hearth" (hearth.toml) or "vercel" (api/ and vercel.json)
    routing: VercelRouting = VercelRouting()  # vercel.json's rewrites, redirects, headers, routes, …
    static_dir: Path | None = None  # served as static files (Vercel: public/, outputDirectory or the root)
    schedules: tuple[ScheduleSpec, ...] = ()  # named within the project (the catalog qualifies them)
    event_source_mappings: tuple[EventSourceMappingSpec, ...] = ()  # the catalog gives them their UUIDs
    name: str = ""  # ``[gateway] name``, else the folder's name; names its ``SiteSpec``
    hosts: tuple[str, ...] = ()  # ``[gateway] hosts``
    prefix: str = ""  # ``[gateway] prefix`` (the routes' paths already include it)
    event_invoke_configs: tuple[EventInvokeConfig, ...] = ()  # ``[functions.NAME.async]``: each function's $LATEST
    queues: tuple[QueueSpec, ...] = ()  # ``[queues.NAME]`` (the catalog sets their ``site``)

    @property
    def site(self) -> SiteSpec:
        """The project's place on the gateway."""
        vercel = None
        if self.layout == "vercel":
            handlers = {name: spec.handler for name, spec in self.functions.items()}
            static_is_root = self.static_dir is not None and self.static_dir.resolve() == self.root.resolve()
            vercel = VercelSpec(self.routing, self.static_dir, static_is_root,
                                tuple((route.path, handlers[route.function]) for route in self.routes
                                      if route.function in handlers))
        return SiteSpec(self.name, self.hosts, self.prefix, self.headers, self.cors, vercel)


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
    trace_id: str | None = None  # the X-Ray form (``Root=1-…;Parent=…;Sampled=…``) of the invocation's trace
    alias: str | None = None  # the alias the caller named (the version that ran is ``version``)
    log_times: tuple[float, ...] = ()  # when each of ``log_lines`` was read (epoch seconds), when known

    @property
    def cold(self) -> bool:
        return self.init_ms is not None
