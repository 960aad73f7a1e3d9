"""Shadow observations on SQLite and PostgreSQL, and `garrison shadow report` end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from garrison.app import initialize
from garrison.audit import AuditQuery
from garrison.cli._common import CLIState
from garrison.cli.shadow import shadow_group
from garrison.config import load_settings
from garrison.errors import InvalidInput
from garrison.serving.mirror import ShadowMirror
from garrison.serving.shadow import ShadowObservation
from garrison.storage.shadow_repo import SQLShadowStore


def make(request_id: str, second: int, *, version: int = 3, model: str = "churn",
         agree: bool = True, error: str | None = None) -> ShadowObservation:
    shadow = None if error else ([1, 0] if agree else [0, 0])
    return ShadowObservation(
        request_id=request_id, model=model, primary_version=2, shadow_version=version,
        created=f"2026-01-01T00:00:{second:02d}.000000Z", rows=2, primary_labels=[1, 0],
        shadow_labels=shadow, primary_scores=[[0.123456789012345, 0.876543210987655], [0.6, 0.4]],
        shadow_scores=None if error else [[0.2, 0.8], [0.7, 0.3]],
        primary_latency_ms=1.25 + second, shadow_latency_ms=None if error else 2.5 + second,
        shadow_error=error,
    )


def test_round_trip_filters_and_audit(store) -> None:
    repo = SQLShadowStore(store)
    batch = [make("r1", 1), make("r2", 2, error="model-timeout"), make("r3", 3, version=4),
             make("r4", 4, model="fraud")]
    assert repo.add_many(batch) == 4
    assert repo.add_many([]) == 0
    got = repo.observations("churn")
    assert got == batch[:3]  # Exact floats, labels, scores and None values survive.
    assert repo.observations("churn", shadow_version=3) == batch[:2]
    assert repo.observations("churn", since="2026-01-01T00:00:02.000000Z") == batch[1:3]
    assert repo.observations("churn", limit=2) == batch[1:3]  # Newest two, oldest first.
    assert repo.observations("nobody") == []
    assert repo.shadow_versions("churn") == [3, 4] and repo.shadow_versions("x") == []
    events = store.query(AuditQuery(action="invoke-model"))
    assert sorted((e.actor, e.resource, json.loads(e.payload)["shadow_batch"]) for e in events) \
        == [("system", "model:churn:3", 2), ("system", "model:churn:4", 1),
            ("system", "model:fraud:3", 1)]
    with pytest.raises(InvalidInput):
        repo.observations("churn", limit=0)


def test_replayed_observations_are_not_counted_twice(store) -> None:
    repo = SQLShadowStore(store)
    repo.add_many([make("r1", 1), make("r2", 2)])
    repo.add_many([make("r2", 2), make("r3", 3)])
    assert [o.request_id for o in repo.observations("churn")] == ["r1", "r2", "r3"]


def test_prune_deletes_only_older_observations(store) -> None:
    repo = SQLShadowStore(store)
    repo.add_many([make(f"r{i}", i) for i in range(5)])
    assert repo.prune("2026-01-01T00:00:03.000000Z") == 3
    assert [o.request_id for o in repo.observations("churn")] == ["r3", "r4"]
    assert repo.prune("2026-01-01T00:00:00.000000Z") == 0


def test_unstorable_values_are_refused(store) -> None:
    bad = ShadowObservation(
        request_id="x", model="churn", primary_version=1, shadow_version=2,
        created="2026-01-01T00:00:00.000000Z", rows=1, primary_labels=[object()],
        shadow_labels=[1], primary_scores=None, shadow_scores=None, primary_latency_ms=1.0,
        shadow_latency_ms=1.0, shadow_error=None)
    with pytest.raises(InvalidInput):
        SQLShadowStore(store).add_many([bad])
    assert SQLShadowStore(store).observations("churn") == []


def test_mirror_writes_through_the_store(store) -> None:
    repo = SQLShadowStore(store)
    with ShadowMirror(1.0, repo.add_many, batch_size=7) as mirror:
        for i in range(30):
            mirror.submit(lambda i=i: make(f"m{i:02d}", i))
    assert (mirror.mirrored, mirror.errors) == (30, 0)
    assert sorted(o.request_id for o in repo.observations("churn")) == \
        [f"m{i:02d}" for i in range(30)]


# -- the CLI ---------------------------------------------------------------------------

@pytest.fixture
def install(tmp_path, db_url, clock):
    settings = load_settings(home=tmp_path / "home", database_url=db_url)
    services, admin, key = initialize(settings, "root", clock=clock)
    client = services.accounts.create_principal(admin, "app", kind="service", roles=["client"])
    yield services, key.secret, client
    services.close()


def _invoke(services, args, *, api_key=None, principal=None):
    state = CLIState(api_key=api_key, _services=services, _principal=principal)
    return CliRunner().invoke(shadow_group, args, obj=state, catch_exceptions=False)


def test_cli_report(install) -> None:
    services, admin_key, _client = install
    empty = _invoke(services, ["report", "churn"], api_key=admin_key)
    assert empty.exit_code == 0 and "no mirrored requests" in empty.output
    SQLShadowStore(services.store).add_many(
        [make(f"a{i}", i) for i in range(6)] + [make("d1", 7, agree=False),
                                                make("e1", 8, error="model-timeout"),
                                                make("v2", 9, version=2)])
    result = _invoke(services, ["report", "churn", "--json"], api_key=admin_key)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # Version 3 is the newest: 8 requests, 16 rows; d1 loses one row, e1 both.
    assert (data["shadow_versions"], data["requests"]) == ([3], 8)
    assert (data["rows_compared"], data["rows_agreeing"]) == (16, 13)
    assert data["shadow_error_rate"] == 1 / 8
    assert [d["request_id"] for d in data["differences"]] == ["d1", "e1"]
    assert data["latency_ms"]["primary"]["count"] == 8
    older = json.loads(_invoke(services, ["report", "churn", "--version", "2", "--json"],
                               api_key=admin_key).output)
    assert older["requests"] == 1 and older["agreement"] == 1.0
    since = json.loads(_invoke(services, ["report", "churn", "--since", "2026-01-01T00:00:07Z",
                                          "--json"], api_key=admin_key).output)
    assert since["requests"] == 2
    text = _invoke(services, ["report", "churn"], api_key=admin_key)
    assert text.exit_code == 0
    assert "81.25%" in text.output and "model-timeout" in text.output and "d1" in text.output
    bad_time = _invoke(services, ["report", "churn", "--since", "yesterday"], api_key=admin_key)
    assert bad_time.exit_code == 2


def test_cli_report_requires_view_shadow_report(install) -> None:
    services, _, client = install
    result = _invoke(services, ["report", "churn"], principal=client)
    assert result.exit_code == 1
    denied = services.store.query(AuditQuery(action="view-shadow-report", outcome="denied"))
    assert [(e.actor, e.resource) for e in denied] == [("app", "model:churn")]
    assert _invoke(services, ["report", "churn"]).exit_code == 1  # No credentials at all.
