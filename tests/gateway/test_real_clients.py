"""Real OIP clients from PyPI against a live `garrison serve` (HTTP and gRPC ports).

tritonclient (HTTP with JSON and binary data, and gRPC) and kserve (InferenceRESTClient
v1 and v2, InferenceGRPCClient) run in their own venv (see ``clients_venv.py`` for why)
and call health, metadata and inference; the answers must equal the model's own
predictions. Each is refused without credentials and with a caller that is not on the
deployment's list, with the protocol's status for it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from garrison.app import initialize
from garrison.config import load_settings
from garrison.demo import FEATURES, setup_demo

from .clients_venv import clients_python
from .serving import free_port, gateway_env, start, stop

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).parent / "clients" / "oip_clients.py"
ROWS = 8


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    python = clients_python()  # Built (once per machine) before the server starts.
    tmp = tmp_path_factory.mktemp("clients")
    settings = load_settings(home=tmp / "home", database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"detection": "off"})
    services.accounts.create_principal(admin, "other-app", kind="service", roles=["client"])
    outsider = services.accounts.create_key(admin, "other-app", name="t", days=1).secret
    services.close()
    port, grpc_port, log = free_port(), free_port(), tmp / "server.log"
    env = gateway_env(settings.home)
    proc = start(["-m", "garrison", "serve", "--port", str(port), "--grpc-port",
                  str(grpc_port)], env, port, log)
    job = {"http": f"127.0.0.1:{port}", "grpc": f"127.0.0.1:{grpc_port}",
           "model": "credit-risk", "key": demo.keys["scoring-app"], "outsider": outsider,
           "X": demo.X[:ROWS].tolist(), "features": FEATURES}
    try:
        yield python, job, demo
    finally:
        stop(proc)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert not any(secret in text for secret in [*demo.keys.values(), outsider])


def _run(live: Any, client: str) -> dict[str, Any]:
    python, job, _ = live
    result = subprocess.run([str(python), str(SCRIPT), client], input=json.dumps(job),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _expected(demo: Any) -> tuple[list[int], np.ndarray]:
    X = demo.X[:ROWS]
    return demo.estimator.predict(X).tolist(), demo.estimator.predict_proba(X)


def test_tritonclient_http_json_and_binary(live) -> None:
    out = _run(live, "triton-http")
    labels, proba = _expected(live[2])
    assert out["live"] and out["ready"] and out["model_ready"]
    assert "binary_tensor_data" in out["server"]["extensions"]
    assert [o["name"] for o in out["metadata"]["outputs"]] == ["label", "classes",
                                                               "probabilities"]
    assert out["version_metadata"] == out["metadata"]
    assert [i["name"] for i in out["metadata"]["inputs"]] == FEATURES
    assert out["json"]["label"] == labels and out["json"]["id"] == "triton-json"
    assert np.allclose(out["json"]["probabilities"], proba)
    assert out["binary"]["names"] == ["probabilities", "label"]  # The order asked for.
    assert out["binary"]["label"] == labels
    assert np.allclose(out["binary"]["probabilities"], proba)
    X32 = live[2].X[:ROWS].astype(np.float32).astype(np.float64)
    assert out["fp32_label"] == live[2].estimator.predict(X32).tolist()
    assert out["per_feature_label"] == labels
    assert (out["no_credentials"], out["outsider"], out["outsider_metadata"]) == (
        "401", "404", "404")


def test_tritonclient_grpc(live) -> None:
    out = _run(live, "triton-grpc")
    labels, proba = _expected(live[2])
    assert out["live"] and out["ready"] and out["model_ready"]
    assert out["server"]["name"] == "garrison"
    assert [o["name"] for o in out["metadata"]["outputs"]] == ["label", "classes",
                                                               "probabilities"]
    assert out["infer"]["label"] == labels and out["infer"]["id"] == "triton-grpc"
    assert np.allclose(out["infer"]["probabilities"], proba)
    assert out["only_label"] == ["label"]
    assert (out["no_credentials"], out["outsider"]) == ("UNAUTHENTICATED", "NOT_FOUND")


def test_kserve_rest_v2(live) -> None:
    out = _run(live, "kserve-v2")
    labels, proba = _expected(live[2])
    assert out["live"] and out["ready"] and out["model_ready"]
    assert out["infer"]["label"] == labels and out["infer"]["id"] == "ks-1"
    assert out["infer"]["model_name"] == "credit-risk"
    assert np.allclose(out["infer"]["probabilities"], proba)
    assert out["binary_label"] == labels
    assert (out["no_credentials"], out["outsider"]) == ("401", "404")


def test_kserve_rest_v1(live) -> None:
    out = _run(live, "kserve-v1")
    labels, _ = _expected(live[2])
    assert out["live"] and out["model_ready"]
    assert out["predictions"] == labels and out["named_predictions"] == labels
    assert (out["no_credentials"], out["outsider"]) == ("401", "404")


def test_kserve_grpc(live) -> None:
    out = _run(live, "kserve-grpc")
    labels, proba = _expected(live[2])
    assert out["live"] and out["ready"] and out["model_ready"]
    assert [o["name"] for o in out["metadata"]["outputs"]] == ["label", "classes",
                                                               "probabilities"]
    assert out["infer"]["label"] == labels and out["infer"]["id"] == "ksg"
    assert np.allclose(out["infer"]["probabilities"], proba)
    assert (out["no_credentials"], out["outsider"]) == ("UNAUTHENTICATED", "NOT_FOUND")


def test_garrison_sdk_against_the_live_gateway(live) -> None:
    """Garrison's own InferenceClient, sync and async, on the same live server."""
    import asyncio

    from garrison.client import AsyncInferenceClient, InferenceClient
    from garrison.errors import AuthenticationFailed, ModelNotFound

    _, job, demo = live
    labels, proba = _expected(demo)
    X = demo.X[:ROWS]
    url = f"http://{job['http']}"
    with InferenceClient(url, job["key"]) as client:
        assert client.live() and client.ready() and client.model_ready("credit-risk", 1)
        assert [o["name"] for o in client.model_metadata("credit-risk")["outputs"]] == [
            "label", "classes", "probabilities"]
        rows = [dict(zip(FEATURES, map(float, r), strict=True)) for r in X]
        assert client.predict("credit-risk", rows).labels == labels
        for binary in (False, True):
            answer = client.infer("credit-risk", X, binary=binary)
            assert answer.output("label").data == labels
            assert np.allclose(answer.output("probabilities").as_numpy(), proba)
        columns = client.infer("credit-risk", {f: X[:, j] for j, f in enumerate(FEATURES)},
                               outputs=["label"])
        assert [t.name for t in columns.outputs] == ["label"]
    with InferenceClient(url, job["outsider"]) as outsider, pytest.raises(ModelNotFound):
        outsider.predict("credit-risk", rows)
    with InferenceClient(url, "gk_000000000000_" + "A" * 43) as forged, pytest.raises(
            AuthenticationFailed):
        forged.infer("credit-risk", X)

    async def concurrent() -> list[list[int]]:
        async with AsyncInferenceClient(url, job["key"]) as client:
            answers = await asyncio.gather(*(client.infer("credit-risk", X[i:i + 2])
                                             for i in range(0, ROWS, 2)))
            return [a.output("label").data for a in answers]

    assert [label for part in asyncio.run(concurrent()) for label in part] == labels
