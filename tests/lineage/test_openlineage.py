"""OpenLineage export: event structure, stable run ids, digests, deployments."""

from __future__ import annotations

import ast
import datetime as dt
import json
import uuid
from pathlib import Path

import openlineage.client  # noqa: F401 - declared (lineage extra): fail, never skip
import pytest

from garrison.lineage import (
    DatasetNode,
    DeploymentNode,
    LineageGraph,
    ModelVersionNode,
    RunNode,
    openlineage_run_id,
    to_openlineage_events,
)

PRODUCER = "https://example.org/garrison"


def at(hour: int) -> dt.datetime:
    return dt.datetime(2024, 5, 1, hour, tzinfo=dt.UTC)


CREDIT = DatasetNode(
    "credit",
    "2024-05",
    "sha256:" + "a" * 64,
    rows=1000,
    schema_digest="sha256:" + "b" * 64,
    columns=(("age", "int64"), ("income", "float64")),
)
BUREAU = DatasetNode("bureau", "v3", "sha256:" + "c" * 64)
TRAIN = RunNode("r-42", "1a2b3c4d5e6f", at(10), at(11), {"max_depth": 8, "lr": 0.1})
SCORER = ModelVersionNode("scorer", "3", "sha256:" + "d" * 64)
RUNNING = RunNode("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", None, at(13))
SCORER4 = ModelVersionNode("scorer", "4", "sha256:" + "e" * 64)


@pytest.fixture
def graph() -> LineageGraph:
    g = LineageGraph()
    g.record_training(TRAIN, [CREDIT, BUREAU], [SCORER])
    g.record_deployment(DeploymentNode("scorer", "3", "production", at(12)))
    g.record_training(RUNNING, [SCORER], [SCORER4])
    return g


def test_training_run_start_and_complete(graph):
    events = to_openlineage_events(
        graph, "garrison-test", PRODUCER, repo_url="https://git.example.org/ml.git"
    )
    assert json.loads(json.dumps(events)) == events
    train = [
        e
        for e in events
        if e["job"]["name"] == "train.scorer"
        and e["run"]["facets"]["garrison_run"]["runId"] == "r-42"
    ]
    assert [e["eventType"] for e in train] == ["START", "COMPLETE"]
    start, complete = train
    # One run id per run, stable and a UUID.
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert uuid.UUID(start["run"]["runId"])
    assert start["run"]["runId"] == openlineage_run_id("garrison-test", "r-42")
    assert start["eventTime"].startswith("2024-05-01T10:00:00")
    assert complete["eventTime"].startswith("2024-05-01T11:00:00")
    assert start["producer"] == PRODUCER
    assert start["schemaURL"].startswith("https://openlineage.io/spec/")
    assert start["job"]["namespace"] == "garrison-test"
    # Inputs are the dataset versions, each carrying its content digest.
    names = [d["name"] for d in complete["inputs"]]
    assert names == ["credit", "bureau"]
    credit = complete["inputs"][0]
    assert credit["facets"]["version"]["datasetVersion"] == CREDIT.digest
    assert credit["facets"]["garrison_dataset"]["schemaDigest"] == CREDIT.schema_digest
    assert credit["facets"]["garrison_dataset"]["version"] == "2024-05"
    assert [f["name"] for f in credit["facets"]["schema"]["fields"]] == ["age", "income"]
    assert credit["inputFacets"]["inputStatistics"]["rowCount"] == 1000
    assert "schema" not in complete["inputs"][1]["facets"]
    # The output is the model version, as a dataset of type MODEL, only on COMPLETE.
    assert start["outputs"] == []
    [model] = complete["outputs"]
    assert model["name"] == "models/scorer"
    assert model["facets"]["version"]["datasetVersion"] == SCORER.artifact_digest
    assert model["facets"]["datasetType"]["datasetType"] == "MODEL"
    assert model["facets"]["garrison_model"]["version"] == "3"
    # Code and parameters.
    assert start["job"]["facets"]["sourceCodeLocation"]["version"] == "1a2b3c4d5e6f"
    assert start["run"]["facets"]["garrison_run"]["codeCommit"] == "1a2b3c4d5e6f"
    params = start["run"]["facets"]["executionParameters"]["parameters"]
    assert params == [{"key": "lr", "value": "0.1"}, {"key": "max_depth", "value": "8"}]
    for facet in start["run"]["facets"].values():
        assert facet["_producer"] == PRODUCER and facet["_schemaURL"].startswith("https://")


def test_unfinished_run_has_only_start_and_keeps_its_uuid(graph):
    events = to_openlineage_events(graph, "ns", PRODUCER)
    mine = [e for e in events if e["run"]["runId"] == RUNNING.run_id]
    assert [e["eventType"] for e in mine] == ["START"]
    assert [d["name"] for d in mine[0]["inputs"]] == ["models/scorer"]
    assert "sourceCodeLocation" not in mine[0]["job"]["facets"]


def test_deployments_and_ordering(graph):
    events = to_openlineage_events(graph, "ns", PRODUCER)
    times = [e["eventTime"] for e in events]
    assert times == sorted(times)
    deploy = [e for e in events if e["job"]["name"] == "deploy.scorer.production"]
    assert [e["eventType"] for e in deploy] == ["START", "COMPLETE"]
    assert deploy[0]["inputs"][0]["facets"]["version"]["datasetVersion"] == SCORER.artifact_digest
    assert deploy[0]["job"]["facets"]["jobType"]["jobType"] == "DEPLOYMENT"
    without = to_openlineage_events(graph, "ns", PRODUCER, include_deployments=False)
    assert len(without) == len(events) - 2


def test_run_ids_are_stable_across_exports_and_namespaced(graph):
    first = to_openlineage_events(graph, "ns", PRODUCER)
    again = to_openlineage_events(LineageGraph.from_dict(graph.to_dict()), "ns", PRODUCER)
    assert first == again
    assert openlineage_run_id("a", "r-42") != openlineage_run_id("b", "r-42")


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names imported outside any function or class body."""
    names: set[str] = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pending.extend(ast.iter_child_nodes(node))
    return names


def test_the_client_is_imported_only_inside_the_exporter():
    import garrison.lineage as package

    root = Path(package.__file__).parent
    for path in root.glob("*.py"):
        # The core is stdlib-only: no third-party import at module level at all.
        assert _module_level_imports(path) <= {
            "__future__",
            "collections",
            "dataclasses",
            "datetime",
            "typing",
            "uuid",
            "garrison",
        }, path.name
    assert "from openlineage.client" in (root / "openlineage.py").read_text()
