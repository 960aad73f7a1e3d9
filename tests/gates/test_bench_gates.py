"""bench/gates.py still runs end to end and prints its ratio (tiny sizes; figures not judged)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gate_benchmark_runs_and_reports_both_ratios() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gates.py"),
            "--rows",
            "600",
            "--trees",
            "10",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for model in ("LogisticRegression", r"RandomForest \(10 trees\)"):
        pattern = rf"ratio full gate/predict_proba {model} \(wall\): (\d+\.\d+)"
        ratio = re.search(pattern, run.stdout)
        assert ratio and float(ratio.group(1)) > 0, run.stdout
    for check in ("performance", "fairness", "robustness", "privacy", "leakage", "calibration"):
        assert re.search(rf"^\s+{check}\s+[\d.]+ ms\s+(passed|FAILED)", run.stdout, re.M), (
            run.stdout
        )
