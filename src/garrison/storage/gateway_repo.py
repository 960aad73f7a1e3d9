"""SQL stores for deployment configs and decision records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
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
    if value is None:
        return None
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


_COLUMNS = ("request_id", "created", "caller", "model", "version", "rows", "outputs", "inputs",
            "input_policy", "fallback", "flags", "explanation", "latency_ms")


def _insert_sql(placeholder: str) -> str:
    values = ", ".join([placeholder] * len(_COLUMNS))
    return f"INSERT INTO decisions ({', '.join(_COLUMNS)}) VALUES ({values})"


_INSERT_QMARK, _INSERT_FORMAT = _insert_sql("?"), _insert_sql("%s")


class SQLDecisionStore:
    """Batches of decision records, each batch anchored by one audit event."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_many(self, records: Sequence[DecisionRecord]) -> None:
        if not records:
            return
        rows = [(r.request_id, r.created, r.caller[:128], r.model, r.version, r.rows,
                 _json(r.outputs), _json(r.inputs), r.input_policy, r.fallback[:64],
                 _json(r.flags), _json(r.explanation), r.latency_ms) for r in records]
        with self._store.write() as tx:
            # The DBAPI cursor directly: SQLAlchemy's per-row parameter processing cost
            # more than the insert itself. The statement stays parameterized.
            cursor = tx.conn.connection.dbapi_connection.cursor()
            try:
                cursor.executemany(_INSERT_QMARK if tx.conn.dialect.paramstyle == "qmark"
                                   else _INSERT_FORMAT, rows)
            finally:
                cursor.close()
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
