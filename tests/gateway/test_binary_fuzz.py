"""A fuzz of the binary tensor data extension: any framing gets 400 or 413 (or a valid
answer), never a 5xx, an exception or a hang.

Hypothesis varies the declared header length, each input's ``binary_data_size``, the
shape, the datatype and the bytes actually sent (truncated, padded, huge declared
sizes), on the real gateway app in process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from garrison.app import build_gateway, initialize
from garrison.config import load_settings
from garrison.demo import setup_demo

DATATYPES = ["BOOL", "INT8", "INT32", "INT64", "UINT8", "UINT64", "FP16", "FP32", "FP64",
             "BYTES", "FP128", ""]
SIZES = st.one_of(st.integers(min_value=-10, max_value=4000),
                  st.sampled_from([2**31, 2**63, 10**30, 0]), st.text(max_size=3),
                  st.floats(allow_nan=True), st.none())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("binfuzz") / "home"
    config = load_settings(home=home, database_url=None, rate_limit=1e6, rate_burst=10**6,
                           daily_quota=None, max_body_bytes=65_536)
    services, admin, _ = initialize(config, "root")
    demo = setup_demo(services, admin, config={"detection": "off"})
    app, _ = build_gateway(services, config, refresh_interval=30.0)
    with TestClient(app) as client:
        yield client, demo
    services.close()


@st.composite
def framings(draw: Any) -> tuple[bytes, str]:
    inputs = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        tensor: dict[str, Any] = {
            "name": draw(st.sampled_from(["input", "f00", "x"])),
            "datatype": draw(st.sampled_from(DATATYPES)),
            "shape": draw(st.lists(st.integers(min_value=-2, max_value=2**40), min_size=0,
                                   max_size=3)),
            "parameters": {"binary_data_size": draw(SIZES)},
        }
        if draw(st.booleans()):
            tensor["data"] = [0.0] * draw(st.integers(min_value=0, max_value=40))
        inputs.append(tensor)
    header = json.dumps({"inputs": inputs}).encode()
    payload = draw(st.binary(max_size=4096))
    declared = draw(st.one_of(st.just(str(len(header))), st.integers(
        min_value=-5, max_value=10**7).map(str), st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=6)))
    return header + payload, declared


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(framing=framings())
def test_random_binary_framing_never_breaks_the_gateway(gateway, framing) -> None:
    client, demo = gateway
    body, declared = framing
    r = client.post("/v2/models/credit-risk/infer", content=body, headers={
        "Authorization": f"Bearer {demo.keys['scoring-app']}",
        "Inference-Header-Content-Length": declared})
    assert r.status_code in (200, 400, 413, 422), (r.status_code, r.text[:300])
    if r.status_code != 200:
        assert r.json()["code"] in ("malformed-request", "schema-violation", "invalid-input",
                                    "payload-too-large")


@pytest.mark.parametrize("case", ["huge-declared-size", "huge-shape", "huge-count-bytes",
                                  "truncated", "over-the-body-limit"])
def test_hostile_sizes_are_refused_cheaply(gateway, case) -> None:
    """Declared sizes are checked against what arrived before anything is allocated."""
    client, demo = gateway
    raw = np.zeros((2, 20)).tobytes()
    tensor: dict[str, Any] = {"name": "input", "shape": [2, 20], "datatype": "FP64",
                              "parameters": {"binary_data_size": len(raw)}}
    expected = 400
    if case == "huge-declared-size":
        tensor["parameters"]["binary_data_size"] = 2**62
    elif case == "huge-shape":
        tensor["shape"] = [2**40, 2**20]
    elif case == "huge-count-bytes":
        tensor.update(datatype="BYTES", shape=[1])
        raw = (2**31).to_bytes(4, "little") + b"x" * (len(raw) - 4)
    elif case == "truncated":
        raw = raw[:-1]
        tensor["parameters"]["binary_data_size"] = len(raw) + 1
    else:
        raw = b"\x00" * 70_000
        tensor["parameters"]["binary_data_size"] = len(raw)
        expected = 413
    header = json.dumps({"inputs": [tensor]}).encode()
    r = client.post("/v2/models/credit-risk/infer", content=header + raw, headers={
        "Authorization": f"Bearer {demo.keys['scoring-app']}",
        "Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == expected, r.text
