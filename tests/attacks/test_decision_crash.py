"""Issue 11, "what it must show": kill -9 of `garrison serve` under load.

Clients keep predicting while the gateway is killed with SIGKILL (no drain, no flush).
Afterwards `garrison audit decisions` must say that answered predictions may lack a
record (never silent), and its bound must hold: the answered predictions without a
stored record are at most the number it reports, which is at most the worker's
decision window. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import httpx
import pytest
from click.testing import CliRunner

from garrison.app import build_services, initialize
from garrison.cli.main import cli
from garrison.config import load_settings
from garrison.demo import FEATURES, setup_demo
from garrison.storage.decisions_repo import SQLDecisionStore
from tests.gateway.serving import free_port, gateway_env, start, stop

WINDOW = 512
LEASE = 0.5


@pytest.mark.slow
def test_kill_minus_9_under_load_is_reported_and_bounded(tmp_path, db_url, monkeypatch) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=db_url, rate_limit=100_000.0,
                             rate_burst=100_000)
    services, admin, admin_key = initialize(settings, "root")
    demo = setup_demo(services, admin)
    services.close()
    port, log = free_port(), tmp_path / "server.log"
    env = gateway_env(home, GARRISON_DATABASE_URL=db_url, GARRISON_RATE_LIMIT="100000",
                      GARRISON_RATE_BURST="100000", GARRISON_DECISION_WINDOW=str(WINDOW),
                      GARRISON_DECISION_LEASE=str(LEASE))
    proc = start(["-m", "garrison", "serve", "--port", str(port)], env, port, log)
    answered: list[str] = []
    stop_load = threading.Event()
    row = {n: float(demo.X[0, j]) for j, n in enumerate(FEATURES)}
    body = json.dumps({"instances": [row]})
    headers = {"Authorization": f"Bearer {demo.keys['scoring-app']}",
               "Content-Type": "application/json", "X-Request-ID": "same-for-everyone"}

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while not stop_load.is_set():
                try:
                    r = client.post("/v1/models/credit-risk/predict", content=body,
                                    headers=headers)
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    answered.append(r.json()["request_id"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.time() + 60
        while len(answered) < 400 and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # No drain, no flush, no close.
        proc.wait(10)
    finally:
        stop_load.set()
        for t in threads:
            t.join(10)
        stop(proc)
    assert len(answered) >= 400, log.read_text()[-2000:]
    time.sleep(2 * LEASE + 0.5)  # The killed worker's lease runs out.

    services = build_services(settings)
    try:
        repo = SQLDecisionStore(services.store)
        unrecorded = 0
        for rid in set(answered):
            try:
                repo.get(rid)
            except Exception:
                unrecorded += 1
    finally:
        services.close()

    monkeypatch.setenv("GARRISON_HOME", str(home))
    monkeypatch.setenv("GARRISON_DATABASE_URL", db_url)
    result = CliRunner().invoke(cli, ["audit", "decisions", "--json"],
                                env={"GARRISON_API_KEY": admin_key.secret},
                                catch_exceptions=False)
    report = json.loads(result.stdout)
    assert result.exit_code == 1  # Never silent: the worker did not close its log.
    [writer] = report["writers"]
    assert writer["state"] == "unclosed"
    assert ("unclosed", writer["writer"]) in {(p["reason"], p.get("writer"))
                                             for p in report["problems"]}
    # The bound holds: every answered prediction without a record is counted, between
    # the known losses and the upper bound, which never exceeds the worker's window.
    # (Known losses may include answers the kill cut off before the client read them:
    # at most one per client thread.)
    assert writer["dropped"] == 0  # Nothing failed to store: only the tail was cut.
    assert report["lost"] <= unrecorded + len(threads)
    assert unrecorded <= report["lost"] + report["possibly_lost"] <= WINDOW
    assert writer["written"] >= len(set(answered)) - unrecorded
    print(f"answered {len(answered)}, unrecorded {unrecorded}, reported lost "
          f"{report['lost']} and up to {report['possibly_lost']} more (window {WINDOW})")
