"""The services: storage, keys and workflows wired for one initialized home.

``build_services(settings)`` returns the :class:`Services` every adapter goes
through; ``initialize(settings, admin)`` creates a home; ``upgrade_database`` and
``database_revisions`` serve ``garrison db``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select

from garrison.audit import AuditDraft, Checkpoint
from garrison.config import Settings
from garrison.datasets import DatasetService, PseudonymizationService, PseudonymKeys
from garrison.detection import AccessMonitor
from garrison.errors import AlreadyInitialized, ConfigurationError, IntegrityFailure
from garrison.gateway.webhook import WebhookNotifier
from garrison.governance import AccountService, AuditService, Guard, NewKey
from garrison.identity import Principal
from garrison.lineage import LineageRecorder
from garrison.registry import ModelLoader, RegistryService
from garrison.scanning import DEFAULT_POLICY, ScanPolicy
from garrison.serving.alerts import AlertService
from garrison.serving.decision_service import DECISION_INPUTS_PURPOSE, DecisionService
from garrison.serving.deployment_service import DeploymentService
from garrison.serving.shadow_service import ShadowService
from garrison.signing import Keyring, MasterKeys
from garrison.storage import LocalArtifactStore, Store, is_sqlite, make_engine
from garrison.storage.alerts_repo import SQLAlertStore
from garrison.storage.artifacts import BlobCache, SealedArtifactStore
from garrison.storage.datasets_repo import SQLDatasetStore, SQLLineageStore
from garrison.storage.decisions_repo import SQLDecisionStore
from garrison.storage.migrate import current_revision, head_revision
from garrison.storage.shadow_repo import SQLShadowStore
from garrison.storage.tables import meta
from garrison.types import Clock, SystemClock

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
    here for the composition root (and tests that set an installation up)."""

    settings: Settings
    clock: Clock
    keyring: Keyring
    store: Store
    guard: Guard
    accounts: AccountService
    audit: AuditService
    registry: RegistryService
    loader: ModelLoader
    datasets: DatasetService
    pseudonyms: PseudonymizationService
    alerts: AlertService
    deployments: DeploymentService
    shadows: ShadowService
    decisions: DecisionService
    alert_webhook: WebhookNotifier | None = None

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
    deployments = DeploymentService(store, guard, clock)  # type: ignore[arg-type]
    shadows = ShadowService(SQLShadowStore(store), deployments, guard)
    registry = RegistryService(
        store, artifact_store(settings, _master_keys(settings)), keyring, guard,
        clock, policy=policy, lineage=LineageRecorder(lineage_store),
        promotion_gate=shadows.ensure_gate,
    )
    pseudonym_keys = PseudonymKeys(settings.keys_dir)
    webhook = _alert_webhook(settings)
    alerts = AlertService(SQLAlertStore(store), notifier=webhook, clock=clock)
    downloads = AccessMonitor(clock=clock)
    registry.on_download = lambda actor: alerts.raise_all(downloads.observe_download(actor))
    return Services(
        settings=settings,
        clock=clock,
        keyring=keyring,
        store=store,
        guard=guard,
        accounts=AccountService(store, guard, clock),
        audit=AuditService(store, guard, witness=lambda: read_witness(settings.witness_file)),
        registry=registry,
        loader=ModelLoader(registry, guard),
        datasets=DatasetService(SQLDatasetStore(store), lineage_store, guard, clock),
        pseudonyms=PseudonymizationService(pseudonym_keys, guard),
        alerts=alerts,
        deployments=deployments,
        shadows=shadows,
        decisions=DecisionService(
            SQLDecisionStore(store), guard,
            input_hasher=lambda: pseudonym_keys.hasher(DECISION_INPUTS_PURPOSE).hexdigest),
        alert_webhook=webhook,
    )


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
    return services, principal, key


def upgrade_database(settings: Settings) -> str | None:
    """Apply migrations (``garrison db upgrade``); returns the new revision.

    Needs only the database URL, so a migration Job mounts no key. Safe when several
    run at once (an advisory lock on PostgreSQL, ``storage/migrations/env.py``).
    """
    from garrison.storage.migrate import upgrade_url

    return upgrade_url(settings.database)


def database_revisions(settings: Settings) -> tuple[str | None, str]:
    """The database's revision and the newest one this release knows (``garrison db
    current``); needs no keys, so it works on a home that is not initialized."""
    engine = make_engine(settings.database)
    try:
        return current_revision(engine), head_revision()
    finally:
        engine.dispose()
