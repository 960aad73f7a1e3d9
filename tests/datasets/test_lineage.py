"""Model registration records lineage; unknown datasets are refused; OpenLineage export."""

from __future__ import annotations

import pickle

import pytest

from garrison.errors import Forbidden, InvalidInput, ModelNotFound
from garrison.lineage import DeploymentNode, ModelVersionNode, RunNode, render_tree
from garrison.registry import RegistryService

from .helpers import events

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"coef": [0.5, -1.0]}, protocol=5))
    return path


@pytest.fixture
def trained(env, csv_file, model_file):
    """customers:1 registered; churn:1 trained on it, approved and in production."""
    services, people = env
    dataset = services.datasets.register(people["alice"], csv_file, "customers")
    meta = {"framework": "custom", "code_commit": COMMIT,
            "datasets": [dataset.model_reference()]}
    model = services.registry.register(people["alice"], "churn", model_file, meta)
    services.registry.approve(people["bob"], "churn", 1)
    services.clock.advance(60)
    services.registry.promote(people["bob"], "churn", 1, "production")
    return services, people, dataset, model


def test_registration_and_promotion_record_the_graph(trained) -> None:
    services, people, dataset, model = trained
    graph = services.datasets.lineage(people["dan"], "churn", 1)
    run_key = f"run:train-churn-1-{COMMIT[:12]}"
    kinds = sorted(n.kind for n in graph.nodes())
    assert kinds == ["dataset", "deployment", "model-version", "run"]
    run = graph.node(run_key)
    assert isinstance(run, RunNode) and run.code_commit == COMMIT
    assert graph.node("model-version:churn@1") == ModelVersionNode("churn", "1", model.digest)
    assert graph.node("dataset:customers@1").digest == dataset.digest  # type: ignore[union-attr]
    edges = {(e.source, e.target, e.kind) for e in graph.edges()}
    [deployment] = graph.nodes("deployment")
    assert isinstance(deployment, DeploymentNode) and deployment.stage == "production"
    assert edges == {
        ("dataset:customers@1", run_key, "used"),
        (run_key, "model-version:churn@1", "produced"),
        ("model-version:churn@1", deployment.key, "deployed_as"),
    }
    text = render_tree(graph, "churn", "1")
    for needle in ("model churn:1", "produced by run train-churn-1-", "used dataset customers@1",
                   dataset.digest[:12], "deployment production"):
        assert needle in text


def test_unknown_dataset_digest_is_refused_with_nothing_stored(env, csv_file, model_file) -> None:
    services, people = env
    dataset = services.datasets.register(people["alice"], csv_file, "customers")
    bad_refs = [
        {"name": "customers", "version": "1", "digest": "0" * 64},     # wrong digest
        {"name": "customers", "version": "2", "digest": dataset.digest},  # no such version
        {"name": "orders", "version": "1", "digest": dataset.digest},     # no such dataset
    ]
    for ref in bad_refs:
        with pytest.raises(InvalidInput, match="not registered"):
            services.registry.register(people["alice"], "churn", model_file,
                                       {"datasets": [dataset.model_reference(), ref]})
    assert services.registry.list_versions(people["root"]) == []
    artifacts = services.settings.artifacts
    assert not artifacts.exists() or not any(p.is_file() for p in artifacts.rglob("*"))
    with pytest.raises(ModelNotFound):
        services.datasets.lineage(people["dan"], "churn")
    assert services.lineage_store.edges_for("dataset:customers@1") == []
    failed = events(services, "register-model-version", "failed")
    assert [e.reason for e in failed] == ["unknown-dataset"] * 3
    assert events(services, "register-model-version", "ok") == []


def test_prefixed_digest_is_accepted(env, csv_file, model_file) -> None:
    services, people = env
    dataset = services.datasets.register(people["alice"], csv_file, "customers")
    ref = {**dataset.model_reference(), "digest": "sha256:" + dataset.digest}
    services.registry.register(people["alice"], "churn", model_file, {"datasets": [ref]})
    graph = services.datasets.lineage(people["dan"], "churn")
    assert "dataset:customers@1" in graph


def test_registry_without_lineage_is_unchanged(env, model_file) -> None:
    services, people = env
    plain = RegistryService(services.store, services.registry._artifacts, services.keyring,
                            services.guard, services.clock,
                            servability=services.registry.servability)
    ref = {"name": "ghost", "version": "9", "digest": "0" * 64}
    v = plain.register(people["alice"], "churn", model_file, {"datasets": [ref]})
    assert v.version == 1 and services.lineage_store.model_versions("churn") == []


def test_rollback_and_second_version_are_recorded(trained, model_file) -> None:
    services, people, dataset, _ = trained
    meta = {"datasets": [dataset.model_reference()]}  # No commit: the run id has no suffix.
    services.registry.register(people["alice"], "churn", model_file, meta)
    services.registry.approve(people["bob"], "churn", 2)
    services.clock.advance(60)
    services.registry.promote(people["bob"], "churn", 2)
    services.clock.advance(60)
    services.registry.rollback(people["bob"], "churn")
    graph = services.datasets.lineage(people["dan"], "churn")
    stages = sorted((n.version, n.stage, n.since.minute)  # type: ignore[union-attr]
                    for n in graph.nodes("deployment"))
    assert stages == [("1", "production", 1), ("1", "production", 3), ("2", "production", 2)]
    assert "run:train-churn-2" in graph
    # Both versions used the same dataset version.
    assert len(graph.children("dataset:customers@1")) == 2


def test_lineage_of_one_model_leaves_out_other_models(trained, model_file) -> None:
    services, people, dataset, _ = trained
    services.registry.register(people["alice"], "upsell", model_file,
                               {"datasets": [dataset.model_reference()]})
    graph = services.datasets.lineage(people["dan"], "churn")
    assert "model-version:upsell@1" not in graph
    assert "model-version:upsell@1" in services.datasets.lineage(people["dan"], "upsell")


def test_reading_lineage_needs_view_lineage(trained) -> None:
    services, people, _, _ = trained
    with pytest.raises(Forbidden):
        services.datasets.lineage(people["eve"], "churn")
    with pytest.raises(Forbidden):
        services.datasets.openlineage_events(people["eve"], "churn")


def test_openlineage_export_has_start_complete_and_the_digest(trained) -> None:
    services, people, dataset, _ = trained
    events_ = services.datasets.openlineage_events(people["dan"], "churn", 1,
                                                   namespace="acme")
    training = [e for e in events_ if e["job"]["name"] == "train.churn"]
    assert [e["eventType"] for e in training] == ["START", "COMPLETE"]
    start, complete = training
    assert start["run"]["runId"] == complete["run"]["runId"]
    [source] = start["inputs"]
    assert (source["namespace"], source["name"]) == ("acme", "customers")
    assert source["facets"]["version"]["datasetVersion"] == dataset.digest
    assert source["inputFacets"]["inputStatistics"]["rowCount"] == 300
    [output] = complete["outputs"]
    assert output["name"] == "models/churn"
    assert complete["run"]["facets"]["garrison_run"]["codeCommit"] == COMMIT
    deploys = [e for e in events_ if e["job"]["name"] == "deploy.churn.production"]
    assert [e["eventType"] for e in deploys] == ["START", "COMPLETE"]
    assert all(e["producer"].startswith("urn:garrison:") for e in events_)
    with pytest.raises(InvalidInput):
        services.datasets.openlineage_events(people["dan"], "churn", namespace=" ")
