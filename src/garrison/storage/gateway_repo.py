"""SQL stores for deployment configs (and, re-exported, decision records)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, select

from garrison.serving.deployment import DeploymentConfig
from garrison.storage.decisions_repo import SQLDecisionStore
from garrison.storage.store import Store
from garrison.storage.tables import deployments

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
