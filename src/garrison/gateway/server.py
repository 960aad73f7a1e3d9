"""Assemble and run the gateway: ``garrison serve`` -> uvicorn workers -> ``app.gateway_app``.

Each worker process builds its own services (database pool, keyring), loads and
verifies every served model, and only then reports ready. A background task
reloads the model table when the registry or a deployment config changes (a
rollback takes effect within ``refresh_interval``). Shutdown drains in-flight
requests (uvicorn's graceful shutdown) and flushes decision records.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

from garrison.config import Settings
from garrison.detection import AccessMonitor, Profile
from garrison.gateway.alert_metrics import register_alert_metrics
from garrison.gateway.app import GatewayState, create_gateway_app
from garrison.gateway.auth import CREDENTIAL_ACTIONS, Authenticator
from garrison.gateway.loading import TableBuilder
from garrison.gateway.metrics import PrometheusTelemetry
from garrison.gateway.protocol import GuardedHttpToolsProtocol, tls_files
from garrison.gateway.tracing import make_tracer
from garrison.gateway.watch import Watch
from garrison.serving.dataplane import DataPlane, DenialAuditor, ModelTable
from garrison.serving.decisions import INPUT_KEY_FILE, BatchWriter, settle
from garrison.serving.limits import ConcurrencyLimiter, LimitPolicy, MemoryRateLimiter
from garrison.serving.resilience import BoundedExecutor
from garrison.serving.shadow import ShadowMirror, ShadowReport, observe_shadow
from garrison.signing import create_key_file, read_key_file
from garrison.types import utc_iso

__all__ = ["build_gateway", "run"]

log = logging.getLogger("garrison.gateway")


def _limiter_factory(settings: Settings) -> Any:
    """One limiter per (model, policy), whichever version or config asks for it.

    A model's versions (the fallback is callable by version) and a config edit that
    leaves the limits alone must not get a fresh bucket or quota: in memory that would
    reset callers' limits, in Redis it would open another connection pool.
    """
    limiters: dict[tuple[str, LimitPolicy], Any] = {}
    if settings.redis_url is None:
        def make(name: str, policy: LimitPolicy) -> Any:
            return MemoryRateLimiter(policy)
    else:
        from garrison.gateway.limits_redis import RedisRateLimiter

        url = settings.redis_url.get_secret_value()

        def make(name: str, policy: LimitPolicy) -> Any:
            return RedisRateLimiter.from_url(url, policy, prefix=f"garrison:limits:{name}")

    def limiter(name: str, policy: LimitPolicy) -> Any:
        key = (name, policy)
        if key not in limiters:
            limiters[key] = make(name, policy)
        return limiters[key]

    return limiter


def _input_hasher(settings: Settings) -> Any:
    path = settings.keys_dir / INPUT_KEY_FILE
    create_key_file(path, 32)  # Every replica must hash alike: mount it with the other keys.
    key = read_key_file(path, size=32)

    def digest(rows: list[Any]) -> list[str]:
        return [hmac.new(key, json.dumps(r, separators=(",", ":")).encode(),
                         hashlib.sha256).hexdigest() for r in rows]

    return digest


def build_gateway(services: Any, settings: Settings, *, deployments: Any, decisions: Any,
                  shadows: Any = None, refresh_interval: float = 2.0,
                  span_exporter: Any = None,
                  executor_workers: int = 4) -> tuple[Starlette, GatewayState]:
    """Wire the gateway; ``deployments`` and ``decisions`` are the storage adapters."""
    telemetry = PrometheusTelemetry()
    register_alert_metrics(telemetry.registry, services.alerts, services.alert_webhook)

    def drift_profile(deployed: Any) -> Profile:
        """The reference profile plus the model's own outputs on the reference sample, so
        drift in predictions is caught too (falls back to inputs only)."""
        v = deployed.version
        reference = services.registry.reference_frame(v)
        if reference is None:
            return Profile.from_dict(v.metadata.profile)
        names = v.metadata.input_schema.names
        labels = deployed.runtime.predict(reference[names].to_numpy(dtype=float)).labels
        reference = reference[names].assign(prediction=[str(x) for x in labels])
        return Profile.from_frame(reference, outputs=("prediction",))

    alert_writer = BatchWriter(services.alerts.raise_all, name="alerts", batch_size=50,
                               on_error=lambda exc: log.error("alert write failed: %s", exc))
    watch = Watch(clock=services.clock, drift_window=settings.drift_window,
                  drift_profile=drift_profile, alerts=services.alerts,
                  raise_alert=alert_writer.submit, count=telemetry.rejected)

    # Denials (already rate-limited per actor and reason) are appended off the event loop.
    audit_writer = BatchWriter(services.store.append_many, name="audit", linger=0.02,
                               on_error=lambda exc: log.error("audit write failed: %s", exc))
    denials = DenialAuditor(audit_writer.submit, services.clock)
    decision_store = decisions
    # Each batch is one transaction and one signed audit event: let batches fill (at
    # 1,000 requests/s about 300 records) by lingering up to 0.3 s before each write; a
    # full batch is written at once, so the rate is never capped by the linger.
    pseudonymize = _input_hasher(settings)
    writer = BatchWriter(lambda records: decision_store.add_many(settle(records, pseudonymize)),
                         linger=0.3, batch_size=2_000,
                         name="decisions",
                         on_error=lambda exc: log.error("decision write failed: %s", exc))
    defaults = LimitPolicy(rate=settings.rate_limit, burst=settings.rate_burst,
                           daily_quota=settings.daily_quota)
    builder = TableBuilder(services, _limiter_factory(settings), deployments=deployments,
                           max_body_bytes=settings.max_body_bytes,
                           max_rows=settings.max_batch_rows, defaults=defaults)
    oidc = None
    if settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url:
        from garrison.gateway.oidc import OIDCConfig, OIDCVerifier

        oidc = OIDCVerifier(OIDCConfig(issuer=settings.oidc_issuer,
                                       audience=settings.oidc_audience,
                                       jwks_url=settings.oidc_jwks_url))
    executor = BoundedExecutor(executor_workers, max_pending=settings.max_concurrency)
    mirror = None
    if shadows is not None:
        def shadow_sink(batch: list[Any]) -> None:
            shadows.add_many(batch)
            report = ShadowReport.from_observations(batch)
            if report.agreement is not None:
                telemetry.shadow_agreement.labels(batch[0].model).set(report.agreement)

        mirror = ShadowMirror(1.0, shadow_sink, key=os.urandom(16))

    def shadow(result: Any, serving: Any) -> None:
        """Mirror a sampled share of traffic to the shadow version, off the request path."""
        primary, candidate = result.deployed, serving.shadow
        if mirror is None or not mirror.should_mirror(result.request_id,
                                                      primary.config.shadow_fraction):
            return
        X = result.batch.matrix if result.batch.matrix is not None else \
            result.batch.as_columns()
        created = utc_iso(services.clock.now())
        latency = float(result.elapsed_ms)

        def run_shadow() -> tuple[Any, Any]:
            out = candidate.runtime.predict(X)
            return out.labels, out.scores  # observe_shadow makes them plain values

        mirror.submit(lambda: observe_shadow(
            request_id=result.request_id, model=primary.version.name,
            primary_version=result.served_by, shadow_version=candidate.version.version,
            created=created, primary_labels=result.output.labels,
            primary_scores=result.output.scores, primary_latency_ms=latency,
            run_shadow=run_shadow))

    plane = DataPlane(
        ModelTable(), executor=executor,
        concurrency=ConcurrencyLimiter(settings.max_concurrency),
        denials=denials, decisions=writer.submit, clock=services.clock,
        timeout=settings.request_timeout, telemetry=telemetry,
        shadow=shadow, observe=watch.submit,
    )
    auth_monitor = AccessMonitor(clock=services.clock)

    def auth_failed(client: str) -> None:
        """Repeated authentication failures from one address raise an alert."""
        for alert in auth_monitor.observe_auth_failure(f"ip:{client or 'unknown'}"):
            alert_writer.submit(alert)

    state = GatewayState(plane, Authenticator(services.accounts, denials, oidc=oidc,
                                              on_failure=auth_failed),
                         telemetry, decision_store, max_body_bytes=settings.max_body_bytes,
                         body_timeout=settings.body_timeout,
                         hsts=settings.tls_cert_file is not None)
    from garrison.serving.encrypted import EncryptedPlane

    state.encrypted = EncryptedPlane(plane)
    state.tracer = make_tracer(settings.otel_endpoint, exporter=span_exporter)

    credentials = {"epoch": 0}  # The newest audited account change seen.

    def accounts_changed() -> bool:
        epoch = services.store.latest_seq(CREDENTIAL_ACTIONS)
        changed, credentials["epoch"] = epoch != credentials["epoch"], epoch
        return changed

    def load() -> None:
        plane.table = builder.build()
        state.problems = dict(builder.problems)
        state.ready = True
        telemetry.decisions_dropped.set(writer.dropped)

    async def refresh() -> None:
        while True:
            await asyncio.sleep(refresh_interval)
            try:
                if await asyncio.to_thread(accounts_changed):
                    state.authenticator.forget()  # A revoked key stops within the interval.
                if await asyncio.to_thread(builder.current_signature) != builder.signature:
                    await asyncio.to_thread(load)
                    log.info("model table reloaded")
                telemetry.decisions_dropped.set(writer.dropped)
                for name, serving in plane.table.entries.items():
                    telemetry.breaker_open.labels(name).set(
                        1 if serving.primary.breaker.state.value == "open" else 0)
            except Exception:
                log.exception("model table refresh failed")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(load)
        task = asyncio.create_task(refresh())
        try:
            yield
        finally:
            task.cancel()
            writer.close()
            audit_writer.close()
            watch.close()
            alert_writer.close()
            if mirror is not None:
                mirror.close()
            executor.shutdown(wait=False)

    telemetry.watch_queues({"decisions": writer, "watch": watch.writer, "alerts": alert_writer,
                            "audit": audit_writer,
                            **({"shadow": mirror} if mirror is not None else {})})
    app = create_gateway_app(state)
    app.router.lifespan_context = lifespan
    state.background.extend([writer, builder, executor, mirror, audit_writer, watch])
    return app, state


def run(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    tls = tls_files(settings.tls_cert_file, settings.tls_key_file)
    uvicorn.run(
        "garrison.app:gateway_app", factory=True, host=host, port=port,
        workers=workers, loop="uvloop", http=GuardedHttpToolsProtocol, access_log=False,
        timeout_keep_alive=5, timeout_graceful_shutdown=30,
        limit_concurrency=settings.max_concurrency * 4,
        server_header=False, date_header=True, log_level=settings.log_level, **tls,
    )
