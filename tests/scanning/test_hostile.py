"""Hostile inputs: truncated, empty, random and mutated bytes never crash the scanner."""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from garrison.scanning import scan_bytes, scan_path

from .conftest import EXPECTATIONS

BENIGN = sorted(EXPECTATIONS["benign"])


def test_empty_file_is_unscannable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    report = scan_path(empty)
    assert report.verdict == "unscannable" and report.exit_code == 2
    assert [f.rule_id for f in report.findings] == ["file-empty"]
    assert scan_bytes(b"").verdict == "unscannable"


@pytest.mark.parametrize("name", BENIGN)
def test_truncated_benign_files_are_never_accepted(name: str, built: Any) -> None:
    data = built(name).path.read_bytes()
    for cut in {len(data) // 2, len(data) - 1, 7}:
        report = scan_bytes(data[:cut], built(name).path.name)
        assert report.verdict != "safe", (cut, report.format)
        # A truncated stream is "could not be scanned"; only a truncation indistinguishable
        # from an out-of-bounds attack (safetensors offsets) may be refused instead.
        if report.verdict == "refused":
            assert {f.rule_id for f in report.findings} <= {"safetensors-bad-header"}, (
                cut, [f.to_dict() for f in report.findings])


def test_random_bytes_are_unscannable() -> None:
    """Random bytes are unscannable (exit 2). The exception is honest, not noise: when the
    first random bytes happen to form an import opcode (EXT, GLOBAL), a real unpickler would
    perform that import before failing, so the scanner refuses (exit 1) and also reports
    the stream as malformed."""
    rng = random.Random(20240601)
    reports = []
    for _ in range(300):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
        reports.append(scan_bytes(data))
    assert all(r.verdict != "safe" for r in reports)
    unscannable = [r for r in reports if r.verdict == "unscannable"]
    assert len(unscannable) >= 0.95 * len(reports)
    for report in reports:
        if report.verdict == "refused":
            rules = {f.rule_id for f in report.findings}
            assert "pickle-malformed" in rules
            assert rules - {"pickle-malformed"} <= {"pickle-ext-code",
                                                    "pickle-global-not-allowed",
                                                    "pickle-unresolvable-global"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    report = scan_bytes(data)
    assert report.verdict in ("safe", "refused", "unscannable")
    assert report.to_dict()["size"] == len(data)


_BENIGN_PICKLE = pickle.dumps({"a": [1, 2.5, "x"], "b": (None, True), "c": {1, 2}}, protocol=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_BENIGN_PICKLE) - 1), st.integers(0, 255)),
                min_size=1, max_size=4))
def test_mutated_pickles_never_raise(mutations: list[tuple[int, int]]) -> None:
    data = bytearray(_BENIGN_PICKLE)
    for index, value in mutations:
        data[index] = value
    report = scan_bytes(bytes(data))
    assert report.verdict in ("safe", "refused", "unscannable")
