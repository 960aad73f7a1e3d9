"""The services: storage, keys and workflows wired for one initialized home.

``build_services(settings)`` returns the :class:`Services` every adapter goes
through; ``initialize(settings, admin)`` creates a home; ``upgrade_database`` and
``database_revisions`` serve ``garrison db``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from garrison.audit import AuditDraft, AuditQuery, Checkpoint
from garrison.config import Settings
from garrison.errors import AlreadyInitialized, ConfigurationError, IntegrityFailure
from garrison.gates.enforce import ReleaseGateCheck, ShadowAgreementCheck
from garrison.gates.overrides import OverrideDesk
from garrison.gates.review import review_checks
from garrison.gates.sandbox import SubprocessGateRunner
from garrison.gates.service import GateService, gate_at_registration
from garrison.gateway.webhook import WebhookNotifier
from garrison.governance import (
    AccountService,
    AuditService,
    Guard,
    LoginThrottle,
    NewKey,
    SessionService,
)
from garrison.governance.state import StateAudit
from garrison.identity import Principal
from garrison.lineage import LineageRecorder
from garrison.registry import ApprovalDesk, ModelLoader, Provenance, RegistryService
from garrison.scanning import DEFAULT_POLICY, ScanPolicy
from garrison.serving.alerts import AlertService
from garrison.serving.decision_service import DECISION_INPUTS_PURPOSE, DecisionService
from garrison.serving.deployment_service import DeploymentService
from garrison.serving.monitoring import MonitoringService
from garrison.serving.shadow_service import ShadowService
from garrison.serving.smoke import SubprocessProbe
from garrison.signing import Keyring, MasterKeys, ModelSigningKey, TrustedSigners
from garrison.storage import LocalArtifactStore, Store, is_sqlite, make_engine
from garrison.storage.alerts_repo import SQLAlertStore
from garrison.storage.artifacts import BlobCache, SealedArtifactStore
from garrison.storage.datasets_repo import SQLLineageStore
from garrison.storage.decisions_repo import SQLDecisionStore
from garrison.storage.gates_repo import SQLGateStore
from garrison.storage.migrate import current_revision, head_revision
from garrison.storage.monitoring_repo import SQLMonitoringStore
from garrison.storage.shadow_repo import SQLShadowStore
from garrison.storage.tables import meta
from garrison.types import Clock, SystemClock

if TYPE_CHECKING:  # pandas and pyarrow come with these: built on first use.
    from garrison.datasets import DatasetService, PseudonymizationService, PseudonymKeys

__all__ = [
    "Services",
    "artifact_store",
    "build_services",
    "database_revisions",
    "initialize",
    "read_witness",
    "upgrade_database",
]


@dataclass
class Services:
    """Every workflow of one installation. Adapters use these, never ``store``: it is
    here for the composition root (and tests that set an installation up).

    ``datasets`` and ``pseudonyms`` are built on first use: they bring pandas and
    pyarrow, which most commands never need.
    """

    settings: Settings
    clock: Clock
    keyring: Keyring
    store: Store
    guard: Guard
    accounts: AccountService
    audit: AuditService
    registry: RegistryService
    loader: ModelLoader
    alerts: AlertService
    approvals: ApprovalDesk
    sessions: SessionService
    monitoring: MonitoringService
    deployments: DeploymentService
    shadows: ShadowService
    decisions: DecisionService
    gates: GateService
    gate_overrides: OverrideDesk
    alert_webhook: WebhookNotifier | None = None

    @cached_property
    def state(self) -> StateAudit:
        """Governance state reconciled with the signed audit trail (``audit state``)."""
        return StateAudit(self.store, self.guard,
                          {"principals and keys": self.accounts,
                           "model stages": self.registry.lifecycle.seals,
                           "deployments": self.deployments},
                          verify_chain=self.audit.verify_unaudited)

    @cached_property
    def datasets(self) -> DatasetService:
        from garrison.datasets import DatasetService
        from garrison.storage.datasets_repo import SQLDatasetStore

        return DatasetService(SQLDatasetStore(self.store), SQLLineageStore(self.store),
                              self.guard, self.clock)

    @cached_property
    def pseudonyms(self) -> PseudonymizationService:
        from garrison.datasets import PseudonymizationService

        return PseudonymizationService(_pseudonym_keys(self.settings), self.guard)

    def close(self) -> None:
        self.alerts.close()  # Delivers what is queued (at most a few seconds), then stops.
        self.store.dispose()


def read_witness(path: Path) -> list[Checkpoint]:
    """Checkpoints mirrored to the witness file (missing file: none)."""
    if not path.is_file():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Checkpoint.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityFailure(f"witness file line {number} is malformed") from exc
    return out


def _signing_dir(settings: Settings) -> Path:
    return settings.signing_keys


def _make_store(settings: Settings, keyring: Keyring, clock: Clock) -> Store:
    return Store(
        settings.database, signer=keyring, clock=clock,
        checkpoint_every=settings.audit_checkpoint_every, witness=settings.witness_file,
    )


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    keyring = Keyring.load(_signing_dir(settings))
    store = _make_store(settings, keyring, clock)
    if is_sqlite(store.engine) and store.revision() is None:
        raise ConfigurationError("this home has no database yet; run `garrison init`")
    store.ensure_current()
    guard = Guard(store)
    policy = _scan_policy(settings, store, guard)
    lineage_store = SQLLineageStore(store)
    deployments = DeploymentService(store, guard, clock)
    shadows = ShadowService(SQLShadowStore(store), deployments, guard)
    registry = RegistryService(
        store, artifact_store(settings, _master_keys(settings)), keyring, guard,
        clock, servability=SubprocessProbe(settings.smoke_test_timeout), policy=policy,
        lineage=LineageRecorder(lineage_store), promotion_gate=shadows.ensure_gate,
        provenance=_provenance(settings),
    )
    webhook = _alert_webhook(settings)
    alerts = AlertService(SQLAlertStore(store), notifier=webhook, clock=clock)
    store.on_tamper = _tamper_alarm(alerts)
    # State changed outside Garrison (SQL) is refused where it would grant power: alarm.
    registry.lifecycle.seals.on_tamper = deployments.on_tamper = _tamper_alarm(alerts)
    registry.on_download = _download_monitor(alerts, clock)
    deployments.fallback_check = lambda actor, name, version: registry.ensure_servable(
        actor, name, version, purpose="fallback")
    gates, overrides = _gates(settings, store, registry, keyring, guard, clock, shadows,
                              alerts)
    accounts = AccountService(store, guard, clock,
                              allow_never_expiring_keys=settings.allow_never_expiring_keys)
    accounts.on_tamper = _tamper_alarm(alerts)
    deployments.serving_events = lambda name: store.query(AuditQuery(
        action="serve-model-version", resource=f"model:{name}", newest_first=True, limit=50))
    sessions = SessionService(
        store, guard, accounts, clock, idle_timeout=settings.console_idle_minutes * 60.0,
        lifetime=settings.console_session_hours * 3600.0,
        throttle=LoginThrottle(max_failures=settings.console_login_failures,
                               window=settings.console_login_window, clock=clock))
    return Services(
        settings=settings,
        clock=clock,
        keyring=keyring,
        store=store,
        guard=guard,
        accounts=accounts,
        audit=AuditService(store, guard, witness=lambda: read_witness(settings.witness_file)),
        registry=registry,
        loader=ModelLoader(registry, guard),
        alerts=alerts,
        approvals=ApprovalDesk(registry, guard, check_events=lambda resource: store.query(
            AuditQuery(action="check-model-version", resource=resource, newest_first=True,
                       limit=20)), gate_checks=review_checks(gates)),
        sessions=sessions,
        monitoring=MonitoringService(SQLMonitoringStore(store), alerts, guard, clock),
        deployments=deployments,
        shadows=shadows,
        decisions=DecisionService(
            SQLDecisionStore(store), guard,
            input_hasher=lambda: _pseudonym_keys(settings).hasher(
                DECISION_INPUTS_PURPOSE).hexdigest),
        gates=gates,
        gate_overrides=overrides,
        alert_webhook=webhook,
    )


def _gates(settings: Settings, store: Store, registry: RegistryService, keyring: Keyring,
           guard: Guard, clock: Clock, shadows: ShadowService, alerts: AlertService,
           ) -> tuple[GateService, OverrideDesk]:
    """The release gates, appended to the registry's pre-transition checks; a gate run
    follows each registration of a model that has a gate policy."""
    from garrison.storage.datasets_repo import SQLDatasetStore

    datasets = SQLDatasetStore(store)

    def dataset(name: str, number: int) -> Any:
        with datasets.read() as tx:
            return tx.datasets.get(name, number)

    gate_store = SQLGateStore(store)
    gates = GateService(gate_store, registry, keyring, guard, clock,
                        datasets=dataset,
                        runner=SubprocessGateRunner(settings.gate_timeout,
                                                    settings.gate_memory_mb),
                        on_tamper=_tamper_alarm(alerts))
    overrides = OverrideDesk(gates, gate_store, keyring, guard, clock)
    registry.checks.append(ReleaseGateCheck(gates, overrides, require=settings.require_gates))
    registry.checks.append(ShadowAgreementCheck(
        shadows, gates, default_min_agreement=settings.gate_shadow_min_agreement,
        require=settings.require_gates))
    registry.on_registered = gate_at_registration(gates)
    return gates, overrides


def _tamper_alarm(alerts: AlertService) -> Any:
    """Tampering found and handled by the core or storage becomes a high alert."""
    logger = logging.getLogger("garrison.tamper")

    def alarm(kind: str, detail: dict[str, Any]) -> None:
        logger.error("tampering detected: %s", kind)
        alerts.raise_kind(kind, str(detail.get("resource", "audit")), "high", detail)

    return alarm


def _provenance(settings: Settings) -> Provenance:
    """Garrison's OpenSSF model-signing key (created on first use) and the trusted signers."""
    trusted = TrustedSigners.from_files(settings.model_signing_trusted_keys,
                                        identity=settings.model_signing_identity or "",
                                        issuer=settings.model_signing_oidc_issuer or "")
    return Provenance(ModelSigningKey.load_or_create(settings.model_signing_keys),
                      trusted, require_signature=settings.require_model_signature)


