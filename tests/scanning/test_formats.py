"""Format-specific behaviour, policy caps, the scanner registry and the public surface."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

import garrison.scanning as scanning
from garrison.errors import ArtifactRefused, ConfigurationError
from garrison.scanning import (
    DEFAULT_POLICY,
    ScannerInfo,
    ScanPolicy,
    get_scanner,
    register_scanner,
    registered_scanners,
    scan_bytes,
    scan_path,
    unregister_scanner,
)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def rule_ids(report: Any) -> set[str]:
    return {f.rule_id for f in report.findings}


def test_member_count_size_and_depth_caps() -> None:
    many = _zip({f"m{i}.npy": b"" for i in range(12)})
    few = ScanPolicy(max_members=10)
    assert "archive-too-many-members" in rule_ids(scan_bytes(many, policy=few))
    big = _zip({"a.pkl": b"N." + b" " * 5000})
    small = ScanPolicy(max_uncompressed_bytes=1000)
    assert "archive-bomb" in rule_ids(scan_bytes(big, policy=small))
    assert scan_bytes(b"N.", policy=ScanPolicy(max_bytes=1)).verdict == "unscannable"


def test_findings_locate_members_inside_containers(built: Any) -> None:
    report = scan_path(built("zip-evil-member").path)
    finding = next(f for f in report.findings if f.rule_id == "pickle-global-not-allowed")
    assert finding.member == "model.pkl" and finding.offset is not None
    nested = scan_path(built("tar-gz-evil-member").path)
    assert {f.member for f in nested.findings} == {"model.pkl"}


def test_onnx_domains_are_configurable(built: Any) -> None:
    path = built("onnx-unknown-domain").path
    assert scan_path(path).verdict == "refused"
    policy = ScanPolicy(onnx_domains=DEFAULT_POLICY.onnx_domains | {"evil.ops"})
    assert scan_path(path, policy).verdict == "safe"


def test_onnx_external_data_checks_need_the_model_directory(built: Any) -> None:
    # From bytes there is no directory, and ONNX Runtime would resolve the location against
    # the working directory (onnxruntime#6696): any external data is refused.
    from_bytes = scan_bytes(built("onnx-external-ok").path.read_bytes(), "m.onnx")
    assert from_bytes.verdict == "refused"
    assert rule_ids(from_bytes) == {"onnx-external-data-missing"}
    assert scan_path(built("onnx-external-ok").path).verdict == "safe"
    missing = built("onnx-external-ok").path.parent / "elsewhere.onnx"
    missing.write_bytes(built("onnx-external-ok").path.read_bytes().replace(b"weights.bin",
                                                                            b"missing.bin"))
    assert rule_ids(scan_path(missing)) == {"onnx-external-data-missing"}


def test_onnx_external_data_in_the_working_directory_is_refused_from_bytes(
    corpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    onnx_model = importlib.import_module("corpus_more")._onnx  # on sys.path via ``corpus``
    # The file exists in the CWD, where ONNX Runtime would read it from: still refused.
    (tmp_path / "garrison.db").write_bytes(b"\x00" * 16)
    monkeypatch.chdir(tmp_path)
    report = scan_bytes(onnx_model(location="garrison.db"), "m.onnx")
    assert report.verdict == "refused"
    assert rule_ids(report) == {"onnx-external-data-missing"}
    assert {f.name for f in report.findings} == {"garrison.db"}
    # Escapes keep their own, critical rule.
    escaping = scan_bytes(onnx_model(location="../garrison.db"), "m.onnx")
    assert rule_ids(escaping) == {"onnx-external-data-escape"}


def test_old_joblib_array_bytes_may_not_mutate_an_allowed_global(corpus: Any) -> None:
    import numpy as np

    # Unaligned (joblib <= 1.1) array bytes that pickle.load would run as opcodes:
    # import the allow-listed collections.OrderedDict, then BUILD onto it.
    payload = b"ccollections\nOrderedDict\n}b."
    payload += b"\x00" * (-len(payload) % 8)
    data = corpus._joblib_bytes({"w": np.frombuffer(payload, dtype=np.uint8)}, aligned=False)
    report = scan_bytes(data, "old.joblib")
    assert report.verdict == "refused"
    assert rule_ids(report) == {"pickle-mutates-global"}


def test_skops_functions_need_an_explicit_allow_entry(tmp_path: Path) -> None:
    import numpy as np
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    # numpy's ufuncs and reductions are on the allow-list (issue 19); a numpy function
    # outside those tables still needs an explicit entry.
    assert scan_bytes(sio.dumps(FunctionTransformer(func=np.tanh)), "f.skops").verdict == "safe"
    data = sio.dumps(FunctionTransformer(func=np.linalg.norm))
    report = scan_bytes(data, "f.skops")
    assert rule_ids(report) == {"skops-untrusted-type"}
    assert {f.name for f in report.findings} == {"numpy.linalg.norm"}
    policy = DEFAULT_POLICY.with_allowed("numpy.linalg.norm")
    assert scan_bytes(data, "f.skops", policy).verdict == "safe"


def test_npy_trailing_bytes_are_refused(built: Any) -> None:
    data = built("npy-float").path.read_bytes()
    assert rule_ids(scan_bytes(data + b"\x00" * 8)) == {"npy-trailing-data"}


def test_zip_members_that_overlap_are_a_bomb() -> None:
    data = bytearray(_zip({"a.pkl": b"N." * 100, "b.pkl": b"N." * 100}))
    # Point the second central-directory entry at the first local header.
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 42 : cd + 46] = (0).to_bytes(4, "little")
    assert "archive-bomb" in rule_ids(scan_bytes(bytes(data)))


def test_a_plugin_scanner_is_dispatched_like_the_builtins() -> None:
    class MagicScanner:
        info = ScannerInfo("magic-test", "test plug-in", "MAGIC! prefix", priority=5)

        def sniff(self, data: Any, name: str) -> bool:
            return bytes(data[:6]) == b"MAGIC!"

        def scan(self, data: Any, name: str, ctx: Any) -> str:
            ctx.count_scanned(len(data))
            if b"evil" in bytes(data):
                ctx.add("format-unknown", "plug-in refused it")
            return "magic"

    register_scanner(MagicScanner())
    try:
        assert get_scanner("magic-test").info.priority == 5
        assert registered_scanners()[0].info.name == "magic-test"
        assert scan_bytes(b"MAGIC! fine").format == "magic"
        assert scan_bytes(b"MAGIC! evil").verdict == "unscannable"
        with pytest.raises(ConfigurationError):
            register_scanner(MagicScanner())
    finally:
        unregister_scanner("magic-test")
    assert scan_bytes(b"MAGIC! fine").format != "magic"


def test_builtin_scanners_are_registered_with_metadata() -> None:
    names = {s.info.name for s in registered_scanners()}
    assert {"npy", "zip", "safetensors", "compressed", "tar", "onnx", "xgboost", "lightgbm",
            "pickle"} <= names
    for scanner in registered_scanners():
        assert scanner.info.description and scanner.info.recognises


def test_a_crashing_scanner_refuses_instead_of_raising() -> None:
    class Broken:
        info = ScannerInfo("broken-test", "raises", "BROKEN", priority=1)

        def sniff(self, data: Any, name: str) -> bool:
            return bytes(data[:6]) == b"BROKEN"

        def scan(self, data: Any, name: str, ctx: Any) -> str:
            raise RuntimeError("bug")

    register_scanner(Broken())
    try:
        report = scan_bytes(b"BROKEN")
    finally:
        unregister_scanner("broken-test")
    assert report.verdict == "unscannable" and rule_ids(report) == {"scanner-error"}


def test_public_names() -> None:
    for name in scanning.__all__:
        assert hasattr(scanning, name), name
    assert {"scan_path", "scan_bytes", "ensure_safe", "ScanPolicy", "ScanReport",
            "RestrictedUnpickler", "restricted_loads", "ensure_global_allowed",
            "register_scanner"} <= set(scanning.__all__)


def test_ensure_safe_raises_with_the_report() -> None:
    scanning.ensure_safe(scan_bytes(b"N."))
    with pytest.raises(ArtifactRefused) as caught:
        scanning.ensure_safe(scan_bytes(b"cos\nsystem\n."))
    assert caught.value.code == "artifact-refused"
    assert caught.value.detail["report"]["verdict"] == "refused"
    assert os.sep not in str(caught.value)
