"""The gateway attacked over real HTTP: one `garrison serve` process, every rejection path
with its status code, fallback on a model that hangs and on one that raises, the circuit
breaker opening and closing, load shedding, shadow traffic, output hardening,
explanations and decision records.

The server is started once for the module (tests/gateway/e2e_server.py): the real
uvicorn server and gateway app, with a fault switch on the model named ``flaky``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import math
import pickle
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from garrison.app import build_services, initialize
from garrison.config import load_settings
from garrison.demo import FEATURES, demo_schema, setup_demo
from garrison.serving.deployment import DeploymentConfig
from garrison.storage.shadow_repo import SQLShadowStore
from garrison.testing import configure_deployment
from tests.waiting import HANG_GUARD

from .serving import free_port, gateway_env, start, stop

pytestmark = pytest.mark.slow

BASE_CONFIG = {"callers": ["scoring-app"], "detection": "off", "rate_limit": 10_000.0,
               "rate_burst": 10_000}


@dataclass
class Live:
    base: str
    keys: dict[str, str]
    X: np.ndarray
    estimator: Any
    switch: Path
    log: Path
    settings: Any

    def post(self, model: str, instances: Any = None, *, key: str = "scoring-app",
             content: bytes | None = None, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        body = content if content is not None else json.dumps({"instances": instances})
        hdrs = {"authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.post(f"{self.base}/v1/models/{model}/predict", content=body,
                          params=params, headers={**hdrs, **(headers or {})}, timeout=10)

    def row(self, i: int = 0) -> dict[str, float]:
        return {n: float(self.X[i, j]) for j, n in enumerate(FEATURES)}


def _publish(services: Any, people: dict[str, Any], name: str, estimator: Any, X: np.ndarray,
             config: dict[str, Any] | None, stage: str = "production") -> None:
    """Register (alice), approve and promote (bob), and configure one model."""
    reg = services.registry
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(estimator, protocol=5))
        v = reg.register(people["alice"], name, path, metadata={
            "framework": "scikit-learn", "input_schema": demo_schema(X)})
    reg.approve(people["bob"], name, v.version, "e2e")
    reg.promote(people["bob"], name, v.version, stage=stage, reason="e2e")
    if config is not None:
        configure_deployment(services, name, DeploymentConfig.from_dict(
            {**BASE_CONFIG, **config}))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from sklearn.base import clone

    tmp = tmp_path_factory.mktemp("live")
    settings = load_settings(home=tmp / "home", database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={**BASE_CONFIG, "shadow_fraction": 1.0})
    people, X, estimator = demo.extra["people"], demo.X, demo.estimator
    flaky = clone(estimator).fit(X, estimator.predict(X))
    flaky.garrison_flaky_ = True  # The launcher wraps this model's runtime in the switch.
    _publish(services, people, "flaky", flaky, X, {
        "fallback": {"kind": "constant", "constant": "review"}, "timeout": 2.0,
        "breaker_failures": 3, "breaker_cooldown": 5.0})
    _publish(services, people, "tight", estimator, X, {"rate_limit": 0.001, "rate_burst": 3})
    _publish(services, people, "quota", estimator, X, {"daily_quota": 5})
    _publish(services, people, "hardened", estimator, X,
             {"output": {"mode": "top_k", "k": 1, "decimals": 2}})
    candidate = clone(estimator).fit(X, (X[:, 0] > 0).astype(int))  # Disagrees often.
    _publish(services, people, "credit-risk", candidate, X, None, stage="shadow")
    services.close()

    port, switch, log = free_port(), tmp / "fault", tmp / "server.log"
    env = gateway_env(settings.home, GARRISON_MAX_CONCURRENCY="2", GARRISON_BODY_TIMEOUT="1",
                      GARRISON_MAX_BATCH_ROWS="50", GARRISON_MAX_BODY_BYTES="65536",
                      GARRISON_HEADER_TIMEOUT="1", GARRISON_MAX_HEADER_BYTES="16384")
    proc = start(["-m", "tests.gateway.e2e_server", str(port), str(switch)], env, port, log)
    try:
        yield Live(f"http://127.0.0.1:{port}", demo.keys, X, estimator, switch, log, settings)
    finally:
        stop(proc)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert not any(secret in text for secret in demo.keys.values())


def _error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"} and body["error"]["request_id"] == r.headers["x-request-id"]
    return body["error"]


# -- authentication and authorization ---------------------------------------------------


def test_health_needs_no_credentials_and_everything_else_does(live: Live) -> None:
    live_answer = httpx.get(f"{live.base}/v2/health/live")
    assert live_answer.json() == {"live": True}
    assert "strict-transport-security" not in live_answer.headers  # Plain HTTP: no HSTS.
    assert httpx.get(f"{live.base}/v2/health/ready").status_code == 200
    for path in ("/v2", "/v2/models/credit-risk", "/metrics", "/openapi.json",
                 "/v1/decisions/x"):
        r = httpx.get(live.base + path)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    missing = live.post("credit-risk", [live.row()], key="")
    assert missing.status_code == 401 and _error(missing)["code"] == "unauthenticated"
    forged = httpx.post(f"{live.base}/v1/models/credit-risk/predict",
                        headers={"authorization": "Bearer gk_AAAAAAAA_" + "x" * 43},
                        content=json.dumps({"instances": [live.row()]}))
    assert forged.status_code == 401 and "gk_" not in forged.text


def test_roles_and_caller_lists_give_the_unknown_model_answer(live: Live) -> None:
    # A caller without access cannot tell the model from an unknown one (issue 11).
    auditor = live.post("credit-risk", [live.row()], key="carol")  # Auditors do not score.
    assert auditor.status_code == 404 and _error(auditor)["message"] == "not found"
    scientist = live.post("credit-risk", [live.row()], key="alice")
    assert scientist.status_code == 404
    metrics = httpx.get(f"{live.base}/metrics",
                        headers={"authorization": f"Bearer {live.keys['scoring-app']}"})
    assert metrics.status_code == 403


def test_unknown_model_and_wrong_method(live: Live) -> None:
    assert live.post("no-such-model", [live.row()]).status_code == 404
    r = httpx.get(f"{live.base}/v1/models/credit-risk/predict",
                  headers={"authorization": f"Bearer {live.keys['scoring-app']}"})
    assert r.status_code == 405 and "POST" in r.headers["allow"]


# -- validation and limits ----------------------------------------------------------------


def _rows(live: Live, change: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**live.row(), **change}]


@pytest.mark.parametrize("change,field,problem", [
    ({"ssn": "123-45-6789"}, "ssn", "unknown-field"),
    ({"f03": "high"}, "f03", "wrong-type"),
    ({"f03": 1e9}, "f03", "above-maximum"),
    ({"f03": None}, "f03", "null-not-allowed"),
])
def test_schema_violations_name_the_field(live: Live, change, field, problem) -> None:
    r = live.post("credit-risk", _rows(live, change))
    error = _error(r)
    assert r.status_code == 422 and error["field"] == field and error["problem"] == problem
    assert "123-45-6789" not in r.text  # Submitted values are never echoed.


def test_nan_infinity_malformed_deep_and_duplicate_keys(live: Live) -> None:
    row = json.dumps(live.row())
    nan = json.loads(row)
    nan["f01"] = float("nan")
    bodies = {
        "not-finite": json.dumps({"instances": [nan]}).encode(),
        "malformed-json": b'{"instances": [',
        "too-deep": b'{"instances": ' + b"[" * 40 + b"]" * 40 + b"}",
        "duplicate-key": f'{{"instances": [{row}], "instances": []}}'.encode(),
    }
    for problem, body in bodies.items():
        r = live.post("credit-risk", content=body)
        assert r.status_code == 422, (problem, r.text)
        assert _error(r)["problem"] == problem


def test_size_limits_answer_413(live: Live) -> None:
    big = live.post("credit-risk", content=b'{"instances": [' + b" " * 70_000 + b"]}")
    assert big.status_code == 413 and _error(big)["code"] == "payload-too-large"
    rows = live.post("credit-risk", [live.row(i) for i in range(51)])
    assert rows.status_code == 413


def test_a_slow_body_is_cut_off(live: Live) -> None:
    port = int(live.base.rsplit(":", 1)[1])
    body = json.dumps({"instances": [live.row()]}).encode()
    head = (f"POST /v1/models/credit-risk/predict HTTP/1.1\r\nhost: x\r\n"
            f"authorization: Bearer {live.keys['scoring-app']}\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=_HANG_GUARD) as sock:
        sock.sendall(head + body[:10])  # ... and the rest never comes.
        answer = sock.recv(65536)
        while b"slow-body" not in answer and (chunk := sock.recv(65536)):
            answer += chunk  # The body may come in a second segment.
    # The server gave up on the body itself (the socket's own timeout is only a hang guard).
    assert answer.startswith(b"HTTP/1.1 422") and b"slow-body" in answer


#: How long a raw socket waits for the server before the test calls it hung: it catches a
#: server that never answers, never a slow machine (the server's own 1 s deadlines are
#: what the tests below check, by the answer they get, not by a clock).
_HANG_GUARD = 60


def _raw(live: Live) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(live.base.rsplit(":", 1)[1])),
                                    timeout=_HANG_GUARD)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_connection_that_sends_nothing_is_closed(live: Live) -> None:
    with _raw(live) as sock:
        answer = _read_all(sock)  # The server closes it: recv returns b"".
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_slowloris_headers_are_cut_off(live: Live) -> None:
    """One header line every 0.3 s would keep a connection forever without a header
    deadline; with it, the connection gets 408 and is closed after about 1 s."""
    sent = 0
    with _raw(live) as sock:
        sock.sendall(b"POST /v1/models/credit-risk/predict HTTP/1.1\r\nhost: x\r\n")
        answer = b""
        with pytest.raises(OSError):  # Writing to the closed connection fails at last.
            for i in range(200):  # 60 s of trickling: the deadline must end it long before.
                time.sleep(0.3)
                sock.sendall(b"x-pad-%d: y\r\n" % i)
                sent += 1
                sock.settimeout(0.01)
                try:
                    answer += sock.recv(65536)
                except TimeoutError:
                    continue
                finally:
                    sock.settimeout(_HANG_GUARD)
    # Cut off while still trickling: the connection did not last for every line.
    assert answer.startswith(b"HTTP/1.1 408") and sent < 200, (answer, sent)


def test_oversized_headers_get_431(live: Live) -> None:
    with _raw(live) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: "
                     + b"a" * 20_000 + b"\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431")


def test_oversized_headers_sent_in_pieces_get_431(live: Live) -> None:
    """The limit counts every read of the header section, the first one included: 10 KB
    with the request line, then 2 x 4 KB, is 18 KB against a 16 KB limit."""
    with _raw(live) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-first: "
                     + b"a" * 10_000 + b"\r\n")
        for i in range(2):
            time.sleep(0.1)  # Separate reads on the server.
            with contextlib.suppress(OSError):
                sock.sendall(b"x-pad-%d: " % i + b"a" * 4_000 + b"\r\n")
        with contextlib.suppress(OSError):
            sock.sendall(b"\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


def test_keep_alive_requests_each_get_the_header_deadline(live: Live) -> None:
    """The deadline is re-armed for every request on a kept-alive connection: a fast
    first request is served, a slow second one is cut off."""
    with _raw(live) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        assert b"HTTP/1.1 408" not in first
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n")  # ... and nothing more.
        answer = _read_all(sock)
    assert b"HTTP/1.1 408" in answer


def _exchange(live: Live, raw: bytes) -> bytes:
    """Send ``raw``; return what came back before the server closed (it may close while
    the rest is still being sent)."""
    answer = b""
    with _raw(live) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(raw)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


@pytest.mark.parametrize("framing", [
    b"content-length: 4\r\ntransfer-encoding: chunked\r\n",  # CL.TE smuggling
    b"content-length: 5\r\ncontent-length: 6\r\n",  # two lengths
    b"x-a: b\r\n folded\r\n",  # obsolete line folding
])
def test_ambiguous_framing_is_refused(live: Live, framing: bytes) -> None:
    """Requests a proxy and the gateway could split differently never reach the app."""
    answer = _exchange(live, b"POST /v1/models/credit-risk/predict HTTP/1.1\r\nhost: x\r\n"
                       + f"authorization: Bearer {live.keys['scoring-app']}\r\n".encode()
                       + framing + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_a_chunked_body_over_the_limit_is_cut_off(live: Live) -> None:
    """No Content-Length to check up front: the running count stops it at 64 KiB."""
    chunk = b"a" * 30_000
    raw = (b"POST /v1/models/credit-risk/predict HTTP/1.1\r\nhost: x\r\n"
           + f"authorization: Bearer {live.keys['scoring-app']}\r\n".encode()
           + b"transfer-encoding: chunked\r\n\r\n"
           + (b"7530\r\n" + chunk + b"\r\n") * 20 + b"0\r\n\r\n")
    answer = _exchange(live, raw)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_rate_limit_answers_429_with_retry_after(live: Live) -> None:
    codes = [live.post("tight", [live.row()]) for _ in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert int(codes[3].headers["retry-after"]) >= 1 and _error(codes[3])["code"] == \
        "rate-limited"


def test_daily_quota_counts_rows(live: Live) -> None:
    assert live.post("quota", [live.row(i) for i in range(3)]).status_code == 200
    over = live.post("quota", [live.row(i) for i in range(3)])  # 6 rows > 5.
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    assert live.post("quota", [live.row(i) for i in range(2)]).status_code == 200


# -- failover -------------------------------------------------------------------------------


def _fault(live: Live, kind: str) -> None:
    live.switch.write_text(kind)


def _release(live: Live) -> None:
    """End the fault and wait until every hung model call has returned."""
    _fault(live, "")
    for _ in range(3_000):  # A hang guard of about a minute, not a speed goal.
        if not list(live.switch.parent.glob(f"{live.switch.name}.busy.*")):
            return
        time.sleep(0.02)
    raise AssertionError("a hung model call never returned")


def test_fallback_on_a_model_that_hangs(live: Live) -> None:
    _fault(live, "hang")
    try:
        # The model hangs until released below: an answer now came from the 2 s deadline.
        r = live.post("flaky", [live.row()])
    finally:
        _release(live)  # Let the hung call finish before the next test.
    assert r.status_code == 200
    assert r.json()["fallback"] == {"used": True, "reason": "model-timeout"}
    assert r.json()["predictions"] == [{"label": "review"}]


def test_fallback_on_a_model_that_raises_then_breaker_opens_and_closes(live: Live) -> None:
    assert "fallback" not in live.post("flaky", [live.row()]).json()
    _fault(live, "raise")
    try:
        reasons = [live.post("flaky", [live.row()]).json()["fallback"]["reason"]
                   for _ in range(5)]
    finally:
        _fault(live, "")
    assert "model-error" in reasons[:3] and reasons[-2:] == ["circuit-open"] * 2, reasons
    # Open: the model is not called even though it has recovered ...
    assert live.post("flaky", [live.row()]).json()["fallback"]["reason"] == "circuit-open"
    time.sleep(5.2)  # ... until the cooldown lets one trial call through, which closes it.
    assert "fallback" not in live.post("flaky", [live.row()]).json()
    assert "fallback" not in live.post("flaky", [live.row()]).json()


def test_overload_is_shed_with_503_and_retry_after(live: Live) -> None:
    _fault(live, "hang")  # Each request holds its slot for the 2 s deadline.
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            calls = [pool.submit(live.post, "flaky", [live.row()]) for _ in range(8)]
            first = next(concurrent.futures.as_completed(calls)).result()
            # While the two slots are held: health probes still pass (a liveness probe
            # failing under load would restart the pod), and an OIP caller is shed in
            # the OIP error shape.
            health = httpx.get(f"{live.base}/v2/health/live", timeout=10)
            oip = httpx.post(f"{live.base}/v2/models/flaky/infer", timeout=10, json={
                "inputs": [{"name": "input", "shape": [1, len(live.row())],
                            "datatype": "FP64", "data": list(live.row().values())}]},
                headers={"authorization": f"Bearer {live.keys['scoring-app']}"})
            answers = [call.result() for call in calls]
    finally:
        _release(live)
    codes = [r.status_code for r in answers]
    assert first.status_code == 503 and 200 in codes, codes
    shed = next(r for r in answers if r.status_code == 503)
    assert int(shed.headers["retry-after"]) >= 1 and _error(shed)["code"] == "overloaded"
    assert shed.headers["x-request-id"] == _error(shed)["request_id"]
    assert health.status_code == 200
    assert oip.status_code == 503 and oip.json()["code"] == "overloaded", oip.text
    assert isinstance(oip.json()["error"], str) and int(oip.headers["retry-after"]) >= 1


# -- responses ------------------------------------------------------------------------------


def test_shadow_traffic_is_recorded_and_never_changes_responses(live: Live) -> None:
    from garrison.serving.deployment import DeploymentConfig as Config

    policy = Config().output
    proba = live.estimator.predict_proba(live.X[:30])
    expected = policy.apply(proba, live.estimator.classes_).to_predictions()
    ids = []
    for i in range(30):
        body = live.post("credit-risk", [live.row(i)]).json()
        got = body["predictions"][0]
        assert body["model_version"] == 1 and got["label"] == expected[i]["label"]
        assert got["scores"] == pytest.approx(expected[i]["scores"], abs=1e-12)
        ids.append(body["request_id"])
    services = build_services(live.settings)
    try:
        store = SQLShadowStore(services.store)
        deadline = time.time() + HANG_GUARD
        seen: dict[str, Any] = {}
        while time.time() < deadline and not set(ids) <= set(seen):
            time.sleep(0.2)
            seen = {o.request_id: o for o in store.observations("credit-risk", limit=1000)}
    finally:
        services.close()
    assert set(ids) <= set(seen)
    observed = [seen[i] for i in ids]
    assert all(o.shadow_version == 2 and o.shadow_error is None for o in observed)
    assert any(o.shadow_labels != o.primary_labels for o in observed)  # It really differs.


def test_output_hardening_top_k(live: Live) -> None:
    predictions = live.post("hardened", [live.row(i) for i in range(5)]).json()["predictions"]
    assert all(set(p) == {"label", "top"} and len(p["top"]) == 1 for p in predictions)
    scores = [p["top"][0]["score"] for p in predictions]
    assert all(round(s, 2) == s for s in scores)


def test_explanations_sum_to_the_decision_function(live: Live) -> None:
    r = live.post("credit-risk", [live.row(i) for i in range(3)], params={"explain": "true"})
    decision = live.estimator.decision_function(live.X[:3])
    for exp, want in zip(r.json()["explanations"], decision, strict=True):
        assert math.isclose(exp["base_value"] + sum(exp["contributions"].values()), want,
                            abs_tol=1e-9)


def test_oip_v2_infer(live: Live) -> None:
    tensor = {"name": "input-0", "shape": [2, 20], "datatype": "FP64",
              "data": live.X[:2].ravel().tolist()}
    r = httpx.post(f"{live.base}/v2/models/credit-risk/infer", json={"inputs": [tensor]},
                   headers={"authorization": f"Bearer {live.keys['scoring-app']}"})
    assert r.status_code == 200 and r.json()["model_name"] == "credit-risk"
    assert any(o["shape"][0] == 2 for o in r.json()["outputs"])


def test_decisions_are_fetchable_by_auditors_only(live: Live) -> None:
    answer = live.post("credit-risk", [live.row(5)], headers={"x-request-id": "live-5"})
    rid = answer.json()["request_id"]
    # The client's id is echoed and recorded; the record's key is the gateway's own id.
    assert rid != "live-5" and answer.json()["client_request_id"] == "live-5"
    assert answer.headers["x-request-id"] == "live-5"
    url = f"{live.base}/v1/decisions/{rid}"
    deadline = time.time() + HANG_GUARD
    while True:
        r = httpx.get(url, headers={"authorization": f"Bearer {live.keys['carol']}"})
        if r.status_code == 200 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == 200 and r.json()["caller"] == "scoring-app"
    assert r.json()["client_request_id"] == "live-5"
    assert r.json()["inputs"] is None  # The default privacy policy keeps no inputs.
    assert r.json()["integrity"]["verified"] is True
    denied = httpx.get(url, headers={"authorization": f"Bearer {live.keys['scoring-app']}"})
    assert denied.status_code == 403


def test_metrics_count_what_happened(live: Live) -> None:
    live.post("credit-risk", [live.row()])
    live.post("credit-risk", [{"nope": 1}])
    live.post("credit-risk", [live.row()], key="")
    text = httpx.get(f"{live.base}/metrics",
                     headers={"authorization": f"Bearer {live.keys['carol']}"}).text
    assert 'garrison_requests_total{model="credit-risk",outcome="ok",version="1"}' in text
    assert 'garrison_http_responses_total{status="422"}' in text
    assert 'garrison_http_responses_total{status="401"}' in text
