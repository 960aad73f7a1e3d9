"""SQL stores for deployment configs and decision records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from garrison.audit import AuditDraft
from garrison.errors import DecisionNotFound
from garrison.serving.decisions import DecisionRecord, batch_digest
from garrison.serving.deployment import DeploymentConfig
from garrison.storage.store import Store
from garrison.storage.tables import decisions, deployments

__all__ = ["SQLDecisionStore", "SQLDeploymentStore"]


class SQLDeploymentStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, name: str) -> DeploymentConfig:
        with self._store.read() as tx:
            row = tx.conn.execute(select(deployments.c.config).where(
                deployments.c.name == name)).first()
        return DeploymentConfig() if row is None else DeploymentConfig.from_dict(
            json.loads(row[0]))

    def all(self) -> dict[str, DeploymentConfig]:
        with self._store.read() as tx:
            rows = tx.conn.execute(select(deployments.c.name, deployments.c.config)).all()
        return {r[0]: DeploymentConfig.from_dict(json.loads(r[1])) for r in rows}

    def put(self, name: str, config: DeploymentConfig, actor: str, when: str) -> None:
        """Replace the config; the caller records the audit event in ``run``."""
        with self._store.write() as tx:
            self.put_in(tx, name, config, actor, when)

    @staticmethod
    def put_in(tx: Any, name: str, config: DeploymentConfig, actor: str, when: str) -> None:
        tx.conn.execute(delete(deployments).where(deployments.c.name == name))
        tx.conn.execute(insert(deployments).values(
            name=name, config=json.dumps(config.to_dict(), sort_keys=True), updated=when,
            updated_by=actor))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


class SQLDecisionStore:
    """Batches of decision records, each batch anchored by one audit event."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_many(self, records: Sequence[DecisionRecord]) -> None:
        if not records:
            return
        rows = [dict(
            request_id=r.request_id, created=r.created, caller=r.caller[:128], model=r.model,
            version=r.version, rows=r.rows, outputs=_json(r.outputs), inputs=_json(r.inputs),
            input_policy=r.input_policy, fallback=r.fallback[:64], flags=_json(r.flags),
            explanation=_json(r.explanation), latency_ms=r.latency_ms,
        ) for r in records]
        with self._store.write() as tx:
            tx.conn.execute(insert(decisions), rows)
            tx.audit.append(AuditDraft(
                action="invoke-model", actor="system", resource="decisions",
                payload={"decisions": len(records), "first": records[0].request_id,
                         "last": records[-1].request_id, "sha256": batch_digest(records),
                         "models": sorted({f"{r.model}:{r.version}" for r in records})},
            ))

    def get(self, request_id: str) -> DecisionRecord:
        with self._store.read() as tx:
            row = tx.conn.execute(select(decisions).where(
                decisions.c.request_id == request_id)).first()
        if row is None:
            raise DecisionNotFound("no decision with that request id")
        m = row._mapping
        return DecisionRecord(
            request_id=m["request_id"], created=m["created"], caller=m["caller"],
            model=m["model"], version=int(m["version"]), rows=int(m["rows"]),
            outputs=json.loads(m["outputs"]), input_policy=m["input_policy"],
            inputs=json.loads(m["inputs"]) if m["inputs"] else None, fallback=m["fallback"],
            flags=json.loads(m["flags"]),
            explanation=json.loads(m["explanation"]) if m["explanation"] else None,
            latency_ms=int(m["latency_ms"]),
        )
