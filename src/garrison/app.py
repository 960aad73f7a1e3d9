"""The composition root: the only place that names concrete classes.

``build_services(settings)`` wires storage, keys and workflows for an initialized
home; ``initialize(settings, admin)`` creates one. The CLI, the admin API and the
gateway all call the same services built here.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import delete, insert, select

from garrison.audit import AuditDraft, Checkpoint, redact
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
from garrison.signing import Keyring, MasterKeys
from garrison.storage import LocalArtifactStore, Store, is_sqlite
from garrison.storage.alerts_repo import SQLAlertStore
from garrison.storage.artifacts import BlobCache, SealedArtifactStore
from garrison.storage.datasets_repo import SQLDatasetStore, SQLLineageStore
from garrison.storage.tables import meta
from garrison.types import Clock, SystemClock

__all__ = [
    "Services",
    "artifact_store",
    "build_services",
    "check_key_set",
    "configure_logging",
    "create_key_set",
    "initialize",
    "read_witness",
    "upgrade_database",
]


@dataclass
class Services:
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
    registry = RegistryService(
        store, artifact_store(settings, _master_keys(settings)), keyring, guard,
        clock, policy=policy, lineage=LineageRecorder(lineage_store),
        promotion_gate=_shadow_gate(store),
    )
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
        pseudonyms=PseudonymizationService(PseudonymKeys(settings.keys_dir), guard),
        alerts=alerts,
        alert_webhook=webhook,
    )


def _alert_webhook(settings: Settings) -> WebhookNotifier | None:
    if settings.alert_webhook_url is None:
        return None
    if settings.alert_webhook_secret is None:
        raise ConfigurationError("alert_webhook_url is set but alert_webhook_secret is not")
    return WebhookNotifier(settings.alert_webhook_url,
                           settings.alert_webhook_secret.get_secret_value().encode("utf-8"))


def _shadow_gate(store: Store) -> Any:
    """Promotion from shadow to production needs the deployment's minimum agreement."""
    from garrison.serving.shadow import ShadowReport, ensure_shadow_gate
    from garrison.storage.gateway_repo import SQLDeploymentStore
    from garrison.storage.shadow_repo import SQLShadowStore

    def gate(version: Any) -> None:
        config = SQLDeploymentStore(store).get(version.name)
        if version.stage != "shadow" or config.shadow_min_agreement is None:
            return
        observations = SQLShadowStore(store).observations(version.name,
                                                          shadow_version=version.version)
        report = ShadowReport.from_observations(observations, model=version.name)
        ensure_shadow_gate(report, min_agreement=config.shadow_min_agreement,
                           min_requests=config.shadow_min_requests, version=version.version)

    return gate


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


def create_key_set(directory: Path) -> list[str]:
    """Write every secret key an installation needs into one new directory (files 0600).

    The layout is flat, as a Kubernetes Secret's keys are: the signing keyring
    (``<id>.pem``, ``active``), the master key (``master-<id>.key``, ``master-active``),
    the decision-input key and the two pseudonymization keys. Point both key_dir and
    signing_key_dir at the mounted Secret. Returns the file names (never the keys).
    """
    from garrison.datasets.pseudonymize import HMAC_KEY_FILE, SIV_KEY_FILE
    from garrison.serving.decisions import INPUT_KEY_FILE
    from garrison.signing import ACTIVE_MASTER_FILE, create_key_file, write_private_file

    if directory.exists() and any(directory.iterdir()):
        raise AlreadyInitialized(f"{directory} is not empty; keys are never overwritten")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    Keyring.create(directory)
    master = MasterKeys.load_or_create(directory)
    write_private_file(directory / ACTIVE_MASTER_FILE, master.active.encode())
    for name, size in ((INPUT_KEY_FILE, 32), (HMAC_KEY_FILE, 32), (SIV_KEY_FILE, 64)):
        create_key_file(directory / name, size)
    return sorted(p.name for p in directory.iterdir())


def check_key_set(settings: Settings) -> list[str]:
    """Load every key file as a replica would, creating nothing; raise on the first fault.

    Returns a line per key (its id or size, never its bytes).
    """
    from garrison.datasets.pseudonymize import HMAC_KEY_FILE, SIV_KEY_FILE
    from garrison.serving.decisions import INPUT_KEY_FILE
    from garrison.signing import read_key_file

    keyring = Keyring.load(settings.signing_keys)
    lines = [f"signing keys {', '.join(keyring.key_ids())}; active {keyring.active_id}"]
    if settings.master_key is None:
        if not any(settings.keys_dir.glob("master-*.key")):
            raise ConfigurationError(f"no master key (master-*.key) in {settings.keys_dir}")
        master = MasterKeys.load_or_create(settings.keys_dir)
        lines.append(f"master keys {', '.join(sorted(master.keys))}; active {master.active}")
    for name, size in ((INPUT_KEY_FILE, 32), (HMAC_KEY_FILE, 32), (SIV_KEY_FILE, 64)):
        read_key_file(settings.keys_dir / name, size=size)
        lines.append(f"{name}: {size} bytes")
    return lines


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


def _mask_secrets(_logger: object, _name: str, event: dict[str, object]) -> dict[str, object]:
    return redact(event)


def configure_logging(settings: Settings) -> None:
    """structlog to stderr, JSON or console, with secrets redacted from every event."""
    level = getattr(logging, settings.log_level.upper())
    renderer = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def upgrade_database(settings: Settings) -> str | None:
    """Apply migrations (``garrison db upgrade``); returns the new revision.

    Needs only the database URL, so a migration Job mounts no key.
    """
    from garrison.storage.migrate import upgrade_url

    return upgrade_url(settings.database)


def limit_native_threads(threads: int) -> None:
    """Cap the threads of BLAS / OpenMP pools (numpy, scipy, scikit-learn) in this process.

    A BLAS pool sized to every core spins after each matrix product: with one worker
    per core that is CPU burnt for nothing (measured: ~25% of the gateway's CPU).
    """
    import scipy.linalg  # noqa: F401 - scipy and scikit-learn bring their own pools:
    import sklearn.utils  # noqa: F401 - load them so that the limit reaches them too.
    from threadpoolctl import threadpool_limits

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)  # Pools that load later read these.
    threadpool_limits(threads)


def gateway_app() -> Any:
    """The uvicorn factory of ``garrison serve`` (``garrison.app:gateway_app``).

    Each worker process reads the settings from its environment, builds its own
    services and loads every served model before it reports ready.
    """
    from garrison.config import load_settings
    from garrison.gateway.server import build_gateway
    from garrison.storage.gateway_repo import SQLDecisionStore, SQLDeploymentStore
    from garrison.storage.shadow_repo import SQLShadowStore

    settings = load_settings()
    configure_logging(settings)
    limit_native_threads(settings.native_threads)
    from garrison.gateway.protocol import GuardedHttpToolsProtocol

    GuardedHttpToolsProtocol.configure(header_timeout=settings.header_timeout,
                                       max_header_bytes=settings.max_header_bytes)
    services = build_services(settings)
    app, _ = build_gateway(services, settings, deployments=SQLDeploymentStore(services.store),
                           decisions=SQLDecisionStore(services.store),
                           shadows=SQLShadowStore(services.store))
    return app
