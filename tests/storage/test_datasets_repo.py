"""Dataset and lineage storage contract, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect

from garrison.audit import AuditDraft
from garrison.datasets import DatasetVersion
from garrison.errors import Conflict, DatasetNotFound, InvalidInput, NotFound
from garrison.lineage import (
    DatasetNode,
    DeploymentNode,
    Edge,
    LineageRecorder,
    LineageStore,
    ModelVersionNode,
    RunNode,
    load_lineage,
)
from garrison.storage import Store
from garrison.storage.datasets_repo import (
    SQLDatasetStore,
    SQLLineageRepository,
    SQLLineageStore,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _version(name: str = "customers", version: int = 1, digest: str = "a" * 64,
             poison: dict | None = None) -> DatasetVersion:
    return DatasetVersion(
        name=name, version=version, digest=digest, format="csv", size=10, rows=3,
        columns=(("email", "string"), ("age", "int64")), schema_digest="b" * 64,
        source="/data/c.csv", registrant="alice", created="2026-01-01T00:00:00.000000Z",
        scan_report={"summary": {"direct_identifier": ["email"]}, "rows": 3},
        target="age" if poison else None, poison_report=poison,
    )


def test_migration_creates_the_tables(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"datasets", "lineage_nodes", "lineage_edges"} <= names
    assert "0006_datasets" in (store.revision() or "")


def test_dataset_round_trip_find_and_list(store: Store) -> None:
    ds = SQLDatasetStore(store)
    v1 = _version()
    v2 = _version(version=2, digest="c" * 64, poison={"rows_flagged": 1, "findings": []})
    other = _version(name="holdout")
    with ds.write() as tx:
        assert tx.datasets.next_version("customers") == 1
        for v in (v1, v2, other):
            tx.datasets.add(v)
        assert tx.datasets.next_version("customers") == 3
    with ds.read() as tx:
        assert tx.datasets.get("customers", 1) == v1
        assert tx.datasets.get("customers") == v2 and v2.suspicious_rows == 1
        assert tx.datasets.find("customers", "c" * 64) == v2
        assert tx.datasets.find("customers", "f" * 64) is None
        assert tx.datasets.find("holdout", "c" * 64) is None
        assert [v.ref for v in tx.datasets.list()] == ["customers:1", "customers:2", "holdout:1"]
        assert tx.datasets.list("holdout") == [other]
        with pytest.raises(DatasetNotFound):
            tx.datasets.get("customers", 9)
        with pytest.raises(DatasetNotFound):
            tx.datasets.get("nothing")


def test_duplicate_version_conflicts_and_rolls_back_with_its_audit(store: Store) -> None:
    ds = SQLDatasetStore(store)
    with ds.write() as tx:
        tx.datasets.add(_version())
    with pytest.raises(Conflict), ds.write() as tx:
        tx.audit.append(AuditDraft(action="register-dataset", actor="alice"))
        tx.datasets.add(_version(digest="d" * 64))
    with ds.read() as tx:
        assert tx.datasets.get("customers", 1).digest == "a" * 64
    assert list(store.records()) == []


def test_dataset_and_lineage_node_commit_together(store: Store) -> None:
    ds = SQLDatasetStore(store)
    with pytest.raises(RuntimeError), ds.write() as tx:
        tx.datasets.add(_version())
        LineageRecorder(tx.lineage).add_node(_version().lineage_node())
        raise RuntimeError("crash before commit")
    assert SQLLineageStore(store).get_node("dataset:customers@1") is None
    with ds.read() as tx:
        assert tx.datasets.list() == []


def _graph(recorder: LineageRecorder) -> tuple[DatasetNode, RunNode, ModelVersionNode]:
    data = DatasetNode("customers", "1", "a" * 64, rows=3, schema_digest="b" * 64,
                       columns=(("email", "string"),))
    run = RunNode("train-churn-1", "abc1234", T0, T0 + dt.timedelta(hours=1), {"lr": 0.1})
    model = ModelVersionNode("churn", "1", "c" * 64)
    recorder.record_training(run, [data], [model])
    recorder.record_deployment(DeploymentNode("churn", "1", "production", T0))
    return data, run, model


def test_lineage_store_satisfies_the_port_and_round_trips(store: Store) -> None:
    lineage = SQLLineageStore(store)
    assert isinstance(lineage, LineageStore)
    data, run, model = _graph(LineageRecorder(lineage))
    assert lineage.get_node(data.key) == data
    assert lineage.get_node(run.key) == run  # Times and parameters survive the JSON form.
    assert lineage.model_versions("churn") == [model]
    assert lineage.model_versions("customers") == []
    assert lineage.edges_for(run.key) == [Edge(data.key, run.key, "used"),
                                          Edge(run.key, model.key, "produced")]
    graph = load_lineage(lineage, "churn", "1")
    assert len(graph) == 4 and len(graph.edges()) == 3
    assert lineage.get_node("x" * 600) is None


def test_lineage_is_immutable_and_idempotent(store: Store) -> None:
    lineage = SQLLineageStore(store)
    recorder = LineageRecorder(lineage)
    data, run, model = _graph(recorder)
    _graph(recorder)  # Recording the same facts again changes nothing.
    assert len(lineage.edges_for(run.key)) == 2
    with pytest.raises(Conflict):
        recorder.add_node(DatasetNode("customers", "1", "f" * 64))
    with pytest.raises(Conflict):  # A second producer of the same model version.
        recorder.record_training(RunNode("other", None, T0), [], [model])
    with pytest.raises(NotFound):
        recorder.add_edge("dataset:ghost@1", run, "used")
    with pytest.raises(Conflict):  # A cycle.
        recorder.add_edge(model, RunNode("train-churn-1", "abc1234", T0), "used")
    assert lineage.get_node(data.key) == data


def test_direct_writes_conflict_on_different_content(store: Store) -> None:
    node = ModelVersionNode("churn", "1", "c" * 64)
    with store.write() as tx:
        repo = SQLLineageRepository(tx.conn)
        repo.record_node(node)
        repo.record_node(node)  # Identical: accepted.
        repo.record_edge(Edge("a", "b", "used"))
        repo.record_edge(Edge("a", "b", "used"))  # Identical: stored once.
        assert repo.edges_for("a") == [Edge("a", "b", "used")]
    with pytest.raises(Conflict), store.write() as tx:
        SQLLineageRepository(tx.conn).record_node(ModelVersionNode("churn", "1", "d" * 64))
    with pytest.raises(InvalidInput), store.write() as tx:
        SQLLineageRepository(tx.conn).record_node(ModelVersionNode("m" * 600, "1", "d"))


def test_hostile_names_are_stored_literally(store: Store) -> None:
    ds = SQLDatasetStore(store)
    name = "x'; DROP TABLE datasets; --"
    with ds.write() as tx:
        tx.datasets.add(_version(name=name))
    with ds.read() as tx:
        assert tx.datasets.get(name).name == name
    node = DatasetNode(name, "1", "a" * 64)
    SQLLineageStore(store).record_node(node)
    assert SQLLineageStore(store).get_node(node.key) == node
