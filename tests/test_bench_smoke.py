"""The gateway benchmark still runs end to end (tiny load; the figures are not judged)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gateway_benchmark_runs_and_reports_the_ratio() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gateway.py"), "--requests", "60", "--rounds", "1",
         "--warmup", "20", "--concurrency", "2", "--workers", "1", "--models", "lr,hgb",
         "--rows", "1"],
        capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for model in ("lr", "hgb"):
        ratio = re.search(rf"ratio defaults/bare server CPU per request \[{model} x1\]: "
                          r"(\d+\.\d+)", run.stdout)
        assert ratio and float(ratio.group(1)) > 0, run.stdout
    assert re.search(r"^defaults\s+[\d,]+\s+\d+\.\d+\s+[\d,]+", run.stdout, re.M), run.stdout
    assert re.search(r"^auth-only\s+[\d,]+", run.stdout, re.M), run.stdout
    assert re.search(r"^hgb\s+perturbation-instability\s+[\d,]+", run.stdout, re.M), run.stdout


@pytest.mark.slow
def test_protocol_comparison_runs_and_reports_the_ratios() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gateway.py"), "--protocols", "--requests", "60",
         "--rounds", "1", "--concurrency", "1"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for name in ("rest-binary/rest-json", "grpc/rest-json", "grpc/rest-binary"):
        ratio = re.search(rf"ratio {name} server CPU per request: (\d+\.\d+)", run.stdout)
        assert ratio and float(ratio.group(1)) >= 0, run.stdout
    for name in ("rest-json", "rest-binary", "grpc"):
        assert re.search(rf"^{name}\s+[\d,]+\s+[\d,]+", run.stdout, re.M), run.stdout


@pytest.mark.slow
def test_adversarial_quality_benchmark_runs() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "detection_quality_adv.py"), "--seeds", "1",
         "--attacks", "12"],
        capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for target in ("1%", "5%"):
        assert re.search(rf"^  garrison default\s+{target}\s+\d+/\d+", run.stdout, re.M), \
            run.stdout
    assert "(numeric)" in run.stdout and "(mixed)" in run.stdout
