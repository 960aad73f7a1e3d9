"""One model that cannot serve never takes the gateway or another model down (issue 12).

In process (the gateway app over a real SQLite installation): a production version
whose artifact is gone is unavailable on its own, with the reason in its readiness
(the code), the log, the audit trail, the metrics and ``deploy show``; the server
stays ready and the other model answers; the load is tried again with backoff and the
model serves once its artifact is back, without a restart. A model that raises is
logged with the request id, counted by kind, recorded, and the caller gets an opaque
503 (or the fallback).
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from starlette.testclient import TestClient

from garrison.app import build_gateway
from garrison.audit import AuditQuery

from .conftest import auth
from .models import add_model, artifact_path, row


def _predict(client, key, name, X, **headers):  # type: ignore[no-untyped-def]
    return client.post(f"/v1/models/{name}/predict", json={"instances": [row(X)]},
                       headers={**auth(key), **headers})


def _wait(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time (hang guard)"
        time.sleep(0.1)


@pytest.fixture
def two_models(installation):
    settings, services, demo = installation
    version = add_model(services, demo, "second")
    return settings, services, demo, version


def test_a_model_whose_artifact_is_gone_is_unavailable_alone_and_recovers(
        two_models, caplog, monkeypatch) -> None:
    settings, services, demo, version = two_models
    blob = artifact_path(settings.home, "second", version)
    saved = blob.read_bytes()
    blob.unlink()  # What a database or disk accident leaves in production.
    key = demo.keys["scoring-app"]
    app, state = build_gateway(services, settings, refresh_interval=0.2)
    with caplog.at_level(logging.INFO, logger="garrison.gateway"), TestClient(app) as client:
        # Startup did not exit; the server is ready and the other model answers.
        assert client.get("/v2/health/ready").status_code == 200
        assert _predict(client, key, demo.model, demo.X).status_code == 200
        r = client.get("/v2/models/second/ready", headers=auth(key))
        assert r.status_code == 503
        assert r.json() == {"name": "second", "ready": False, "reason": "decryption-failed"}
        assert client.get(f"/v2/models/{demo.model}/ready", headers=auth(key)).json() == \
            {"name": demo.model, "ready": True}
        # Callers get an opaque 503, never the reason.
        r = _predict(client, key, "second", demo.X)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "model-unavailable"
        assert "artifact" not in r.text
        # A caller not allowed to call it learns nothing: the answer of an unknown name.
        assert _predict(client, demo.keys["carol"], "second", demo.X).status_code == 404
        assert _predict(client, demo.keys["carol"], "nosuch", demo.X).status_code == 404
        metrics = client.get("/metrics", headers=auth(demo.keys["root"])).text
        assert 'garrison_model_ready{model="second",role="primary"} 0.0' in metrics
        assert f'garrison_model_ready{{model="{demo.model}",role="primary"}} 1.0' in metrics
        assert "process_resident_memory_bytes" in metrics
        assert any("second:1 cannot serve as primary (decryption-failed" in m
                   for m in caplog.messages)
        state.background[4].flush()  # The audit writer.
        [event] = services.store.query(AuditQuery(action="serve-model-version",
                                                  resource="model:second"))
        assert event.outcome == "failed" and event.reason == "decryption-failed"
        bob = demo.extra["people"]["bob"]
        [shown] = services.deployments.serving(bob, "second")
        assert shown["ready"] is False and shown["code"] == "decryption-failed"
        assert "missing" in shown["reason"]
        # The same on the CLI: `garrison deploy show second`.
        from click.testing import CliRunner

        from garrison.cli.main import cli

        monkeypatch.setenv("GARRISON_HOME", str(settings.home))
        monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
        shown_cli = CliRunner().invoke(cli, ["deploy", "show", "second"],
                                       env={"GARRISON_API_KEY": demo.keys["bob"]})
        assert shown_cli.exit_code == 0, shown_cli.output
        [role] = json.loads(shown_cli.stdout)["serving"]
        assert role["role"] == "primary" and role["code"] == "decryption-failed"
        alerts = services.alerts.list(kind="model-not-served")
        assert [a.caller for a in alerts] == ["model:second"]

        blob.write_bytes(saved)  # Recovered by the retry with backoff, no restart.
        _wait(lambda: client.get("/v2/models/second/ready",
                                 headers=auth(key)).status_code == 200)
        assert _predict(client, key, "second", demo.X).status_code == 200
        state.background[4].flush()
        assert services.deployments.serving(bob, "second")[0]["ready"] is True
        assert any("second:1 serves as primary" in m for m in caplog.messages)


def test_a_model_that_raises_is_logged_counted_recorded_and_opaque(gateway, caplog) -> None:
    client, state, demo, services = gateway
    key = demo.keys["scoring-app"]
    serving = state.dataplane.table.entries[demo.model]

    class Raising:
        inline = False
        kind = serving.primary.runtime.kind
        model = serving.primary.runtime.model

        def predict(self, X):  # type: ignore[no-untyped-def]
            raise ValueError("broken feature pipeline")

    serving.primary.runtime = Raising()  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="garrison.models"):
        r = _predict(client, key, demo.model, demo.X, **{"x-request-id": "client-1"})
    assert r.status_code == 503
    body = r.json()["error"]
    assert body["code"] == "model-unavailable" and "broken" not in r.text
    rid = body["request_id"]
    assert any(rid in m and "exception" in m and "broken feature pipeline" in m
               for m in caplog.messages)
    metrics = client.get("/metrics", headers=auth(demo.keys["root"])).text
    assert (f'garrison_model_errors_total{{kind="exception",model="{demo.model}",version="1"}}'
            ' 1.0') in metrics
    assert 'outcome="error",version="1"} 1.0' in metrics
    assert state.background[0].flush()
    record = client.get(f"/v1/decisions/{rid}", headers=auth(demo.keys["carol"])).json()
    assert record["fallback"] == "unanswered;model-error" and record["outputs"] == []

    # With a constant fallback the caller is answered, and the error still counts.
    services.deployments.configure(demo.extra["people"]["bob"], demo.model,
                                   {"fallback": {"kind": "constant", "constant": "review"}})
    _wait(lambda: state.dataplane.table.entries[demo.model] is not serving)
    state.dataplane.table.entries[demo.model].primary.runtime = Raising()  # type: ignore[assignment]
    r = _predict(client, key, demo.model, demo.X)
    assert r.status_code == 200 and r.json()["fallback"]["reason"] == "model-error"
    metrics = client.get("/metrics", headers=auth(demo.keys["root"])).text
    assert (f'garrison_model_errors_total{{kind="exception",model="{demo.model}",version="1"}}'
            ' 2.0') in metrics


def test_a_schemaless_version_put_into_production_by_sql_is_isolated(installation) -> None:
    """A version registered without an input schema (as the SDK or the admin API may)
    cannot be promoted; put into production by editing the database, it is unavailable
    on its own with the reason, and the gateway still starts and serves the others."""
    import pickle
    import tempfile
    from pathlib import Path

    from sqlalchemy import update

    from garrison.demo import demo_model
    from garrison.errors import GarrisonError
    from garrison.storage.tables import model_versions

    settings, services, demo = installation
    people = demo.extra["people"]
    estimator, _ = demo_model(5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(estimator, protocol=5))
        v = services.registry.register(people["alice"], "bare", path)
    with pytest.raises(GarrisonError):  # Refused before production.
        services.registry.approve(people["bob"], "bare", v.version, "ok")
    with services.store.write() as tx:  # The database administrator does it anyway.
        tx.conn.execute(update(model_versions).where(
            (model_versions.c.name == "bare") & (model_versions.c.version == v.version)
        ).values(stage="production"))
    services.deployments.configure(people["bob"], "bare", {"callers": ["scoring-app"]})
    key = demo.keys["scoring-app"]
    app, state = build_gateway(services, settings, refresh_interval=0.2)
    with TestClient(app) as client:
        assert client.get("/v2/health/ready").status_code == 200
        assert _predict(client, key, demo.model, demo.X).status_code == 200
        r = client.get("/v2/models/bare/ready", headers=auth(key))
        assert r.status_code == 503 and r.json()["ready"] is False
        down = state.dataplane.table.unavailable("bare")
        # The reason: no input schema (or, where governance state is checked against the
        # signed trail, no approval for it); either way, named.
        assert down is not None and down.code and down.message
        assert _predict(client, key, "bare", demo.X).status_code == 503


def test_a_failing_refresh_keeps_serving_retries_with_backoff_and_alerts(gateway,
                                                                        caplog) -> None:
    """The registry cannot be read (the database went away): the models loaded keep
    serving, the failure is logged with its count, alerted, and retried until it works."""
    client, state, demo, services = gateway
    builder = next(b for b in state.background if type(b).__name__ == "TableBuilder")
    real = builder.current_signature
    calls = {"n": 0}

    def broken():  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise ConnectionError("database unreachable")

    with caplog.at_level(logging.INFO, logger="garrison.gateway"):
        builder.current_signature = broken  # type: ignore[method-assign]
        _wait(lambda: calls["n"] >= 2)
        assert _predict(client, demo.keys["scoring-app"], demo.model, demo.X).status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
        builder.current_signature = real  # type: ignore[method-assign]
        _wait(lambda: any("works again" in m for m in caplog.messages))
    assert any("refresh failed (1 in a row" in m for m in caplog.messages)
    assert any("refresh failed (2 in a row" in m for m in caplog.messages)
    [alert] = services.alerts.list(kind="gateway-refresh-failed")
    assert alert.detail["failures"] == 1


def test_a_failed_load_waits_out_a_doubling_backoff(two_models) -> None:
    """The table builder tries a failed version again only once its delay has passed,
    doubling the delay after each failure; a change of its config tries at once."""
    from garrison.serving.limits import LimitPolicy, MemoryRateLimiter
    from garrison.serving.table import TableBuilder

    settings, services, demo, version = two_models
    artifact_path(settings.home, "second", version).unlink()
    now = {"t": 100.0}
    changes: list[tuple[str, bool]] = []
    builder = TableBuilder(
        services.registry, services.loader, services.deployments,
        lambda name, policy: MemoryRateLimiter(policy), max_body_bytes=1 << 20,
        max_rows=100, defaults=LimitPolicy(rate=10.0, burst=10, daily_quota=None),
        retry_base=2.0, on_change=lambda s, _: changes.append((s.name, s.ready)),
        monotonic=lambda: now["t"])

    def attempts() -> int:
        down = builder.build().unavailable("second")
        assert down is not None
        return down.attempts

    assert attempts() == 1 and not builder.retry_due()
    now["t"] += 1.9
    assert attempts() == 1  # Not tried again before its delay (2 s).
    now["t"] += 0.2
    assert builder.retry_due() and attempts() == 2
    now["t"] += 3.9
    assert not builder.retry_due() and attempts() == 2  # The delay doubled (4 s).
    now["t"] += 0.2
    assert attempts() == 3
    services.deployments.configure(demo.extra["people"]["bob"], "second", {"timeout": 3.0})
    assert attempts() == 1  # A new config is a new try, at once.
    # One change reported per state, not one per attempt.
    assert changes.count(("second", False)) == 1 and ("credit-risk", True) in changes
