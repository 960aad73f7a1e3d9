"""Deployment configs in SQL: one JSON document per model, bound to one transaction."""

from __future__ import annotations

import json

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from garrison.serving.deployment import DeploymentConfig
from garrison.storage.tables import deployments

__all__ = ["SQLDeploymentRepository"]


class SQLDeploymentRepository:
    """Implements :class:`garrison.serving.ports.DeploymentRepository` on one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, name: str) -> DeploymentConfig:
        row = self._conn.execute(select(deployments.c.config).where(
            deployments.c.name == name)).first()
        return DeploymentConfig() if row is None else DeploymentConfig.from_dict(
            json.loads(row[0]))

    def all(self) -> dict[str, DeploymentConfig]:
        rows = self._conn.execute(select(deployments.c.name, deployments.c.config)).all()
        return {r[0]: DeploymentConfig.from_dict(json.loads(r[1])) for r in rows}

    def put(self, name: str, config: DeploymentConfig, actor: str, when: str) -> None:
        """Replace the config; the caller records the audit event in the same transaction."""
        self._conn.execute(delete(deployments).where(deployments.c.name == name))
        self._conn.execute(insert(deployments).values(
            name=name, config=json.dumps(config.to_dict(), sort_keys=True), updated=when,
            updated_by=actor))
