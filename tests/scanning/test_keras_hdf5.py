"""Keras configs and HDF5 structure: each rule, the policy, and hostile structures."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import h5py
import numpy as np
import pytest

from garrison.scanning import DEFAULT_POLICY, scan_bytes
from garrison.scanning._hdf5 import HDF5Error, HDF5File
from garrison.scanning.context import ScanContext
from garrison.scanning.keras_scan import check_keras_config

from .conftest import load_generator

load_generator()
import corpus_keras  # noqa: E402


def keras_rules(config: Any, policy: Any = DEFAULT_POLICY) -> set[str]:
    ctx = ScanContext.root(policy)
    check_keras_config(config, ctx)
    return {f.rule_id for f in ctx.findings}


def layer(cls: str, module: str | None = "keras.layers", registered: Any = None,
          **config: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"class_name": cls, "config": config}
    if module is not None:
        node.update(module=module, registered_name=registered)
    return node


def model(*layers: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "m", "layers": list(layers)}}


@pytest.mark.parametrize(("label", "config", "expected"), [
    ("plain layers", model(layer("Dense", units=2, activation="relu"), layer("Dropout")),
     set()),
    ("legacy names", {"class_name": "Sequential", "config": {"layers": [
        layer("Dense", None, kernel_initializer={"class_name": "GlorotUniform",
                                                 "config": {}})]}}, set()),
    ("an inline vocabulary", model(layer("StringLookup", vocabulary=["a", "b>c"])), set()),
    ("a TFOpLambda doing arithmetic", model(layer("TFOpLambda", None, function="math.add")),
     set()),
    ("keras function by name", model(layer("Dense", activation={
        "module": "keras.activations", "class_name": "function", "config": "relu",
        "registered_name": "relu"})), set()),
    ("a builtins function name", model(layer("Dense", activation={
        "module": "builtins", "class_name": "function", "config": "gelu",
        "registered_name": "function"})), set()),
    ("a Lambda", model(layer("Lambda", function={"class_name": "__lambda__", "config": {}})),
     {"keras-lambda-layer"}),
    ("TorchModuleWrapper", model(layer("TorchModuleWrapper", module="b64")),
     {"keras-lambda-layer"}),
    ("an unknown marker", model({"class_name": "__exec__", "config": {}}),
     {"keras-untrusted-object"}),
    ("function from os", model(layer("Dense", activation={
        "module": "os", "class_name": "function", "config": "system"})),
     {"keras-untrusted-object"}),
    ("builtins function not in keras", model(layer("Dense", activation={
        "module": "builtins", "class_name": "function", "config": "eval"})),
     {"keras-untrusted-object"}),
    ("a custom registered function", model(layer("Dense", activation={
        "module": "keras.activations", "class_name": "function", "config": "relu",
        "registered_name": "evil>relu"})), {"keras-untrusted-object"}),
    ("a custom activation name", model(layer("Dense", activation="evil>act")),
     {"keras-untrusted-object"}),
    ("a class from a non-keras module", model(layer("Popen", "subprocess")),
     {"keras-untrusted-object"}),
    ("keras module, unknown class", model(layer("NotALayer")), {"keras-untrusted-object"}),
    ("utils function as class", model(layer("get_file", "keras.utils")),
     {"keras-untrusted-object"}),
    ("__main__ class", model(layer("MyLayer", "__main__", "MyLayer")),
     {"keras-untrusted-object"}),
    ("legacy unknown class", {"class_name": "Sequential", "config": {"layers": [
        layer("EvilLayer", None)]}}, {"keras-untrusted-object"}),
    ("TFOpLambda doing io", model(layer("TFOpLambda", None, function="io.write_file")),
     {"keras-untrusted-object"}),
    ("TFOpLambda raw_ops", model(layer("TFOpLambda", None, function="raw_ops.ReadFile")),
     {"keras-untrusted-object"}),
    ("a vocabulary file", model(layer("StringLookup", vocabulary="/etc/passwd")),
     {"keras-file-reference"}),
    ("TFSMLayer", model(layer("TFSMLayer", filepath="/srv/model")), {"keras-file-reference"}),
    ("class_name that is not a string", model({"class_name": ["Dense"], "config": {}}),
     {"keras-untrusted-object"}),
])
def test_keras_config_rules(label: str, config: Any, expected: set[str]) -> None:
    assert keras_rules(config) == expected, label


def test_policy_admits_custom_keras_objects_by_module_and_name() -> None:
    custom = model(layer("Backdoor", "mypkg.layers", "mypkg>Backdoor"))
    legacy = {"class_name": "Sequential", "config": {"layers": [layer("Backdoor", None)]}}
    assert keras_rules(custom) == keras_rules(legacy) == {"keras-untrusted-object"}
    policy = DEFAULT_POLICY.with_allowed("mypkg.layers.Backdoor")
    assert keras_rules(custom, policy) == keras_rules(legacy, policy) == set()
    assert keras_rules(custom, DEFAULT_POLICY.with_allowed("mypkg.*")) == set()
    assert keras_rules(custom, DEFAULT_POLICY.with_allowed("other.Backdoor")) == {
        "keras-untrusted-object"}


def test_a_lambda_nested_deep_in_a_functional_graph_is_found() -> None:
    config, _ = corpus_keras._functional()
    config["config"]["layers"][2]["inbound_nodes"][0]["kwargs"]["fn"] = {
        "class_name": "__lambda__", "config": {"code": "AAAA"}}
    assert keras_rules(config) == {"keras-lambda-layer"}


def _h5(**kwargs: Any) -> Any:
    def build(fill: Any) -> bytes:
        buffer = io.BytesIO()
        with h5py.File(buffer, "w", **kwargs) as f:
            fill(f)
        return buffer.getvalue()

    return build


def test_string_attributes_of_every_kind_are_read() -> None:
    def fill(f: Any) -> None:
        f.attrs["vlen"] = "héllo"
        f.attrs["fixed"] = np.bytes_(b"fixed-bytes")
        f.attrs["many"] = ["a", "bb", "ccc"]
        f.attrs["number"] = 3

    for kwargs in ({}, {"libver": "latest"}, {"userblock_size": 1024}):
        attrs = HDF5File(_h5(**kwargs)(fill)).root_attributes()
        assert attrs == {"vlen": "héllo", "fixed": "fixed-bytes", "many": ["a", "bb", "ccc"],
                         "number": None}, kwargs


def test_dense_storage_is_reported_unscannable_with_the_reason() -> None:
    data = _h5(libver="latest")(lambda f: [f.create_group(f"g{i}") for i in range(12)])
    report = scan_bytes(data, "dense.h5")
    assert report.verdict == "unscannable"
    assert "fractal heap" in report.findings[0].message


def test_a_model_config_that_is_not_a_string_is_a_bad_config() -> None:
    data = _h5()(lambda f: f.attrs.create("model_config", np.arange(3)))
    report = scan_bytes(data, "bad.h5")
    assert report.verdict == "unscannable"
    assert {f.rule_id for f in report.findings} == {"keras-bad-config"}


def test_hdf5_lambda_in_model_config_is_refused() -> None:
    config = json.dumps(model(layer("Lambda", function={"class_name": "__lambda__"})))
    data = _h5()(lambda f: f.attrs.__setitem__("model_config", config.encode()))
    assert {f.rule_id for f in scan_bytes(data, "m.h5").findings} == {"keras-lambda-layer"}


@pytest.mark.parametrize("offset", range(0, 2048, 97))
def test_pointer_corruption_never_crashes_the_walker(offset: int) -> None:
    data = bytearray(corpus_keras._mlp()[1])
    if offset + 8 > len(data):
        return
    data[offset:offset + 8] = b"\xff\xff\xff\x7f\x00\x00\x00\x00"
    with contextlib.suppress(HDF5Error):
        list(HDF5File(bytes(data)).walk())
    report = scan_bytes(bytes(data), "mutated.h5")
    assert report.verdict in ("safe", "unscannable", "refused")


def test_overlapping_structures_cannot_multiply_the_work() -> None:
    walker = HDF5File(corpus_keras._mlp()[1])
    walker._budget = 10  # What a file that re-reads one block a million times runs into.
    with pytest.raises(HDF5Error, match="far more bytes"):
        list(walker.walk())