def _pseudonym_keys(settings: Settings) -> PseudonymKeys:
    from garrison.datasets import PseudonymKeys

    return PseudonymKeys(settings.keys_dir)


def _download_monitor(alerts: AlertService, clock: Clock) -> Any:
    """Model-theft monitoring of downloads; the detector (scipy) is built on first use."""
    monitor: list[Any] = []

    def observe(actor: str) -> None:
        if not monitor:
            from garrison.detection import AccessMonitor

            monitor.append(AccessMonitor(clock=clock))
        alerts.raise_all(monitor[0].observe_download(actor))

    return observe


def _alert_webhook(settings: Settings) -> WebhookNotifier | None:
    if settings.alert_webhook_url is None:
        return None
    if settings.alert_webhook_secret is None:
        raise ConfigurationError("alert_webhook_url is set but alert_webhook_secret is not")
    return WebhookNotifier(settings.alert_webhook_url,
                           settings.alert_webhook_secret.get_secret_value().encode("utf-8"))


def artifact_store(settings: Settings, keys: MasterKeys) -> SealedArtifactStore:
    """The sealed artifact store on the configured backend (local directory or S3)."""
    if settings.artifact_store == "s3":
        from garrison.storage.s3 import S3BlobStore

        assert settings.s3_bucket is not None  # Settings refuse s3 without a bucket.
        blobs = S3BlobStore(
            settings.s3_bucket, prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
            addressing_style=settings.s3_addressing_style, ca_bundle=settings.s3_ca_bundle,
            credentials_file=settings.s3_credentials_file)
        cache = BlobCache(settings.artifact_cache, settings.artifact_cache_max_bytes)
        return SealedArtifactStore(blobs, keys, cache=cache)
    return LocalArtifactStore(settings.artifacts, keys)


