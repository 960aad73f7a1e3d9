"""SQL stores for deployment configs (and, re-exported, decision records)."""

from __future__ import annotations

from typing import Any

from garrison.serving.deployment import DeploymentConfig
from garrison.storage.decisions_repo import SQLDecisionStore
from garrison.storage.store import Store

__all__ = ["SQLDecisionStore", "SQLDeploymentStore"]


class SQLDeploymentStore:
    """Deployment configs, each read or write in its own transaction.

    Production code reads and writes them through ``DeploymentService`` (audited);
    this store is for tests and tools that set up an installation directly.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, name: str) -> DeploymentConfig:
        with self._store.read() as tx:
            return tx.deployments.get(name)

    def all(self) -> dict[str, DeploymentConfig]:
        with self._store.read() as tx:
            return tx.deployments.all()

    def put(self, name: str, config: DeploymentConfig, actor: str, when: str) -> None:
        """Replace the config without an audit event (set-up only)."""
        with self._store.write() as tx:
            tx.deployments.put(name, config, actor, when)

    @staticmethod
    def put_in(tx: Any, name: str, config: DeploymentConfig, actor: str, when: str) -> None:
        tx.deployments.put(name, config, actor, when)
