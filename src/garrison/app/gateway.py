"""The gateway, wired: ``garrison serve`` -> uvicorn workers -> :func:`gateway_app`.

Each worker process builds its own services (database pool, keyring), loads and
verifies every served model, and only then reports ready. A background task
reloads the model table when the registry or a deployment config changes (a
rollback takes effect within ``refresh_interval``). Shutdown drains in-flight
requests (uvicorn's graceful shutdown) and flushes decision records.

Only wiring lives here: what a request goes through is in ``garrison.serving`` (the
data plane, the model table, shadow traffic), how HTTP carries it in
``garrison.gateway``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette

from garrison.app.process import configure_logging, limit_native_threads
from garrison.app.services import Services, build_services
from garrison.audit import AuditDraft
from garrison.config import Settings
from garrison.detection import AccessMonitor
from garrison.errors import ConfigurationError, InvalidInput
from garrison.gateway.alert_metrics import AlertMetricsCollector
from garrison.gateway.app import GatewayState, create_gateway_app
from garrison.gateway.auth import CREDENTIAL_ACTIONS, OIDC_PREFIX, Authenticator
from garrison.gateway.metrics import (
    PrometheusTelemetry,
    multiprocess_dir,
    prepare_multiprocess,
    worker_exited,
)
from garrison.gateway.protocol import GuardedHttpToolsProtocol, tls_files
from garrison.gateway.shutdown import GracefulShutdown, InFlightCounter
from garrison.gateway.tracing import make_tracer
from garrison.gateway.watch import Watch
from garrison.identity import validate_roles
from garrison.serving.availability import ModelState, ModelTable, retry_delay
from garrison.serving.dataplane import DataPlane, DenialAuditor
from garrison.serving.decision_log import DecisionLog
from garrison.serving.decisions import BatchWriter
from garrison.serving.encrypted import EncryptedPlane
from garrison.serving.limits import ConcurrencyLimiter, LimitPolicy, MemoryRateLimiter, RateLimiter
from garrison.serving.resilience import BoundedExecutor
from garrison.serving.shadowing import ShadowTraffic
from garrison.serving.table import TableBuilder, drift_profile
from garrison.serving.traffic import TrafficRecorder
from garrison.types import utc_iso

__all__ = ["build_gateway", "gateway_app", "gateway_openapi", "serve_gateway"]

log = logging.getLogger("garrison.gateway")


def _limiter_factory(settings: Settings) -> Callable[[str, LimitPolicy], RateLimiter]:
    """One limiter per (model, policy), whichever version or config asks for it.

    A model's versions (the fallback is callable by version) and a config edit that
    leaves the limits alone must not get a fresh bucket or quota: in memory that would
    reset callers' limits, in Redis it would open another connection pool.
    """
    limiters: dict[tuple[str, LimitPolicy], RateLimiter] = {}
    make: Callable[[str, LimitPolicy], RateLimiter]
    if settings.redis_url is None:
        def make(name: str, policy: LimitPolicy) -> RateLimiter:
            return MemoryRateLimiter(policy)
    else:
        from garrison.gateway.limits_redis import RedisRateLimiter

        url = settings.redis_url.get_secret_value()

        def make(name: str, policy: LimitPolicy) -> RateLimiter:
            return RedisRateLimiter.from_url(url, policy, prefix=f"garrison:limits:{name}")

    def limiter(name: str, policy: LimitPolicy) -> RateLimiter:
        key = (name, policy)
        if key not in limiters:
            limiters[key] = make(name, policy)
        return limiters[key]

    return limiter


def _oidc(settings: Settings) -> Any:
    if not (settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url):
        return None
    from garrison.gateway.oidc import OIDCConfig, OIDCVerifier

    try:
        validate_roles(list(settings.oidc_role_map.values()))
    except InvalidInput as exc:
        raise ConfigurationError(f"oidc_role_map: {exc.message}") from None
    return OIDCVerifier(OIDCConfig(issuer=settings.oidc_issuer, audience=settings.oidc_audience,
                                   jwks_url=settings.oidc_jwks_url, principal_prefix=OIDC_PREFIX,
                                   role_map=dict(settings.oidc_role_map)))


def build_gateway(services: Services, settings: Settings, *, refresh_interval: float = 2.0,
                  span_exporter: Any = None,
                  executor_workers: int = 4) -> tuple[Starlette, GatewayState]:
    """Wire the gateway over ``services``; returns the ASGI app and its state."""
    telemetry = PrometheusTelemetry(multiprocess=multiprocess_dir())
    telemetry.add_collector(AlertMetricsCollector(services.alerts, services.alert_webhook))
    services.decisions.prepare()  # A bad input-key file stops this worker now.

    alert_writer = BatchWriter(services.alerts.raise_all, name="alerts", batch_size=50,
                               on_error=lambda exc: log.error("alert write failed: %s", exc))
    watch = Watch(clock=services.clock, drift_window=settings.drift_window,
                  drift_sample=settings.drift_sample,
                  drift_profile=functools.partial(drift_profile, services.registry),
                  alerts=services.alerts, raise_alert=alert_writer.submit,
                  count=telemetry.rejected, drift_history=services.monitoring.record_drift)
    # Requests, rejections and fallbacks per model and minute, kept for the console's
    # charts; the Prometheus counters behind it are unchanged.
    traffic = TrafficRecorder(services.monitoring.record_traffic, inner=telemetry)
    # Denials (already rate-limited per actor and reason) are appended off the event loop.
    audit_writer = BatchWriter(services.guard.record_many, name="audit", linger=0.02,
                               on_error=lambda exc: log.error("audit write failed: %s", exc))
    denials = DenialAuditor(audit_writer.submit, services.clock)
    # Each batch is one transaction and one signed audit event: let batches fill (at
    # 1,000 requests/s about 300 records) by lingering up to 0.3 s before each write; a
    # full batch is written at once, so the rate is never capped by the linger. Every
    # record is numbered and every loss counted and alerted (serving/decision_log.py).

    def decisions_lost(count: int, reason: str) -> None:
        services.alerts.raise_kind("decision-records-lost", f"decisions:{writer.writer}",
                                   "high", {"count": count, "reason": reason,
                                            "writer": writer.writer})

    writer = DecisionLog(services.decisions, window=settings.decision_window,
                         lease=settings.decision_lease, linger=0.3, batch_size=2_000,
                         on_loss=decisions_lost)
    defaults = LimitPolicy(rate=settings.rate_limit, burst=settings.rate_burst,
                           daily_quota=settings.daily_quota)
    builder = TableBuilder(services.registry, services.loader, services.deployments,
                           _limiter_factory(settings), max_body_bytes=settings.max_body_bytes,
                           max_rows=settings.max_batch_rows, defaults=defaults,
                           retry_base=max(refresh_interval, 1.0),
                           on_change=_state_reporter(services, telemetry, audit_writer.submit),
                           now=lambda: utc_iso(services.clock.now()))
    executor = BoundedExecutor(executor_workers, max_pending=settings.max_concurrency)
    shadow = ShadowTraffic(
        services.shadows.record, services.clock,
        on_agreement=lambda model, value: telemetry.shadow_agreement.labels(model).set(value))
    plane = DataPlane(
        ModelTable(), executor=executor,
        concurrency=ConcurrencyLimiter(settings.max_concurrency),
        denials=denials, decisions=writer.submit, clock=services.clock,
        timeout=settings.request_timeout, telemetry=traffic,
        shadow=shadow, observe=watch.submit,
    )
    auth_monitor = AccessMonitor(clock=services.clock)

    def auth_failed(client: str) -> None:
        """Repeated authentication failures from one address raise an alert."""
        for alert in auth_monitor.observe_auth_failure(f"ip:{client or 'unknown'}"):
            alert_writer.submit(alert)

    state = GatewayState(plane, Authenticator(services.accounts, denials, oidc=_oidc(settings),
                                              on_failure=auth_failed),
                         telemetry, services.decisions, max_body_bytes=settings.max_body_bytes,
                         body_timeout=settings.body_timeout,
                         hsts=settings.tls_cert_file is not None)
    state.encrypted = EncryptedPlane(plane)
    state.tracer = make_tracer(settings.otel_endpoint, exporter=span_exporter)

    credentials = {"epoch": 0}  # The newest audited account change seen.
    started = {"log": False}

    def accounts_changed() -> bool:
        epoch = services.audit.latest_seq(CREDENTIAL_ACTIONS)
        changed, credentials["epoch"] = epoch != credentials["epoch"], epoch
        return changed

    def load() -> None:
        if not started["log"]:
            writer.start()  # Durably, before the first answer: every answer is numbered.
            started["log"] = True
        plane.table = builder.build()
        state.ready = True

    async def refresh() -> None:
        failures = 0
        while True:
            await asyncio.sleep(retry_delay(failures, refresh_interval) if failures
                                else refresh_interval)
            try:
                if await asyncio.to_thread(accounts_changed):
                    state.authenticator.forget()  # A revoked key stops within the interval.
                if builder.retry_due() or \
                        await asyncio.to_thread(builder.current_signature) != builder.signature:
                    await asyncio.to_thread(load)
                    log.info("model table reloaded")
                for name, serving in plane.table.entries.items():
                    telemetry.breaker_open.labels(name).set(
                        1 if serving.primary.breaker.state.value == "open" else 0)
                if failures:
                    log.warning("model table refresh works again after %d failures", failures)
                failures = 0
            except Exception as exc:
                failures += 1
                log.exception("model table refresh failed (%d in a row; next try in %.0f s); "
                              "the models loaded before keep serving", failures,
                              retry_delay(failures, refresh_interval))
                if failures in (1, 10):
                    await asyncio.to_thread(_alert, services, "gateway-refresh-failed",
                                            "gateway", {"failures": failures,
                                                        "error": type(exc).__name__})

    shutdown = GracefulShutdown(state, delay=settings.shutdown_delay)
    telemetry.track_in_flight(shutdown)

    async def sample() -> None:
        shed = GuardedHttpToolsProtocol.shed
        while True:  # Multiprocess metrics: this worker's state into the shared gauges.
            if GuardedHttpToolsProtocol.shed > shed:  # Shed before the app saw them.
                telemetry.shed_at_accept(GuardedHttpToolsProtocol.shed - shed)
                shed = GuardedHttpToolsProtocol.shed
            telemetry.sample()
            await asyncio.sleep(1.0)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        began = time.monotonic()
        await asyncio.to_thread(load)  # Before uvicorn listens: never serve unverified.
        problems = plane.table.problems()
        log.info("gateway worker %s ready in %.1f s: %d models serve, %d cannot%s",
                 os.getpid(), time.monotonic() - began, len(plane.table.entries),
                 len(problems), f" ({', '.join(sorted(problems))})" if problems else "")
        task = asyncio.create_task(refresh())
        sampler = asyncio.create_task(sample())
        grpc_server = await _start_grpc(state, settings)
        shutdown.install()  # SIGTERM: fail readiness, keep serving, then drain.
        try:
            yield
        finally:
            shutdown.uninstall()
            if grpc_server is not None:
                await grpc_server.stop(grace=5.0)  # Lets in-flight calls finish.
            task.cancel()
            sampler.cancel()
            worker_exited(os.getpid())
            writer.close()
            audit_writer.close()
            watch.close()
            alert_writer.close()
            shadow.close()
            traffic.close()
            executor.shutdown(wait=False)

    telemetry.track_dropped_decisions(writer)
    telemetry.watch_queues({"decisions": writer, "watch": watch.writer, "alerts": alert_writer,
                            "audit": audit_writer, "shadow": shadow.mirror})
    app = create_gateway_app(state)
    app.router.lifespan_context = lifespan
    app.add_middleware(InFlightCounter, shutdown=shutdown)
    state.background.extend([writer, builder, executor, shadow.mirror, audit_writer, watch,
                             traffic])
    return app, state


def _alert(services: Services, kind: str, subject: str, detail: dict[str, Any]) -> None:
    """Raise a high alert; a failure to store it (the database is down) is logged."""
    try:
        services.alerts.raise_kind(kind, subject, "high", detail)
    except Exception:
        log.exception("alert %s for %s not stored", kind, subject)


def _state_reporter(services: Services, telemetry: PrometheusTelemetry,
                    audit: Callable[[AuditDraft], None],
                    ) -> Callable[[ModelState, ModelState | None], None]:
    """Each change of a served version's state: logged, audited (``serve-model-version``,
    resource ``model:NAME``), exported (``garrison_model_ready``) and, when a version
    stops serving, alerted (``model-not-served``)."""
    pid = os.getpid()

    def report(state: ModelState, previous: ModelState | None) -> None:
        telemetry.model_ready(state.name, state.role, state.ready)
        payload = {"version": state.version, "role": state.role, "worker": pid}
        if state.ready:
            log.info("model %s:%s serves as %s", state.name, state.version, state.role)
            audit(AuditDraft(action="serve-model-version", actor="system",
                             resource=f"model:{state.name}", payload=payload))
            return
        log.error("model %s:%s cannot serve as %s (%s: %s); other models keep serving; "
                  "next try in %.0f s", state.name, state.version, state.role, state.code,
                  state.message, state.retry_in or 0)
        audit(AuditDraft(action="serve-model-version", actor="system", outcome="failed",
                         resource=f"model:{state.name}", reason=state.code,
                         payload={**payload, "message": state.message}))
        _alert(services, "model-not-served", f"model:{state.name}",
               {**payload, "code": state.code, "message": state.message})

    return report


async def _start_grpc(state: GatewayState, settings: Settings) -> Any:
    """The OIP v2 gRPC service on ``settings.grpc_port`` over the same state, or None."""
    if settings.grpc_port is None:
        return None
    from garrison.gateway.grpc_server import start_grpc_server

    tls = None
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        tls = (settings.tls_cert_file, settings.tls_key_file)
    return await start_grpc_server(state, host=settings.host, port=settings.grpc_port,
                                   max_message_bytes=settings.max_body_bytes, tls=tls)


def gateway_app() -> Starlette:
    """The uvicorn factory of ``garrison serve`` (``garrison.app:gateway_app``).

    Each worker process reads the settings from its environment, builds its own
    services and loads every served model before it reports ready.
    """
    from garrison.config import load_settings

    settings = load_settings()
    configure_logging(settings, stdlib=True)
    limit_native_threads(settings.native_threads)
    GuardedHttpToolsProtocol.configure(header_timeout=settings.header_timeout,
                                       max_header_bytes=settings.max_header_bytes,
                                       max_in_flight=settings.max_concurrency,
                                       max_queue_wait=settings.max_queue_wait)
    app, _ = build_gateway(build_services(settings), settings)
    return app


def serve_gateway(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Run ``workers`` gateway processes until stopped.

    SIGTERM fails readiness, keeps serving ``shutdown_delay`` seconds, drains the
    requests in flight for up to ``drain_timeout`` seconds, then flushes decision
    records and audit events (``garrison.gateway.shutdown``).

    A TLS key that others can read, or half a certificate pair, is refused before any
    worker starts.
    """
    import uvicorn

    tls: dict[str, Any] = dict(tls_files(settings.tls_cert_file, settings.tls_key_file))
    options: dict[str, Any] = dict(
        factory=True, host=host, port=port, workers=workers, loop="uvloop",
        http=GuardedHttpToolsProtocol, access_log=False, timeout_keep_alive=5,
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout),
        timeout_worker_healthcheck=settings.worker_healthcheck_timeout,
        limit_concurrency=settings.max_concurrency * 4,
        server_header=False, date_header=True, log_level=settings.log_level, **tls)
    if workers == 1:
        uvicorn.run("garrison.app:gateway_app", **options)
        return
    from garrison.app.workers import GatewaySupervisor

    configure_logging(settings, stdlib=True)  # The supervisor says why a worker died.

    # Every worker's metrics into one directory, summed at each scrape (the workers
    # inherit the setting; an operator's own directory is emptied first).
    own = os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or \
        tempfile.mkdtemp(prefix="garrison-metrics-")
    prepare_multiprocess(directory)
    config = uvicorn.Config("garrison.app:gateway_app", **options)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            GatewaySupervisor(config, sockets=[config.bind_socket()]).run()
    finally:
        if own:
            shutil.rmtree(directory, ignore_errors=True)


def gateway_openapi() -> dict[str, Any]:
    """The OpenAPI document the gateway serves (rendered into the docs by ``make docs``)."""
    from garrison.gateway.openapi import openapi_document

    return openapi_document()