def _master_keys(settings: Settings) -> MasterKeys:
    if settings.master_key is not None:
        return MasterKeys.from_base64(settings.master_key.get_secret_value())
    return MasterKeys.load_or_create(settings.keys_dir)


def _scan_policy(settings: Settings, store: Store, guard: Guard) -> ScanPolicy:
    """The configured allow-list extension; a change since the last start is audited."""
    entries = sorted(set(settings.scan_allow))
    policy = DEFAULT_POLICY.with_allowed(*entries) if entries else DEFAULT_POLICY
    current = json.dumps(entries)
    if (store.get_meta("scan-allow") or "[]") != current:
        with store.write() as tx:
            # Every gateway worker starts with the same settings: the first one records the
            # change, the others find it done. Serialized on the audit lock (SQLite's
            # BEGIN IMMEDIATE already is), then read again inside the transaction.
            if tx.conn.dialect.name != "sqlite":
                tx.conn.execute(select(meta.c.value).where(meta.c.key == "audit-lock")
                                .with_for_update())
            recorded = tx.conn.execute(select(meta.c.value).where(
                meta.c.key == "scan-allow")).scalar()
            if (recorded or "[]") == current:
                return policy
            tx.conn.execute(delete(meta).where(meta.c.key == "scan-allow"))
            tx.conn.execute(insert(meta).values(key="scan-allow", value=current))
            tx.audit.append(AuditDraft(
                action="extend-scan-allowlist", actor="system", resource="scanner",
                payload={"entries": entries, "previous": json.loads(recorded or "[]")},
            ))
    return policy


