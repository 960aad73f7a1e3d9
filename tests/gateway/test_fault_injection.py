"""Fault injection over real HTTP (issue 12): one model raises on some rows, one hangs,
one loses its artifact while serving. Each is isolated (the others answer 200, the
server stays ready), visible in the metrics and the log, and recovered by a rollback
without restarting the server.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from garrison.app import build_services, initialize
from garrison.config import load_settings
from garrison.demo import setup_demo
from tests.waiting import eventually

from .models import add_model, artifact_path, row
from .serving import free_port, gateway_env, start, stop


def _metric(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def faulty(tmp_path):
    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, root = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"rate_limit": 10_000.0, "rate_burst": 10_000})
    config = {"rate_limit": 10_000.0, "rate_burst": 10_000, "breaker_failures": 50}
    for name, fault in (("rows", "rows"), ("hang", "hang"), ("gone", "")):
        add_model(services, demo, name, config=config)  # Version 1 is sound.
        add_model(services, demo, name, seed=12, config=config,  # Version 2 is not.
                  attrs={"garrison_fault_": fault} if fault else None)
    services.close()
    port, log, switch = free_port(), tmp_path / "server.log", tmp_path / "switch"
    proc = start(["-m", "tests.gateway.fault_server", str(port), str(switch)],
                 gateway_env(home, GARRISON_REQUEST_TIMEOUT="1.0"), port, log)
    services = build_services(settings)
    try:
        yield f"http://127.0.0.1:{port}", demo, root.secret, services, settings, proc, log
    finally:
        switch.write_text("release")
        stop(proc)
        services.close()


@pytest.mark.slow
def test_raising_hanging_and_deleted_models_are_isolated_visible_and_rolled_back(
        faulty) -> None:
    base, demo, root, services, settings, proc, log = faulty
    key = {"Authorization": f"Bearer {demo.keys['scoring-app']}"}
    admin = {"Authorization": f"Bearer {root}"}
    bob = demo.extra["people"]["bob"]
    low = next(i for i in range(len(demo.X)) if demo.X[i, 0] < 0.5)
    high = next(i for i in range(len(demo.X)) if demo.X[i, 0] > 1.5)
    client = httpx.Client(base_url=base, timeout=30)

    def predict(name: str, *rows: int) -> httpx.Response:
        body = {"instances": [row(demo.X, i) for i in rows or (low,)]}
        return client.post(f"/v1/models/{name}/predict", headers=key, content=json.dumps(body))

    def healthy() -> None:
        assert predict(demo.model).status_code == 200
        assert client.get("/v2/health/ready").status_code == 200

    # 1. Raises on some rows: those batches get an opaque 503, the rest are answered.
    assert predict("rows", low).status_code == 200
    failed = predict("rows", low, high)
    assert failed.status_code == 503 and "injected" not in failed.text
    assert failed.json()["error"]["code"] == "model-unavailable"
    healthy()

    # 2. Hangs: the deadline answers 503 while every other model keeps answering.
    with ThreadPoolExecutor(2) as pool:
        hung = pool.submit(predict, "hang")
        eventually(lambda: "model error: hang:2" in log.read_text() or hung.done(),
                   "the hung call reaches its deadline")
        healthy()
        assert hung.result().status_code == 503
    healthy()

    # 3. The artifact is deleted while serving: the loaded model answers until the
    # next load; then the model is unavailable on its own, with the reason.
    artifact_path(settings.home, "gone", 2).unlink()
    assert predict("gone").status_code == 200
    services.deployments.configure(bob, "gone", {"timeout": 3.0})  # Makes it reload.
    eventually(lambda: client.get("/v2/models/gone/ready", headers=key).status_code == 503,
               "the deleted artifact is noticed at the reload")
    assert client.get("/v2/models/gone/ready", headers=key).json()["reason"] == \
        "decryption-failed"
    assert predict("gone").status_code == 503
    healthy()

    text = client.get("/metrics", headers=admin).text
    assert _metric(text, 'garrison_model_errors_total{kind="exception",model="rows",'
                         'version="2"}') == 1
    assert _metric(text, 'garrison_model_errors_total{kind="timeout",model="hang",'
                         'version="2"}') == 1
    assert _metric(text, 'garrison_model_ready{model="gone",role="primary"}') == 0
    assert _metric(text, f'garrison_model_ready{{model="{demo.model}",role="primary"}}') == 1
    out = log.read_text()
    rid = failed.json()["error"]["request_id"]
    assert re.search(rf"model error: rows:2 exception \(ValueError: injected failure.*{rid}",
                     out)
    assert "model error: hang:2 timeout" in out
    assert "gone:2 cannot serve as primary (decryption-failed" in out

    # 4. Recovery: a rollback of each, no restart.
    for name in ("rows", "hang", "gone"):
        services.registry.rollback(bob, name, reason="fault found")
    for name in ("rows", "hang", "gone"):
        eventually(lambda name=name: predict(name, low, high).status_code == 200,
                   f"{name} answers again after the rollback")
        assert client.get(f"/v2/models/{name}/ready", headers=key).json()["ready"] is True
    text = client.get("/metrics", headers=admin).text
    assert _metric(text, 'garrison_model_ready{model="gone",role="primary"}') == 1
    assert proc.poll() is None and log.read_text().count("Application startup complete") == 1
    client.close()
