"""Lineage graph: recording rules, traversal, cycle refusal, serialization, rendering."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from garrison.errors import (
    Conflict,
    InvalidInput,
    ModelNotFound,
    ModelVersionNotFound,
    NotFound,
)
from garrison.lineage import (
    DatasetNode,
    DeploymentNode,
    Edge,
    LineageGraph,
    LineageRecorder,
    LineageStore,
    MemoryLineageStore,
    ModelVersionNode,
    RunNode,
    load_lineage,
    node_from_dict,
    render_tree,
)


def at(hour: int) -> dt.datetime:
    return dt.datetime(2024, 5, 1, hour, tzinfo=dt.UTC)


CREDIT = DatasetNode(
    "credit",
    "2024-05",
    "sha256:" + "a" * 64,
    rows=1000,
    schema_digest="sha256:" + "b" * 64,
    columns=(("age", "int64"),),
)
BUREAU = DatasetNode("bureau", "v3", "sha256:" + "c" * 64)
RAW = DatasetNode("raw-credit", "1", "sha256:" + "f" * 64, rows=5000)
PREP = RunNode("prep-1", "abc123", at(8), at(9), {"dedupe": True}, job="prepare.credit")
TRAIN = RunNode("r-42", "1a2b3c4d5e6f", at(10), at(11), {"max_depth": 8, "lr": 0.1})
SCORER3 = ModelVersionNode("scorer", "3", "sha256:" + "d" * 64)
PROD = DeploymentNode("scorer", "3", "production", at(12))
RETRAIN = RunNode("r-50", None, at(13))
SCORER4 = ModelVersionNode("scorer", "4", "sha256:" + "e" * 64)
OTHER_RUN = RunNode("r-60", "def456", at(14), at(15))
OTHER = ModelVersionNode("churn", "1", "sha256:" + "9" * 64)


def build(target) -> None:
    target.record_training(PREP, [RAW], [CREDIT])
    target.record_training(TRAIN, [CREDIT, BUREAU], [SCORER3])
    target.record_deployment(PROD)
    target.record_training(RETRAIN, [SCORER3, CREDIT], [SCORER4])
    target.record_training(OTHER_RUN, [CREDIT], [OTHER])


@pytest.fixture
def graph() -> LineageGraph:
    g = LineageGraph()
    build(g)
    return g


def keys(nodes) -> set[str]:
    return {n.key for n in nodes}


def test_upstream_and_downstream_are_transitive(graph):
    assert keys(graph.upstream(SCORER3)) == {TRAIN.key, CREDIT.key, BUREAU.key, PREP.key, RAW.key}
    assert graph.upstream(SCORER3)[0] == TRAIN  # Nearest first.
    assert keys(graph.downstream(SCORER3)) == {PROD.key, RETRAIN.key, SCORER4.key}
    assert keys(graph.downstream(RAW)) == {
        PREP.key,
        CREDIT.key,
        TRAIN.key,
        SCORER3.key,
        PROD.key,
        RETRAIN.key,
        SCORER4.key,
        OTHER_RUN.key,
        OTHER.key,
    }
    assert graph.parents(TRAIN) == [CREDIT, BUREAU]
    assert graph.children(SCORER3) == [PROD, RETRAIN]


def test_subgraph_for_model_excludes_unrelated_siblings(graph):
    sub = graph.subgraph_for_model("scorer", "3")
    # The churn model shares a dataset but is neither up- nor downstream of scorer:3.
    assert OTHER.key not in sub and OTHER_RUN.key not in sub
    assert {SCORER3.key, SCORER4.key, PROD.key, RAW.key} <= keys(sub.nodes())
    everything = graph.subgraph_for_model("scorer")
    assert [n.version for n in everything.model_versions("scorer")] == ["3", "4"]
    with pytest.raises(ModelVersionNotFound):
        graph.subgraph_for_model("scorer", "9")
    with pytest.raises(ModelNotFound):
        graph.subgraph_for_model("nope")


def test_cycles_are_refused(graph):
    # The preparation run would consume the model trained (indirectly) on its own output.
    with pytest.raises(Conflict, match="cycle"):
        graph.add_edge(SCORER4, PREP, "used")
    with pytest.raises(Conflict, match="cycle"):
        graph.add_edge(SCORER3, TRAIN, "used")
    assert Edge(SCORER4.key, PREP.key, "used") not in graph.edges()


def test_kind_rules_and_single_producer(graph):
    with pytest.raises(InvalidInput):
        graph.add_edge(CREDIT, SCORER3, "used")  # A dataset is not used by a model directly.
    with pytest.raises(InvalidInput):
        graph.add_edge(TRAIN, CREDIT, "deployed_as")
    with pytest.raises(InvalidInput):
        graph.add_edge(CREDIT, TRAIN, "derived")
    with pytest.raises(Conflict):
        graph.add_edge(OTHER_RUN, SCORER3, "produced")  # scorer:3 already has a producer.
    with pytest.raises(NotFound):
        graph.add_edge("dataset:ghost@1", TRAIN, "used")
    wrong = DeploymentNode("scorer", "4", "staging", at(16))
    graph.add_node(wrong)
    with pytest.raises(Conflict):
        graph.add_edge(SCORER3, wrong, "deployed_as")
    with pytest.raises(InvalidInput):
        graph.add_dataset(SCORER3)  # type: ignore[arg-type]


def test_recorded_content_is_immutable(graph):
    graph.add_node(CREDIT)  # Same content again is fine.
    graph.add_edge(CREDIT, TRAIN, "used")
    assert graph.edges().count(Edge(CREDIT.key, TRAIN.key, "used")) == 1
    tampered = DatasetNode("credit", "2024-05", "sha256:" + "0" * 64)
    with pytest.raises(Conflict):
        graph.add_node(tampered)
    with pytest.raises(Conflict):
        graph.add_node(ModelVersionNode("scorer", "3", "sha256:" + "1" * 64))


def test_node_validation():
    with pytest.raises(InvalidInput):
        DatasetNode("", "1", "sha256:x")
    with pytest.raises(InvalidInput):
        DatasetNode("d", "1", "sha256:x", rows=-1)
    with pytest.raises(InvalidInput):
        RunNode("r", None, dt.datetime(2024, 1, 1))  # Naive time.
    with pytest.raises(InvalidInput):
        RunNode("r", None, at(5), at(4))
    with pytest.raises(InvalidInput):
        RunNode("r", None, at(5), parameters={"x": [1, 2]})
    with pytest.raises(InvalidInput):
        ModelVersionNode("m\nfake line", "1", "sha256:x")


def test_round_trip_through_json(graph):
    text = json.dumps(graph.to_dict())
    again = LineageGraph.from_dict(json.loads(text))
    assert again.to_dict() == graph.to_dict()
    assert again.node(TRAIN.key) == TRAIN
    with pytest.raises(InvalidInput):
        LineageGraph.from_dict({"format": "other/1", "nodes": [], "edges": []})
    data = graph.to_dict()
    data["nodes"][0]["key"] = "dataset:forged@1"
    with pytest.raises(InvalidInput):
        LineageGraph.from_dict(data)
    with pytest.raises(InvalidInput):
        node_from_dict({"kind": "dataset", "name": "x"})
    # A document whose edges form a cycle is refused when loaded.
    data = graph.to_dict()
    data["edges"].append({"source": SCORER4.key, "target": PREP.key, "kind": "used"})
    with pytest.raises(Conflict):
        LineageGraph.from_dict(data)


def test_recorder_enforces_the_same_rules_on_a_store():
    store = MemoryLineageStore()
    assert isinstance(store, LineageStore)
    recorder = LineageRecorder(store)
    build(recorder)
    with pytest.raises(Conflict, match="cycle"):
        recorder.add_edge(SCORER4, PREP, "used")
    with pytest.raises(Conflict):
        recorder.add_node(DatasetNode("credit", "2024-05", "sha256:" + "0" * 64))
    with pytest.raises(Conflict):
        recorder.add_edge(OTHER_RUN, SCORER3, "produced")
    loaded = load_lineage(store, "scorer", "3")
    reference = LineageGraph()
    build(reference)
    expected = reference.subgraph_for_model("scorer", "3")
    assert keys(loaded.nodes()) == keys(expected.nodes())
    assert set(loaded.edges()) == set(expected.edges())
    assert keys(load_lineage(store, "scorer").model_versions("scorer")) == {
        SCORER3.key,
        SCORER4.key,
    }
    with pytest.raises(ModelNotFound):
        load_lineage(store, "ghost")
    with pytest.raises(ModelVersionNotFound):
        load_lineage(store, "scorer", "7")


def test_render_tree_shows_datasets_runs_and_deployments(graph):
    text = render_tree(graph, "scorer", "3")
    lines = text.splitlines()
    assert lines[0] == "model scorer:3  sha256:dddddddddddd"
    assert "produced by run r-42  commit 1a2b3c4d5e6f" in text
    assert "used dataset credit@2024-05  sha256:aaaaaaaaaaaa  1000 rows" in text
    assert "produced by run prep-1" in text and "used dataset raw-credit@1" in text
    assert "deployment production  since 2024-05-01T12:00:00Z" in text
    assert "used by run r-50" in text and "produced model scorer:4" in text
    assert "churn" not in text
    # The tree is drawn with one consistent indentation grammar.
    assert all(line[:4] in ("├── ", "└── ", "│   ", "    ") for line in lines[1:])
    both = render_tree(graph, "scorer")
    assert both.count("\nmodel scorer:") == 1 and both.startswith("model scorer:3")


def test_render_marks_repeated_nodes():
    g = LineageGraph()
    g.record_training(TRAIN, [CREDIT], [SCORER3])
    g.record_training(RETRAIN, [SCORER3, CREDIT], [SCORER4])
    text = render_tree(g, "scorer", "4")
    assert text.count("credit@2024-05") == 2
    assert "(see above)" in text
    lonely = LineageGraph()
    lonely.add_model_version(OTHER)
    assert (
        render_tree(lonely, "churn")
        == "model churn:1  sha256:999999999999\n└── (no recorded lineage)"
    )
