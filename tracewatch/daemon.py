"""The daemon: informers -> engine -> sampling -> export queue -> exporter; ops server; shutdown.

One task per informer puts observations on a bounded queue (a full queue
slows the watch streams down rather than dropping what they saw); one task
feeds the engine, which is the only owner of lifecycle state; a ticker lets
engine time pass between observations. Each step's emitted lifecycles are
sampled whole (`export.sampling`), observed by the metrics, and put on the
bounded `ExportQueue`, whose task drives the exporter. `Pipeline.run` returns
after `stop` is set, once what was finished has been flushed within the
flush deadline. `run_daemon` adds the ops server and the signal handling.

Leader election plugs in as an `ExportGate`: a standby replica watches and
reconstructs like the leader (so it can take over warm) but only the replica
whose gate is open queues spans for export; a standby keeps its last
takeover window of spans and queues them when it takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from prometheus_client import CollectorRegistry, Gauge

from tracewatch.config import FIELDS, Settings
from tracewatch.core.clock import SECOND_NS
from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Observation
from tracewatch.core.spans import AttributeValue, SpanRecord
from tracewatch.export.base import SpanExporter
from tracewatch.export.factory import create_exporter
from tracewatch.export.otlp_config import resolve_otlp_config, resource_from_env
from tracewatch.export.queue import ExportQueue, QueueOptions
from tracewatch.export.sampling import SamplingPolicy, sample
from tracewatch.kube.connection import ApiConnection, default_kubeconfig
from tracewatch.kube.leader import (
    LeaderElector,
    LeaseConfig,
    default_identity,
    default_lease_namespace,
)
from tracewatch.kube.sharding import Shard
from tracewatch.kube.watchset import build_informers
from tracewatch.ops import statefile
from tracewatch.ops.health import LoopMonitor
from tracewatch.ops.metrics import Metrics
from tracewatch.ops.server import OpsServer

log = structlog.get_logger(__name__)



class ExportGate(Protocol):
    """Whether this replica exports now; leader election implements it (the leader's is open)."""

    @property
    def exporting(self) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineOptions:
    """Tuning and injected effects; defaults are for production."""

    clock_ns: Callable[[], int] = time.time_ns
    tick_s: float = 0.2
    """How often engine time advances without observations (bounds emission lag)."""
    observation_queue: int = 10_000
    """Observations buffered between the watches and the engine."""
    state_save_interval_s: float = 10.0
    """How often the state file is rewritten (a crash re-emits at most this much)."""
    queue: QueueOptions | None = None
    """Export queue tuning; None: the defaults, bounded by the `export_queue_size` setting."""


class Pipeline:
    """Informers for the watched resources feeding one engine, sampling, and one export queue."""

    def __init__(
        self,
        *,
        settings: Settings,
        connection: ApiConnection,
        exporter: SpanExporter,
        options: PipelineOptions | None = None,
        gate: ExportGate | None = None,
    ) -> None:
        self.options = options or PipelineOptions()
        self.state_file = settings.state_file
        self.engine = engine_for(
            settings, emitted=statefile.load(self.state_file) if self.state_file else ()
        )
        self.exporter = exporter
        self.gate = gate
        self._standby: deque[tuple[int, list[SpanRecord]]] = deque()
        self._standby_window_ns = int(
            (settings.lease_duration + settings.renew_deadline + settings.settle_delay) * SECOND_NS
        )
        self.sampling = sampling_for(settings)
        self.flush_timeout_s = settings.flush_timeout
        self.metrics = Metrics()
        self.queue = ExportQueue(
            exporter=exporter,
            options=self.options.queue or QueueOptions(max_spans=settings.export_queue_size),
            on_export=self.metrics.record_export,
        )
        self.observations: asyncio.Queue[Observation] = asyncio.Queue(
            maxsize=self.options.observation_queue
        )
        self.informers = build_informers(
            connection=connection,
            sink=self.observations.put,
            resources=settings.resources,
            namespaces=settings.namespace,
            label_selector=settings.label_selector,
            shard=Shard(index=settings.shard, total=settings.total_shards),
        )
        state = self.metrics.state
        state.informers, state.queue, state.engine = self.informers, self.queue, self.engine
        state.ready = lambda: self.ready
        self._observed = state.observations
        self.traces_emitted = 0
        self._emitted = asyncio.Condition()

    @property
    def ready(self) -> bool:
        """Every informer has listed once and none is failing authorization."""
        return all(i.has_synced and not i.auth_failing for i in self.informers)

    async def wait_ready(self) -> None:
        """Return once `ready` holds (bound it with asyncio.timeout)."""
        await asyncio.gather(*(i.wait_synced() for i in self.informers))
        while not self.ready:  # synced, but an informer is still refused
            await asyncio.sleep(0.05)

    @property
    def spans_exported(self) -> int:
        return self.queue.stats.exported

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        """`ready` with the informers holding it back (for /readyz)."""
        waiting = [
            {"resource": i.resource.name, "namespace": i.namespace or "*",
             "synced": i.has_synced, "auth_failing": i.auth_failing}
            for i in self.informers
            if not i.has_synced or i.auth_failing
        ]
        return not waiting, {"informers_not_ready": waiting}

    async def wait_for_traces(self, count: int) -> None:
        """Return once at least `count` traces have been emitted by the engine."""
        async with self._emitted:
            await self._emitted.wait_for(lambda: self.traces_emitted >= count)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then stop watching and flush within the deadline."""
        watchers = [asyncio.create_task(i.run(), name=f"informer-{i.resource.name}")
                    for i in self.informers]
        workers = [
            asyncio.create_task(self._consume(), name="engine"),
            asyncio.create_task(self._tick(), name="ticker"),
        ]
        if self.state_file:
            workers.append(asyncio.create_task(self._save_state_periodically(), name="state"))
        self.queue.start()
        try:
            await stop.wait()
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # What was received is folded in; lifecycles that ended are emitted without settling.
            while not self.observations.empty():
                await self._fold(self.observations.get_nowait())
            try:
                drained = self.engine.drain()
            except Exception:  # what the fault left behind is lost; the flush still runs
                self._engine_failed("advances.failed", during="shutdown")
                drained = []
            await self._publish(drained)
            if self.gate is not None and not self.gate.exporting:
                while self._standby:  # a standby leaving: nobody will take these over from it
                    self.queue.discard(self._standby.popleft()[1], reason="standby")
            flushed = await self.queue.flush(timeout_s=self.flush_timeout_s)
            await self.exporter.shutdown()
            self._save_state()
            stats = self.queue.stats
            log.info("pipeline.stopped", traces=self.traces_emitted, flushed=flushed,
                     spans_exported=stats.exported, spans_dropped=sum(stats.dropped.values()),
                     in_progress=self.engine.tracked)

    def _save_state(self) -> None:
        if not self.state_file:
            return
        try:
            statefile.save(self.state_file, self.engine.emitted_lifecycles())
        except OSError as exc:
            log.error("statefile.save_failed", path=self.state_file,
                      error=exc.strerror or str(exc))

    async def _save_state_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.options.state_save_interval_s)
            self._save_state()

    async def _consume(self) -> None:
        while True:
            await self._fold(await self.observations.get())

    async def _fold(self, observation: Observation) -> None:
        self._observed[(observation.resource, observation.change.value)] += 1
        try:
            spans = self.engine.observe(observation)
        except Exception:
            meta = observation.obj.metadata
            self._engine_failed("observations.failed", resource=observation.resource,
                                change=observation.change.value, namespace=meta.namespace,
                                name=meta.name, uid=meta.uid)
            return
        await self._publish(spans)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_s)
            if self.gate is not None and self.gate.exporting:
                self._hand_over()
            elif self.gate is not None:
                self._standby_keep([])  # let what is older than the window go
            try:
                spans = self.engine.advance(self.options.clock_ns())
            except Exception:
                self._engine_failed("advances.failed")
                continue
            await self._publish(spans)

    def _engine_failed(self, counter: str, **context: str) -> None:
        """A fault in the engine must not stop tracing: what raised is skipped and counted
        (tracewatch_engine_counts), and logged with its traceback whenever the count reaches
        a power of two, so a fault hit on every observation cannot flood the log."""
        counters = self.engine.counters
        counters[counter] += 1
        n = counters[counter]
        if n & (n - 1) == 0:
            log.exception("engine.failed", counter=counter, failures=n, **context)

    def _standby_keep(self, spans: list[SpanRecord]) -> None:
        """A standby keeps what it emitted for one takeover window, dropping what is older.

        A leader that dies stops exporting before its Lease expires; what finished in
        between was seen only by the standbys. Keeping the last window and exporting it on
        takeover loses nothing, at the price of duplicates of spans the old leader had
        already sent (same ids, so a backend can tell them apart).
        """
        now = self.options.clock_ns()
        if spans:
            self._standby.append((now, spans))
        horizon = now - self._standby_window_ns
        while self._standby and self._standby[0][0] < horizon:
            _, old = self._standby.popleft()
            self.queue.discard(old, reason="standby")

    def _hand_over(self) -> None:
        """On becoming the exporting replica: queue what was kept while standing by."""
        while self._standby:
            _, spans = self._standby.popleft()
            self.queue.put(spans)

    async def _publish(self, spans: list[SpanRecord]) -> None:
        if not spans:
            return
        sampled = sample(spans, policy=self.sampling)
        self.metrics.observe_emitted(spans, kept_trace_ids=sampled.kept_trace_ids,
                                     sampled_out=sampled.dropped_spans)
        if self.gate is None or self.gate.exporting:
            self._hand_over()
            self.queue.put(sampled.kept)
        else:
            self._standby_keep(sampled.kept)
        roots = sum(1 for s in spans if s.is_root)
        if roots:
            async with self._emitted:
                self.traces_emitted += roots
                self._emitted.notify_all()


_OTLP_OPTIONS = {
    "otlp_endpoint": "endpoint",
    "otlp_protocol": "protocol",
    "otlp_headers": "headers",
    "otlp_timeout": "timeout_s",
    "otlp_ca_file": "ca_file",
    "otlp_insecure": "insecure",
}
_FIELD_DEFAULTS = {f.name: f.default for f in FIELDS}


def engine_for(settings: Settings, *, emitted: Iterable[tuple[str, str]] = ()) -> Engine:
    """The engine these settings describe (the daemon's and replay's, so they agree)."""
    return Engine(
        options=EngineOptions(
            settle_delay_ns=int(settings.settle_delay * SECOND_NS),
            lifecycle_timeout_ns=int(settings.lifecycle_timeout * SECOND_NS),
            backfill_ns=int(settings.backfill * SECOND_NS),
        ),
        emitted=emitted,
    )


def sampling_for(settings: Settings) -> SamplingPolicy:
    """The whole-trace sampling policy these settings describe."""
    return SamplingPolicy(
        ratio=settings.sample_ratio,
        keep_slower_than_ns=int(settings.sample_keep_slower_than * SECOND_NS),
    )


def _given(settings: Settings, name: str) -> bool:
    """Set on purpose (file, environment, flag), as opposed to left at its default."""
    source = settings.sources.get(name)
    if source is not None:
        return source != "default"
    return getattr(settings, name) != _FIELD_DEFAULTS[name]


def exporter_from_settings(
    settings: Settings, *, environ: Mapping[str, str] | None = None
) -> SpanExporter:
    """The exporter the settings name; ValueError/OSError with a one-line reason.

    OTLP options the user did not set fall back to the standard
    `OTEL_EXPORTER_OTLP_*` variables (see `export.otlp_config`).
    """
    environ = os.environ if environ is None else environ
    resource: dict[str, AttributeValue] = dict(resource_from_env(environ))
    if settings.cluster_name:
        resource["k8s.cluster.name"] = settings.cluster_name
    attributes = tuple(resource.items())
    if settings.exporter == "otlp":
        explicit: dict[str, Any] = {
            option: getattr(settings, name)
            for name, option in _OTLP_OPTIONS.items()
            if _given(settings, name)
        }
        if _given(settings, "otlp_compression"):
            explicit["compression"] = settings.otlp_compression == "gzip"
        config = resolve_otlp_config(explicit=explicit, environ=environ)
        return config.create_exporter(resource_attributes=attributes)
    output = settings.output
    stream = None
    if settings.exporter == "jsonl" and output == "-":
        output, stream = None, sys.stdout
    return create_exporter(kind=settings.exporter, output=output, stream=stream,
                           resource_attributes=attributes)


async def connect(settings: Settings) -> ApiConnection:
    """Connect as configured: kubeconfig when one is named or found, else in-cluster."""
    named = settings.kubeconfig or os.environ.get("KUBECONFIG")
    in_pod = os.environ.get("KUBERNETES_SERVICE_HOST")
    if not named and not os.path.exists(default_kubeconfig()) and in_pod:
        return await ApiConnection.from_incluster()
    return await ApiConnection.from_kubeconfig(config_file=named or None, context=settings.context)


async def run_daemon(*, settings: Settings) -> int:
    """`tracewatch run`: watch until SIGTERM/SIGINT, then flush and exit 0.

    A second signal abandons the flush (exit 1). Exit 2: bad configuration or
    credentials; exit 1: the ops address cannot be bound.
    """
    try:
        exporter = exporter_from_settings(settings)
    except (ValueError, OSError) as exc:
        print(f"tracewatch run: error: {exc}", file=sys.stderr)
        return 2
    try:
        connection = await connect(settings)
    except Exception as exc:  # kubernetes_asyncio raises ConfigException and plain errors alike
        print(f"tracewatch run: error: cannot load Kubernetes configuration: {exc}",
              file=sys.stderr)
        await exporter.shutdown()
        return 2
    async with connection:
        elector = leader_elector(settings, connection=connection) if settings.leader_elect else None
        pipeline = Pipeline(settings=settings, connection=connection, exporter=exporter,
                            gate=elector)
        if elector is not None:
            register_leader_metric(pipeline.metrics.registry, elector=elector)
        ops = None
        if settings.ops_address:
            ops = OpsServer(
                address=settings.ops_address,
                registry=pipeline.metrics.registry,
                readiness=pipeline.readiness,
                monitor=LoopMonitor(on_lag=pipeline.metrics.loop_lag.set),
            )
            try:
                await ops.start()
            except OSError as exc:
                print(f"tracewatch run: error: cannot listen on {settings.ops_address!r} "
                      f"(ops_address): {exc.strerror or exc}", file=sys.stderr)
                await exporter.shutdown()
                return 1
        log.info("tracewatch.starting", server=connection.base_url, exporter=settings.exporter,
                 namespaces=list(settings.namespace) or "all")
        campaign = None
        if elector is not None:
            campaign = asyncio.create_task(elector.run(), name="leader-election")
            campaign.add_done_callback(_report_elector_end)
        try:
            return await _run_until_signalled(pipeline)
        finally:
            if campaign is not None:
                # After the flush: the leader kept exporting until now; cancelling releases
                # the Lease so a standby takes over at once.
                campaign.cancel()
                await asyncio.gather(campaign, return_exceptions=True)
            if ops is not None:
                await ops.stop()


def _report_elector_end(task: asyncio.Task[None]) -> None:
    """The elector runs until cancelled; if it ends otherwise this replica would silently
    stay a standby, so say so (and /readyz keeps answering for the informers)."""
    if task.cancelled():
        return
    exc = task.exception()
    log.error("leader.election_stopped", error=repr(exc) if exc else "returned",
              consequence="this replica no longer exports")


def leader_elector(
    settings: Settings, *, connection: ApiConnection, environ: Mapping[str, str] | None = None
) -> LeaderElector:
    """The elector `--leader-elect` asks for: identity $POD_NAME (else hostname_pid), the Lease
    in `lease_namespace` (else $POD_NAMESPACE, the service account's namespace, "default")."""
    config = LeaseConfig(
        namespace=settings.lease_namespace or default_lease_namespace(environ=environ),
        name=settings.lease_name,
        identity=default_identity(environ=environ),
        lease_duration_s=settings.lease_duration,
        renew_deadline_s=settings.renew_deadline,
        retry_period_s=settings.retry_period,
    )
    log.info("leader.campaigning", lease=f"{config.namespace}/{config.name}",
             identity=config.identity)
    return LeaderElector(transport=connection, config=config)


def register_leader_metric(registry: CollectorRegistry, *, elector: ExportGate) -> None:
    """`tracewatch_leader`: 1 while this replica exports (holds the Lease), 0 on standby."""
    Gauge("tracewatch_leader", "1 while this replica holds the leader-election Lease and "
          "exports, 0 while it stands by.", registry=registry).set_function(
        lambda: 1.0 if elector.exporting else 0.0)


async def _run_until_signalled(pipeline: Pipeline) -> int:
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run(stop), name="pipeline")
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("tracewatch.stopping", signal=sig.name)
            stop.set()
        else:
            log.warning("tracewatch.stop_forced", signal=sig.name)
            running.cancel()

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    try:
        await running
    except asyncio.CancelledError:
        if stop.is_set() and not _cancelling():
            return 1  # a second signal cut the flush short
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return 0


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (not just the pipeline task)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