def initialize(
    settings: Settings, admin: str = "admin", *, clock: Clock | None = None,
    key_days: int | None = 90,
) -> tuple[Services, Principal, NewKey]:
    """Create the home (0700), the signing keyring (0600 files), the schema and the first admin."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    signing = _signing_dir(settings)
    if (signing / "active").exists():
        keyring = Keyring.load(signing)
    else:
        settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(settings.keys_dir, 0o700)
        keyring = Keyring.create(signing)
    store = _make_store(settings, keyring, clock or SystemClock())
    store.upgrade()
    store.dispose()
    services = build_services(settings, clock=clock)
    try:
        principal, key = services.accounts.bootstrap_admin(admin, key_days=key_days)
    except AlreadyInitialized:
        services.close()
        raise
    # Born sealed: every power-granting row is sealed as it is written, so there is
    # nothing to adopt, and no later start or upgrade ever seals unsigned rows.
    services.state.adopt(fresh=True)
    # The genesis checkpoint: the first events signed into the witness file. From now on
    # an empty or restarted chain is detected (`truncated`, `rewritten`) and refused.
    services.store.checkpoint()
    return services, principal, key


def upgrade_database(settings: Settings) -> str | None:
    """Apply migrations (``garrison db upgrade``); returns the new revision.

    Migrating needs only the database URL, so a migration Job mounts no key; it is safe
    when several run at once (an advisory lock on PostgreSQL, ``storage/migrations/env.py``).
    When the signing keys are at hand, an installation made before genesis checkpoints
    existed also gets one now, so that a wipe of its audit trail is detected from here on,
    and one made before state seals has its governance state sealed, once (without keys
    those steps wait for an upgrade run with them; until then unsealed state is refused).
    """
    from garrison.storage.migrate import upgrade_url

    revision = upgrade_url(settings.database)
    if not (_signing_dir(settings) / "active").exists():
        return revision
    store = _make_store(settings, Keyring.load(_signing_dir(settings)), SystemClock())
    try:
        if store.head() is not None and not read_witness(settings.witness_file):
            store.checkpoint()
        revision = store.revision()
        initialized = store.head() is not None
    finally:
        store.dispose()
    if initialized:
        # An installation made before state seals: seal its current state, once, over a
        # chain that verifies (the governance state is trusted as it stands now).
        services = build_services(settings)
        try:
            services.state.adopt()
        finally:
            services.close()
    return revision


def database_revisions(settings: Settings) -> tuple[str | None, str]:
    """The database's revision and the newest one this release knows (``garrison db
    current``); needs no keys, so it works on a home that is not initialized."""
    engine = make_engine(settings.database)
    try:
        return current_revision(engine), head_revision()
    finally:
        engine.dispose()
