"""Issue 11, finding 1: one client erased other callers' decision records.

The client-chosen X-Request-ID was the decision records' primary key: re-sending one id
made whole writer batches fail, dropping everybody's records with nothing counted. Now
the key is the gateway's own id (the client's is echoed and recorded), a failing batch
is split until only the bad record is left, and every lost record is counted, alerted
and recorded. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from garrison.app import build_gateway, initialize
from garrison.config import load_settings
from garrison.demo import FEATURES, setup_demo
from garrison.storage.decisions_check import check_decisions
from garrison.storage.decisions_repo import SQLDecisionStore


@pytest.fixture
def gw(db_url, tmp_path) -> Iterator[tuple]:
    settings = load_settings(home=tmp_path / "home", database_url=db_url, rate_limit=1000.0,
                             rate_burst=1000, request_timeout=1.0)
    services, admin, _ = initialize(settings, "root")
    mallory = services.accounts.create_principal(admin, "mallory", kind="service",
                                                 roles=["client"])
    demo = setup_demo(services, admin, callers=("scoring-app", "mallory"))
    demo.keys["mallory"] = services.accounts.create_key(admin, mallory.name, days=1).secret
    app, state = build_gateway(services, settings, refresh_interval=0.2)
    with TestClient(app) as client:
        yield client, state, demo, services
    services.close()


def _predict(client, demo, who: str, i: int, headers: dict[str, str] | None = None):
    row = {n: float(demo.X[i % len(demo.X), j]) for j, n in enumerate(FEATURES)}
    return client.post("/v1/models/credit-risk/predict", json={"instances": [row]},
                       headers={"Authorization": f"Bearer {demo.keys[who]}", **(headers or {})})


def test_a_replayed_request_id_erases_nobody_s_records(gw) -> None:
    client, state, demo, services = gw
    answered: list[str] = []
    for i in range(60):
        mine = _predict(client, demo, "scoring-app", i)
        assert mine.status_code == 200
        answered.append(mine.json()["request_id"])
        attack = _predict(client, demo, "mallory", i, {"X-Request-ID": "same-id"})
        assert attack.status_code == 200
        assert attack.headers["x-request-id"] == "same-id"  # Echoed ...
        assert attack.json()["client_request_id"] == "same-id"
        assert attack.json()["request_id"] != "same-id"  # ... never the key.
        answered.append(attack.json()["request_id"])
    assert state.background[0].flush(20)
    repo = SQLDecisionStore(services.store)
    for rid in answered:  # Every caller's every answer has its record.
        assert repo.get(rid).request_id == rid
    assert repo.get(answered[1]).client_request_id == "same-id"
    report = check_decisions(services.store)
    assert report.ok and report.records == 120 and report.lost == 0
    assert state.background[0].dropped == 0


def test_a_decision_record_fetch_uses_the_gateway_id(gw) -> None:
    client, state, demo, services = gw
    answer = _predict(client, demo, "scoring-app", 1, {"X-Request-ID": "corr-7"})
    assert state.background[0].flush(20)
    rid = answer.json()["request_id"]
    got = client.get(f"/v1/decisions/{rid}",
                     headers={"Authorization": f"Bearer {demo.keys['carol']}"})
    assert got.status_code == 200 and got.json()["client_request_id"] == "corr-7"
    assert got.json()["integrity"]["verified"] is True
    assert client.get("/v1/decisions/corr-7", headers={
        "Authorization": f"Bearer {demo.keys['carol']}"}).status_code == 404
