"""The generated corpus: every malicious artifact refused, every benign one accepted,
no marker ever created by scanning or restricted loading, and the corpus proven live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from garrison.errors import ArtifactRefused, ArtifactUnscannable
from garrison.scanning import ensure_safe, restricted_loads, scan_bytes, scan_path

from .conftest import EXPECTATIONS, VECTORS

MALICIOUS = sorted(EXPECTATIONS["malicious"])
BENIGN = sorted(EXPECTATIONS["benign"])
#: Malicious samples that are (uncompressed) pickle streams a pickle loader could be fed.
PICKLE_STREAMS = [n for n in MALICIOUS if n.startswith("pickle-")] + [
    "joblib-after-buffer-raw", "joblib-array-opcodes", "joblib-padding-opcodes",
    "torch-legacy-evil", "cloudpickle-lambda",
]


def test_expectations_name_exactly_the_generated_samples(corpus: ModuleType) -> None:
    assert set(MALICIOUS) == set(corpus.MALICIOUS)
    assert set(BENIGN) == set(corpus.BENIGN)


@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_sample_is_refused(name: str, built: Any, corpus_dir: Path) -> None:
    sample = built(name)
    report = scan_path(sample.path)
    expected = EXPECTATIONS["malicious"][name]
    assert report.verdict == expected["verdict"] != "safe"
    assert set(expected["rules"]) <= {f.rule_id for f in report.findings}
    error = ArtifactUnscannable if report.verdict == "unscannable" else ArtifactRefused
    with pytest.raises(error) as caught:
        ensure_safe(report)
    assert caught.value.detail["report"]["sha256"] == report.sha256
    # The same bytes through scan_bytes give the same verdict (no path-only behaviour)...
    if not name.startswith("onnx-external-symlink"):
        assert scan_bytes(sample.path.read_bytes(), sample.path.name).verdict == report.verdict
    # ...and nothing ran.
    assert not (corpus_dir / f"MARKER-{name}").exists()


@pytest.mark.parametrize("name", PICKLE_STREAMS)
def test_restricted_loader_refuses_malicious_pickles(
    name: str, built: Any, corpus_dir: Path
) -> None:
    import copyreg

    sample = built(name)
    data = sample.path.read_bytes()
    if sample.setup:
        # Register the extension code, as a victim process might have, for this test only.
        copyreg.add_extension("os", "system", 0xE7)
    try:
        with pytest.raises(ArtifactRefused):
            restricted_loads(data)
    finally:
        if sample.setup:
            copyreg.remove_extension("os", "system", 0xE7)
    assert not (corpus_dir / f"MARKER-{name}").exists()


@pytest.mark.parametrize("name", BENIGN)
def test_benign_sample_is_accepted(name: str, built: Any) -> None:
    sample = built(name)
    report = scan_path(sample.path)
    assert report.verdict == "safe", [f.to_dict() for f in report.findings]
    assert report.findings == ()
    assert report.format == EXPECTATIONS["benign"][name]["format"]
    ensure_safe(report)
    assert report.bytes_scanned >= report.size


@pytest.mark.parametrize("name", [n for n in BENIGN if n.startswith((
    "sklearn-pipeline-p", "random-forest", "tfidf", "grid-search", "ordereddict", "pickle5",
    "xgboost-skl", "lightgbm-skl", "cloudpickle", "pandas-frame-p", "pandas-bundle",
    "metadata-values", "scipy-sparse-matrices", "partial-transformer-pickle",
    "ufunc-transformer-pickle", "ufunc-numpy1", "sklearn-pca", "sklearn-svc",
    "sklearn-knn", "sklearn-hgb", "sklearn-spline")) and not n.endswith(("-joblib", "-skops"))])
def test_restricted_loader_loads_benign_pickles(name: str, built: Any) -> None:
    import pickle

    data = built(name).path.read_bytes()
    restricted = restricted_loads(data)
    plain = pickle.loads(data)
    assert type(restricted) is type(plain)
    assert pickle.dumps(restricted, 5) == pickle.dumps(plain, 5) or name in (
        "xgboost-sklearn", "lightgbm-sklearn", "pickle5-buffers", "sklearn-hgb-categorical",
        "pandas-bundle-with-model")


def test_no_marker_after_scanning_everything(built: Any, corpus_dir: Path) -> None:
    for name in MALICIOUS:
        scan_path(built(name).path)
    assert sorted(p.name for p in corpus_dir.glob("MARKER-*")) == []


_LIVE_SCRIPT = r"""
import json, pickle, sys, warnings
warnings.simplefilter("ignore")
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import generate
out = Path(sys.argv[2])
results = {}
for name, builder in sorted(generate.MALICIOUS.items()):
    sample = builder(out)
    if sample.live in (None, "segfault"):
        continue
    exec(sample.setup)
    try:
        if sample.live == "pickle":
            pickle.loads(sample.path.read_bytes())
        elif sample.live == "pickle-all":
            with open(sample.path, "rb") as handle:
                while True:
                    pickle.load(handle)
        elif sample.live == "joblib":
            import joblib
            joblib.load(sample.path)
        elif sample.live == "numpy":
            import numpy
            numpy.load(sample.path, allow_pickle=True)
        elif sample.live == "numpy-npz":
            import numpy
            numpy.load(sample.path, allow_pickle=True)["evil"]
    except Exception:
        pass
    results[name] = (out / f"MARKER-{name}").exists()
print("RESULTS " + json.dumps(results))
"""


def test_corpus_is_live_when_loaded_by_real_loaders(tmp_path: Path) -> None:
    """Proof the payloads are real: plain loaders in a subprocess create every marker."""
    out = tmp_path / "live"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _LIVE_SCRIPT, str(VECTORS), str(out)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS "))
    results = json.loads(line[len("RESULTS "):])
    assert len(results) >= 30, proc.stderr[-2000:]
    assert {name for name, fired in results.items() if not fired} == set()


def test_forged_object_dtype_corrupts_memory_under_plain_pickle(built: Any, tmp_path: Path) -> None:
    """Why pickle-numpy-dtype-forged exists: plain unpickling reads raw bytes as pointers."""
    path = built("pickle-numpy-forged-dtype").path
    code = ("import pickle, sys; a = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "print(repr(a[0])); print('SURVIVED')")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode != 0 and "SURVIVED" not in proc.stdout


def test_forged_arrow_offsets_leak_memory_under_plain_pickle(built: Any, tmp_path: Path) -> None:
    """Why pickle-arrow-array-forged exists: pyarrow's _restore_array does not validate,
    so a string column whose offsets run past its 3-byte buffer reads process memory."""
    path = built("pickle-arrow-forged-offsets").path
    code = ("import pickle, sys; a = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "v = a._pa_array.to_pylist() if hasattr(a, '_pa_array') else list(a); "
            "print('LEAKED', max(len(x) for x in v if isinstance(x, str)))")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    leaked = [ln for ln in proc.stdout.splitlines() if ln.startswith("LEAKED ")]
    # Either the process reads bytes that are not in the file, or it dies trying.
    assert proc.returncode != 0 or int(leaked[0].split()[1]) > 3
    with pytest.raises(ArtifactRefused) as caught:
        restricted_loads(path.read_bytes())
    assert caught.value.detail["rule_id"] == "pickle-arrow-array-forged"
