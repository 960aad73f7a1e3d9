"""SQL repositories of dataset versions and lineage, and the stores the services use.

``SQLDatasetStore`` gives ``DatasetService`` transactions holding the dataset table,
the lineage tables and the audit log together. ``SQLLineageStore`` implements
``garrison.lineage.LineageStore`` with one short transaction per call (for the model
registry's ``LineageRecorder`` and for reading lineage).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from garrison.datasets.models import DatasetVersion
from garrison.errors import Conflict, DatasetNotFound, InvalidInput
from garrison.lineage import (
    DatasetNode,
    DeploymentNode,
    Edge,
    ModelVersionNode,
    Node,
    RunNode,
    node_from_dict,
)
from garrison.storage.audit_log import SQLAuditWriter
from garrison.storage.store import Store
from garrison.storage.tables_datasets import KEY_LENGTH, datasets, lineage_edges, lineage_nodes

__all__ = [
    "SQLDatasetRepository",
    "SQLDatasetStore",
    "SQLLineageRepository",
    "SQLLineageStore",
]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _version(row: Any) -> DatasetVersion:
    r = row._mapping
    poison = r["poison_report"]
    return DatasetVersion(
        name=r["name"], version=int(r["version"]), digest=r["digest"], format=r["format"],
        size=int(r["size"]), rows=int(r["row_count"]),
        columns=tuple((str(n), str(t)) for n, t in json.loads(r["column_types"])),
        schema_digest=r["schema_digest"], source=r["source"], registrant=r["registrant"],
        created=r["created"], scan_report=json.loads(r["scan_report"]), target=r["target"],
        poison_report=None if poison is None else json.loads(poison),
    )


class SQLDatasetRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def next_version(self, name: str) -> int:
        current = self._conn.execute(
            select(func.max(datasets.c.version)).where(datasets.c.name == name)
        ).scalar()
        return int(current or 0) + 1

    def add(self, v: DatasetVersion) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(datasets).values(
                    name=v.name, version=v.version, digest=v.digest, format=v.format,
                    size=v.size, row_count=v.rows,
                    column_types=_dumps([list(c) for c in v.columns]),
                    schema_digest=v.schema_digest, source=v.source, registrant=v.registrant,
                    created=v.created, target=v.target, scan_report=_dumps(v.scan_report),
                    poison_report=None if v.poison_report is None else _dumps(v.poison_report),
                ))
        except IntegrityError as exc:
            raise Conflict(f"dataset {v.ref} already exists", name=v.name,
                           version=v.version) from exc

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        stmt = select(datasets).where(datasets.c.name == name)
        if version is None:
            stmt = stmt.order_by(datasets.c.version.desc()).limit(1)
        else:
            stmt = stmt.where(datasets.c.version == version)
        row = self._conn.execute(stmt).first()
        if row is None:
            what = name if version is None else f"{name}:{version}"
            raise DatasetNotFound(f"no dataset version {what}", name=name, version=version)
        return _version(row)

    def find(self, name: str, digest: str) -> DatasetVersion | None:
        row = self._conn.execute(
            select(datasets).where(datasets.c.name == name, datasets.c.digest == digest)
            .order_by(datasets.c.version).limit(1)
        ).first()
        return None if row is None else _version(row)

    def list(self, name: str | None = None) -> list[DatasetVersion]:
        stmt = select(datasets).order_by(datasets.c.name, datasets.c.version)
        if name is not None:
            stmt = stmt.where(datasets.c.name == name)
        return [_version(r) for r in self._conn.execute(stmt)]


def _node_name(node: Node) -> str:
    if isinstance(node, DatasetNode | ModelVersionNode):
        return node.name
    if isinstance(node, DeploymentNode):
        return node.model
    assert isinstance(node, RunNode)
    return node.run_id


def _check_key(key: str) -> None:
    if len(key) > KEY_LENGTH:
        raise InvalidInput(f"lineage keys are at most {KEY_LENGTH} characters")


class SQLLineageRepository:
    """``LineageStore`` bound to one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record_node(self, node: Node) -> None:
        _check_key(node.key)
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(lineage_nodes).values(
                    node_key=node.key, kind=node.kind, name=_node_name(node)[:256],
                    body=_dumps(node.to_dict()),
                ))
        except IntegrityError as exc:
            # Recorded concurrently: fine if identical, a conflict otherwise.
            if self.get_node(node.key) != node:
                raise Conflict(f"{node.key} is already recorded with different content",
                               key=node.key) from exc

    def record_edge(self, edge: Edge) -> None:
        _check_key(edge.source)
        _check_key(edge.target)
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(lineage_edges).values(
                    source=edge.source, target=edge.target, kind=edge.kind))
        except IntegrityError:
            pass  # The same edge is already stored; edges are idempotent.

    def get_node(self, key: str) -> Node | None:
        if len(key) > KEY_LENGTH:
            return None
        row = self._conn.execute(
            select(lineage_nodes.c.body).where(lineage_nodes.c.node_key == key)
        ).first()
        return None if row is None else node_from_dict(json.loads(row[0]))

    def edges_for(self, key: str) -> list[Edge]:
        rows = self._conn.execute(
            select(lineage_edges.c.source, lineage_edges.c.target, lineage_edges.c.kind)
            .where(or_(lineage_edges.c.source == key, lineage_edges.c.target == key))
            .order_by(lineage_edges.c.id)
        )
        return [Edge(r.source, r.target, r.kind) for r in rows]

    def model_versions(self, name: str) -> list[ModelVersionNode]:
        rows = self._conn.execute(
            select(lineage_nodes.c.body).where(
                lineage_nodes.c.kind == "model-version", lineage_nodes.c.name == name)
        )
        found = [node_from_dict(json.loads(r[0])) for r in rows]
        return [n for n in found if isinstance(n, ModelVersionNode) and n.name == name]


class SQLLineageStore:
    """``LineageStore`` over a ``Store``: each call is its own short transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record_node(self, node: Node) -> None:
        with self._store.write() as tx:
            SQLLineageRepository(tx.conn).record_node(node)

    def record_edge(self, edge: Edge) -> None:
        with self._store.write() as tx:
            SQLLineageRepository(tx.conn).record_edge(edge)

    def get_node(self, key: str) -> Node | None:
        with self._store.read() as tx:
            return SQLLineageRepository(tx.conn).get_node(key)

    def edges_for(self, key: str) -> list[Edge]:
        with self._store.read() as tx:
            return SQLLineageRepository(tx.conn).edges_for(key)

    def model_versions(self, name: str) -> list[ModelVersionNode]:
        with self._store.read() as tx:
            return SQLLineageRepository(tx.conn).model_versions(name)


@dataclass
class DatasetStoreTx:
    """The repositories ``DatasetService`` needs, bound to one transaction."""

    conn: Connection
    datasets: SQLDatasetRepository
    lineage: SQLLineageRepository
    audit: SQLAuditWriter


class SQLDatasetStore:
    """``garrison.datasets.DatasetStore`` over a ``Store`` (same database, same audit log)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _bind(tx: Any) -> DatasetStoreTx:
        return DatasetStoreTx(tx.conn, SQLDatasetRepository(tx.conn),
                              SQLLineageRepository(tx.conn), tx.audit)

    @contextmanager
    def write(self) -> Iterator[DatasetStoreTx]:
        with self._store.write() as tx:
            yield self._bind(tx)

    @contextmanager
    def read(self) -> Iterator[DatasetStoreTx]:
        with self._store.read() as tx:
            yield self._bind(tx)
