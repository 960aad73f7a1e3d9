"""The services: storage, keys and workflows wired for one initialized home.

``build_services(settings)`` returns the :class:`Services` every adapter goes
through. Creating and upgrading a home is ``home.py``; the key material and the
sealed artifact store are built by ``keys.py``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from garrison.app.keys import artifact_store, master_keys, provenance, pseudonym_keys
from garrison.audit import AuditDraft, AuditQuery
from garrison.config import Settings
from garrison.errors import ConfigurationError
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
    SessionService,
)
from garrison.governance.state import StateAudit
from garrison.lineage import LineageRecorder
from garrison.registry import ApprovalDesk, ModelLoader, RegistryService
from garrison.registry.scratch import sweep_at_start
from garrison.scanning import DEFAULT_POLICY, ScanPolicy
from garrison.serving.alerts import AlertService
from garrison.serving.decision_service import DECISION_INPUTS_PURPOSE, DecisionService
from garrison.serving.deployment_service import DeploymentService
from garrison.serving.monitoring import MonitoringService
from garrison.serving.shadow_service import ShadowService
from garrison.serving.smoke import SubprocessProbe
from garrison.signing import Keyring
from garrison.storage import Store, is_sqlite
from garrison.storage.alerts_repo import SQLAlertStore
from garrison.storage.audit_log import read_witness
from garrison.storage.datasets_repo import SQLLineageStore
from garrison.storage.decisions_repo import SQLDecisionStore
from garrison.storage.gates_repo import SQLGateStore
from garrison.storage.monitoring_repo import SQLMonitoringStore
from garrison.storage.shadow_repo import SQLShadowStore
from garrison.storage.tables import meta
from garrison.types import Clock, SystemClock

if TYPE_CHECKING:  # pandas and pyarrow come with these: built on first use.
    from garrison.datasets import DatasetService, PseudonymizationService

__all__ = ["Services", "build_services", "make_store"]


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

        return PseudonymizationService(pseudonym_keys(self.settings), self.guard)

    def close(self) -> None:
        self.alerts.close()  # Delivers what is queued (at most a few seconds), then stops.
        self.store.dispose()


def make_store(settings: Settings, keyring: Keyring, clock: Clock) -> Store:
    return Store(
        settings.database, signer=keyring, clock=clock,
        checkpoint_every=settings.audit_checkpoint_every, witness=settings.witness_file,
    )


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    keyring = Keyring.load(settings.signing_keys)
    store = make_store(settings, keyring, clock)
    if is_sqlite(store.engine) and store.revision() is None:
        raise ConfigurationError("this home has no database yet; run `garrison init`")
    store.ensure_current()
    guard = Guard(store)
    sweep_at_start()  # Plaintext copies left by a registration killed with kill -9.
    policy = _scan_policy(settings, store, guard)
    lineage_store = SQLLineageStore(store)
    deployments = DeploymentService(store, guard, clock)
    shadows = ShadowService(SQLShadowStore(store), deployments, guard)
    registry = RegistryService(
        store, artifact_store(settings, master_keys(settings)), keyring, guard,
        clock, servability=SubprocessProbe(settings.smoke_test_timeout), policy=policy,
        lineage=LineageRecorder(lineage_store), promotion_gate=shadows.ensure_gate,
        provenance=provenance(settings),
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
            input_hasher=lambda: pseudonym_keys(settings).hasher(
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


