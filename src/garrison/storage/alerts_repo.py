"""SQL store of alerts: every change is audited in its own transaction.

``add`` inserts the alert and appends its ``raise-alert`` audit event (actor
``system``) in one transaction; ``acknowledge`` does the same with an
``acknowledge-alert`` event by the acknowledging principal. Alerts are never
deleted.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from dataclasses import replace

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from garrison.audit import SYSTEM_ACTOR, AuditDraft
from garrison.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from garrison.serving.alerts import AlertRecord
from garrison.storage.store import Store
from garrison.storage.tables_alerts import alerts
from garrison.types import parse_utc, utc_iso

__all__ = ["ACK_ACTION", "MAX_LIST", "RAISE_ACTION", "SQLAlertStore"]

#: Audit event names (kebab-case verb-noun).
RAISE_ACTION = "raise-alert"
ACK_ACTION = "acknowledge-alert"
#: Most alerts one ``list`` call returns.
MAX_LIST = 10_000


def _record(row: object) -> AlertRecord:
    r = row._mapping  # type: ignore[attr-defined]
    return AlertRecord(
        id=r["id"], kind=r["kind"], caller=r["caller"], severity=r["severity"],
        detail=json.loads(r["detail"]), created=r["created"], acknowledged=r["acknowledged"],
        acknowledged_by=r["acknowledged_by"],
    )


def _since(value: str | dt.datetime) -> str:
    try:
        return utc_iso(value if isinstance(value, dt.datetime) else parse_utc(value))
    except ValueError as exc:
        raise InvalidInput(f"not an ISO-8601 time: {value!r}") from exc


class SQLAlertStore:
    """Implements ``garrison.serving.alerts.AlertStore`` on a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, record: AlertRecord) -> None:
        detail = json.dumps(dict(record.detail), sort_keys=True, ensure_ascii=False)
        with self._store.write() as tx:
            try:
                tx.conn.execute(insert(alerts).values(
                    id=record.id, kind=record.kind, caller=record.caller,
                    severity=record.severity, detail=detail, created=record.created,
                    acknowledged=record.acknowledged, acknowledged_by=record.acknowledged_by,
                ))
            except IntegrityError as exc:
                raise AlreadyExists("an alert with that id exists", alert_id=record.id) from exc
            tx.audit.append(AuditDraft(
                action=RAISE_ACTION, actor=SYSTEM_ACTOR, resource=record.resource,
                reason=record.kind,
                payload={"kind": record.kind, "caller": record.caller,
                         "severity": record.severity, "detail": dict(record.detail),
                         "created": record.created},
            ))

    def get(self, alert_id: str) -> AlertRecord:
        with self._store.read() as tx:
            row = tx.conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound("no such alert", alert_id=alert_id)
        return _record(row)

    def list(
        self, kind: str | None = None, caller: str | None = None,
        since: str | dt.datetime | None = None, limit: int = 100, *, open_only: bool = False,
    ) -> builtins.list[AlertRecord]:
        """Alerts, newest first, filtered by kind, caller, time and acknowledgement."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
        stmt = select(alerts).order_by(alerts.c.created.desc(), alerts.c.id.desc()).limit(limit)
        if kind is not None:
            stmt = stmt.where(alerts.c.kind == kind)
        if caller is not None:
            stmt = stmt.where(alerts.c.caller == caller)
        if since is not None:
            stmt = stmt.where(alerts.c.created >= _since(since))
        if open_only:
            stmt = stmt.where(alerts.c.acknowledged.is_(None))
        with self._store.read() as tx:
            return [_record(r) for r in tx.conn.execute(stmt)]

    def acknowledge(self, alert_id: str, actor: str, *, when: str | None = None) -> AlertRecord:
        """Mark the alert handled; a second acknowledgement is a :class:`Conflict`."""
        moment = when or utc_iso(self._store.clock.now())
        with self._store.write() as tx:
            row = tx.conn.execute(
                select(alerts).where(alerts.c.id == alert_id).with_for_update()
            ).first()
            if row is None:
                raise NotFound("no such alert", alert_id=alert_id)
            current = _record(row)
            if current.acknowledged is not None:
                raise Conflict(
                    f"alert already acknowledged by {current.acknowledged_by}",
                    alert_id=alert_id,
                )
            tx.conn.execute(update(alerts).where(alerts.c.id == alert_id)
                            .values(acknowledged=moment, acknowledged_by=actor[:128]))
            tx.audit.append(AuditDraft(
                action=ACK_ACTION, actor=actor, resource=current.resource, reason=current.kind,
                payload={"kind": current.kind, "caller": current.caller,
                         "severity": current.severity},
            ))
        return replace(current, acknowledged=moment, acknowledged_by=actor[:128])
