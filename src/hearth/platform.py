"""The platform: the pools that run the catalog's functions, the runtime that feeds them, and their records.

Both HTTP surfaces (gateway and control API) and, later, the triggers call ``Platform.invoke``; nothing else
reaches a pool. There is one pool per function version (``$LATEST``, ``1``, ``2``, …), created on first use;
the catalog tells the platform when a function changed, and the platform re-syncs that function's pools:
configuration, reserved and provisioned concurrency, deleted versions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from hearth import errors
from hearth.api.auth import new_credentials
from hearth.billing.idle import IdleMonitor
from hearth.billing.meter import Held, Meter
from hearth.billing.prices import PriceTable
from hearth.billing.store import MeterStore
from hearth.catalog import Catalog
from hearth.config.include import LiveViews
from hearth.config.settings import Settings
from hearth.gateway.auth import Authorization, StoredSecrets
from hearth.gateway.sites import SiteMap
from hearth.model import HTTP_RUNTIME, LATEST, FunctionSpec, runtime_family
from hearth.pool.concurrency import Concurrency
from hearth.pool.instance import InvokeRequest, Runtime
from hearth.pool.limits import InstanceLimits, detect_limits
from hearth.pool.pool import FunctionPool, Invocation, RecordSink
from hearth.runtimes.http.pool import ServerPool
from hearth.runtimes.http.runtime import HttpRuntime
from hearth.runtimes.lambda_api.runtime import ProvidedRuntime
from hearth.runtimes.python.runtime import PythonRuntime
from hearth.secrets import MasterKey, Vault
from hearth.secrets.inject import Injector
from hearth.store.events import EventStore
from hearth.store.sqlite_events import SqliteEvents
from hearth.telemetry.drains import Drain, open_drain
from hearth.telemetry.logstore import LogStore
from hearth.telemetry.metrics import Metrics
from hearth.telemetry.records import RecordLog
from hearth.triggers.async_invoke import AsyncInvoker
from hearth.triggers.queue_poller import QueuePollers
from hearth.triggers.queues import QueueService
from hearth.triggers.scheduler import Scheduler

REAP_INTERVAL_S = 0.25


class Platform:
    """Runs the catalog's functions with Lambda semantics."""

    def __init__(self, catalog: Catalog, settings: Settings, records: RecordLog | None = None,
                 events: EventStore | None = None, meter: MeterStore | None = None, *,
                 clock: Callable[[], float] = time.time, vault: Vault | None = None) -> None:
        self.settings = settings
        self.records = records or RecordLog()
        self.catalog = catalog
        # Secrets (``hearth serve``: sealed with the data folder's key; else with a key that dies with the process,
        # as the in-memory store does), revealed to instances as they start, and to routes' auth at each request.
        self.vault = vault or Vault(catalog.store, MasterKey.ephemeral())
        self.route_secrets = StoredSecrets(self.vault.value)
        self.vault.listeners.append(self.route_secrets.forget)  # set or removed: the routes read it again
        # Routes' auth: secrets from the environment or the secrets store, cached key sets.
        self.authorization = Authorization(settings.route_secrets, stored=self.route_secrets)
        self.sites = SiteMap(catalog.routes, catalog.sites, self.authorization)  # routes, policies, by host
        self.pools: dict[tuple[str, str], FunctionPool | ServerPool] = {}  # ServerPool: ``http`` functions
        self._scratch_pools: set[FunctionPool] = set()  # power tuning's temporary versions (scratch_pool)
        self.concurrency = Concurrency(settings.concurrency_limit)
        self.limiter: InstanceLimits | None = None  # memory and CPU share of every instance
        self.runtime: PythonRuntime | None = None  # the zygote's owner: it also starts the other runtimes' processes
        self.runtimes: dict[str, Runtime] = {}  # by family: python, provided, http
        self.http: HttpRuntime | None = None
        self._scratch = Path(tempfile.mkdtemp(prefix="hearth-"))
        self.views = LiveViews(self._scratch / "views")  # live functions that include folders run from one
        # Asynchronous invocations, kept in ``events`` (``hearth serve``: in its data folder; else a scratch file).
        self.events = events or SqliteEvents(self._scratch / "events.db")
        self.async_invoker = AsyncInvoker(self, self.events, retry_delay_s=settings.async_retry_delay_s)
        self.scheduler = Scheduler(catalog, self.events)
        self.queues = QueueService(catalog, self.events)
        self.pollers = QueuePollers(self, self.events)  # event source mappings: queues feeding functions
        # Every record and instance output, kept on disk for ``hearth logs`` (the sink only enqueues).
        self.logs = LogStore(settings.log_dir or self._scratch / "logs", retention_s=settings.log_retention_s,
                             max_bytes=settings.log_max_bytes)
        # Log drains (``--log-drain``): sinks that only enqueue; their tasks start with the platform.
        self.drains: list[Drain] = [open_drain(url, settings.log_drain_secret, settings.log_drain_buffer)
                                    for url in settings.log_drains]
        self.metrics = Metrics(self)  # after the log store and the drains: it reports their drops
        # Usage per function version and hour (``hearth serve``: meter.db in its data folder; else a scratch file).
        self.meter = Meter(meter or MeterStore(self._scratch / "meter.db"), flush_s=settings.meter_flush_s,
                           held=self._provisioned_held)
        self.records.sinks.append(self.meter.observe)
        self.records.sinks.append(self.metrics.observe)
        # Functions without invocations: listed by `hearth idle`, disabled after auto_disable_after_days; ``clock`` is
        # the wall time it decides by (tests move it).
        self.idle = IdleMonitor(self, after_days=settings.auto_disable_after_days,
                                interval_s=settings.idle_check_interval_s, clock=clock)
        self.records.sinks.append(self.logs.append)
        self.records.sinks.extend(self.drains)
        self._reaper: asyncio.Task[None] | None = None
        self.gateway_url: str | None = None  # set once the gateway listens
        # Set before start() when the control API's socket is bound: functions get it as HEARTH_SQS_ENDPOINT.
        self.control_url: str | None = None
        # What functions sign their SQS calls with (as Lambda hands a function its role's keys): good for the SQS
        # API only, and only as long as this process runs.
        self.function_credentials = new_credentials(frozenset({"sqs"}))
        self.vault.listeners.append(self._secret_changed)
        self.secrets = Injector(self.vault, self._scratch / "secrets")
        catalog.listeners.append(self._changed)

    async def start(self) -> None:
        """Detect the host's limits, start the zygote and bring every function's pools in line."""
        self.limiter = detect_limits(self.settings.memory_enforcement, self.settings.cpu_follows_memory,
                                     self.settings.instance_user)
        self.secrets.owner_of = self.limiter.identity.of
        if self.limiter.identity.area is not None:  # where every instance's identity can reach its own folder
            self.secrets.folder = self.limiter.identity.area / "secrets"
        self.logs.start()
        for drain in self.drains:
            drain.start()
        base_env = dict(self.settings.base_env)
        if self.control_url is not None:
            base_env["HEARTH_SQS_ENDPOINT"] = self.control_url  # boto3.client("sqs", endpoint_url=…)
            base_env["AWS_ENDPOINT_URL_SQS"] = self.control_url  # or plain boto3.client("sqs") (botocore ≥ 1.31)
        base_env["AWS_ACCESS_KEY_ID"] = self.function_credentials.access_key_id
        base_env["AWS_SECRET_ACCESS_KEY"] = self.function_credentials.secret_access_key
        self.runtime = PythonRuntime(self.limiter, base_env, python=self.settings.python,
                                     pycache_root=self._scratch / "pycache")
        self.runtime.secret_env = self.secrets.environment
        self.runtimes["python"] = self.runtime
        self.runtimes["provided"] = ProvidedRuntime(self.runtime)
        self.runtimes[HTTP_RUNTIME] = self.http = HttpRuntime(self.runtime)  # after python: closed before it
        await self.runtime.ensure_zygote()
        for name in self.catalog.functions:
            self._sync(name)
        self._reaper = asyncio.create_task(self._reap_forever())
        self.meter.start()
        self.idle.start()
        self.async_invoker.start()
        self.scheduler.start()
        self.queues.start()
        self.pollers.start()

    async def invoke(self, function: str, request: InvokeRequest, qualifier: str | None = None,
                     headers: Mapping[str, str] | None = None) -> Invocation:
        """Run one invocation of ``function[:qualifier]`` (an alias picks its version by ``headers`` and weight);
        raises ``ResourceNotFound`` or ``TooManyRequests``."""
        if qualifier is not None and qualifier != LATEST and not qualifier.isdigit():
            request.alias = qualifier
        return await self.run(self.catalog.resolve(function, qualifier, headers), request)

    def run(self, spec: FunctionSpec, request: InvokeRequest) -> Coroutine[Any, Any, Invocation]:
        """Run one invocation of the version ``spec`` (already resolved, e.g. by the gateway): the pool's
        invocation to await (no coroutine of its own: this is on every request's path); raises
        ``FunctionDisabled`` for a disabled function."""
        if spec.name in self.catalog.disabled:
            raise self.catalog.disabled_error(spec.name)
        pool = self.pools.get((spec.name, spec.version))
        if pool is None:
            pool = self._pool(spec)
        return pool.invoke(request)

    def server(self, spec: FunctionSpec) -> ServerPool:
        """The pool of an ``http`` function version, which the gateway proxies requests to; raises
        ``FunctionDisabled`` for a disabled function."""
        if spec.name in self.catalog.disabled:
            raise self.catalog.disabled_error(spec.name)
        pool = self.pools.get((spec.name, spec.version))
        if pool is None:
            pool = self._pool(spec)
        assert isinstance(pool, ServerPool), f"{spec.name} does not run an HTTP server"
        return pool

    def _runnable(self, spec: FunctionSpec) -> FunctionSpec:
        """``spec`` as its instances run it: a live function that includes folders runs from a view of its project
        that has them (config/include.py); everything else as it is."""
        if not spec.include or spec.code_sha256:
            return spec
        return dataclasses.replace(spec, code_dir=self.views.code_dir(spec))

    def _pool(self, spec: FunctionSpec) -> FunctionPool | ServerPool:
        assert self.runtime is not None, "the platform has not started"
        spec = self._runnable(spec)
        if runtime_family(spec.runtime) == HTTP_RUNTIME and self.http is not None:
            server = self.pools[(spec.name, spec.version)] = self.http.pool(spec, self.concurrency, self.records,
                                                                            self.settings.billing)
            return server
        runtime = self.runtimes.get(runtime_family(spec.runtime) or "")
        if runtime is None:
            raise errors.ServiceError(f"no runtime on this platform runs {spec.runtime!r} (function {spec.name})")
        pool = FunctionPool(spec, runtime, concurrency=self.concurrency, on_record=self.records.add,
                            billing=self.settings.billing)
        self.pools[(spec.name, spec.version)] = pool
        return pool

    def scratch_pool(self, spec: FunctionSpec, on_record: RecordSink) -> FunctionPool:
        """A pool of its own for ``spec``, outside the catalog's (power tuning runs a version at other memory sizes
        in one): nothing routes to it, catalog changes leave it alone, and ``close_scratch_pool`` ends it."""
        assert self.runtime is not None, "the platform has not started"
        spec = self._runnable(spec)
        family = runtime_family(spec.runtime) or ""
        runtime = self.runtimes.get(family)
        if runtime is None or family == HTTP_RUNTIME:
            raise errors.InvalidParameterValue(f"{spec.name} runs {spec.runtime!r}, which takes HTTP requests, not "
                                               "invocations; measure an HTTP server with a load generator instead")
        pool = FunctionPool(spec, runtime, concurrency=self.concurrency, on_record=on_record,
                            billing=self.settings.billing)
        self._scratch_pools.add(pool)
        return pool

    def close_scratch_pool(self, pool: FunctionPool) -> None:
        """Stop a scratch pool's instances (their cgroups go when they have exited)."""
        pool.close()
        self._scratch_pools.discard(pool)

    def _changed(self, function: str | None) -> None:
        self.pollers.sync()  # a mapping, its queue or its function may have changed
        if function is None:
            self.sites = SiteMap(self.catalog.routes, self.catalog.sites, self.authorization)
        elif self.runtime is not None:  # before start() there are no pools to sync
            self._sync(function)

    def _sync(self, name: str) -> None:
        """Bring ``name``'s pools in line with the catalog."""
        record = self.catalog.functions.get(name)
        pools = {version: pool for (function, version), pool in self.pools.items() if function == name}
        if record is None:
            for version, pool in pools.items():
                pool.close()
                del self.pools[(name, version)]
            self._retire(name)  # its sandboxes (isolation = "sandbox"), whose instances were just stopped
            self.concurrency.reserve(name, None)
            return
        self.concurrency.reserve(name, record.reserved)
        latest = pools.get(LATEST)
        if latest is not None and runtime_family(latest.spec.runtime) != runtime_family(record.latest.runtime):
            latest.close()  # another runtime: a pool is bound to one
            del self.pools[(name, LATEST)]
            self._retire(name, LATEST)
        elif latest is not None and latest.spec != self._runnable(record.latest):
            latest.update(self._runnable(record.latest))
        published = self.catalog.versions.get(name, {})
        for version, pool in pools.items():
            if version != LATEST and version not in published:
                pool.close()
                del self.pools[(name, version)]
                self._retire(name, version)
        # A disabled function holds no provisioned instances; its settings stay, so enabling brings them back.
        wanted = {} if name in self.catalog.disabled else self.catalog.provisioned_versions(name)
        for version, count in wanted.items():
            pool = self.pools.get((name, version)) or self._pool(published[version])
            pool.set_provisioned(count)
            pool.provision()
        for (function, version), pool in self.pools.items():
            if function == name and version not in wanted and pool.provisioned_target:
                pool.set_provisioned(0)

    def _retire(self, name: str, version: str | None = None) -> None:
        """Pools of ``name`` (one version, or all) closed: their sandboxed zygotes go too."""
        if self.runtime is not None:
            self.runtime.retire(name, version)

    def _secret_changed(self, name: str) -> None:
        """A secret was set or removed: instances that hold its old value are replaced (idle ones now, busy ones
        when their call ends), as after a configuration change."""
        for pool in self.pools.values():
            if name in pool.spec.secrets:
                pool.update(pool.spec)

    def reload(self) -> None:
        """The live project folder changed (``hearth dev``): later invocations run its new code on fresh instances."""
        if self.runtime is None:
            return
        self.runtime.code_generation += 1
        self.views.refresh()
        if self.runtime.pycache_root is not None:
            shutil.rmtree(self.runtime.pycache_root / f"g{self.runtime.code_generation - 1}", ignore_errors=True)
        for pool in self.pools.values():
            if pool.spec.code_sha256 == "":  # packaged code never changes under a pool
                pool.update(pool.spec)

    def instances(self) -> list[dict[str, Any]]:
        """Every live instance, for the control API and the tests (``tuning``: of a power tuning run's temporary
        version)."""
        listing = []
        pools = [(pool, False) for pool in self.pools.values()] + [(pool, True) for pool in self._scratch_pools]
        for pool, tuning in pools:
            for instance in pool.live:
                listing.append({"function": pool.spec.name, "version": pool.spec.version, "id": instance.id,
                                "pid": instance.pid, "state": instance.lifecycle.state.value,
                                "generation": instance.generation, "provisioned": instance in pool.provisioned,
                                "memory_mb": pool.spec.memory_mb, "tuning": tuning})
        return listing

    def prices(self, function: str) -> PriceTable:
        """``function``'s prices: the platform's, with its $LATEST's overrides (none once it is deleted)."""
        record = self.catalog.functions.get(function)
        base = self.settings.prices
        return base.overridden(record.latest.price) if record is not None else base

    def _provisioned_held(self) -> list[Held]:
        """What each pool holds in provisioned instances now (the meter bills it per second)."""
        return [Held(name, version, pool.spec.memory_mb, len(pool.provisioned))
                for (name, version), pool in self.pools.items() if pool.provisioned]

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            for pool in list(self.pools.values()):
                pool.reap()
                if pool.provisioned_target:
                    pool.provision()
            if self.secrets.has_files:
                self.secrets.sweep({item["id"] for item in self.instances()})

    async def close(self) -> None:
        """Stop every instance and the zygote, and remove what the platform created."""
        await self.idle.close()
        await self.pollers.close()
        await self.scheduler.close()
        await self.queues.close()
        await self.async_invoker.close()
        await self.events.close()
        if self._reaper is not None:
            self._reaper.cancel()
        for pool in [*self.pools.values(), *self._scratch_pools]:
            pool.close()
        if self.runtime is not None:
            await asyncio.sleep(0)  # let kill reports arrive before the zygote goes
            for runtime in reversed(self.runtimes.values()):  # the Python runtime (the zygote) last
                await runtime.close()
        await self.meter.close()  # after the pools: the last invocations and provisioned seconds are counted
        await asyncio.to_thread(self.logs.close)  # after the pools: the last records are written too
        # Drains flush together, within one deadline: a receiver that is down costs shutdown at most that long.
        await asyncio.gather(*(drain.close() for drain in self.drains))
        shutil.rmtree(self._scratch, ignore_errors=True)
