"""Benign files refused and malicious files caught, by this scanner and by a baseline one.

    python bench/scan_corpus.py [--baseline-ref 0bfa7e0] [--no-zoo] [--strict]

The files: the scanner corpus of ``tests/vectors/scanning`` (the benign models and data
files, including the kinds issue 19 lists, and every malicious sample) plus, unless
``--no-zoo``, every scikit-learn estimator of ``tests/scanning/sklearn_zoo.py`` saved with
pickle, joblib and skops. They are generated once into a temp dir; then the scanner of this
checkout and the scanner of ``--baseline-ref`` (extracted with ``git archive`` and run in
a subprocess on the same files) each scan all of them. Printed per group: benign files
refused and malicious files caught, for both, and the benign files the baseline refused
that this scanner accepts. ``--strict`` exits 1 if any benign file is refused or any
malicious file passes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors" / "scanning"

_SCAN = r"""
import json, sys
from garrison.scanning import scan_path
files = json.loads(sys.stdin.read())
print(json.dumps({name: scan_path(path).verdict for name, path in files.items()}))
"""


def _build(out: Path, zoo: bool) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Generate the files; return {name: path} for benign, malicious and the zoo."""
    sys.path.insert(0, str(VECTORS))
    sys.path.insert(0, str(ROOT))
    warnings.simplefilter("ignore")
    import generate

    benign = {n: str(generate.build(n, out).path) for n in sorted(generate.BENIGN)}
    malicious = {n: str(generate.build(n, out).path) for n in sorted(generate.MALICIOUS)}
    models: dict[str, str] = {}
    if zoo:
        import joblib
        import skops.io as sio
        from tests.scanning import sklearn_zoo

        zoo_dir = out / "zoo"
        zoo_dir.mkdir()
        for i, case in enumerate(sorted(sklearn_zoo.CASES())):
            est, _ = sklearn_zoo.build(case)
            buffer = io.BytesIO()
            joblib.dump(est, buffer)
            dumps = {"pkl": pickle.dumps(est, 5), "joblib": buffer.getvalue()}
            # skops cannot save every estimator (Birch); those files are simply absent.
            with contextlib.suppress(Exception):
                dumps["skops"] = sio.dumps(est)
            for suffix, data in dumps.items():
                path = zoo_dir / f"{i:03d}.{suffix}"
                path.write_bytes(data)
                models[f"{case}.{suffix}"] = str(path)
    return benign, malicious, models


def _scan(files: dict[str, str], src: Path | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if src is not None:
        env["PYTHONPATH"] = str(src)
    proc = subprocess.run([sys.executable, "-c", _SCAN], input=json.dumps(files), env=env,
                          capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _baseline(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-ref", default="0bfa7e0",
                        help="git revision whose scanner is the baseline (default: the "
                        "commit before issue 19's scanner work)")
    parser.add_argument("--no-zoo", action="store_true", help="skip the scikit-learn zoo")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="garrison-scan-corpus-") as tmp:
        out = Path(tmp) / "files"
        out.mkdir()
        benign, malicious, zoo = _build(out, not args.no_zoo)
        old_src = _baseline(args.baseline_ref, Path(tmp) / "baseline")
        everything = {**{f"b:{k}": v for k, v in benign.items()},
                      **{f"m:{k}": v for k, v in malicious.items()},
                      **{f"z:{k}": v for k, v in zoo.items()}}
        now = _scan(everything, ROOT / "src")
        before = _scan(everything, old_src)
    baseline = f"baseline {args.baseline_ref}"
    print(f"{'group':34s} {'files':>6s} {baseline:>18s} {'this scanner':>14s}")
    failed = False
    for prefix, label, bad in (("b:", "benign corpus files refused", True),
                               ("z:", "sklearn zoo files refused", True),
                               ("m:", "malicious files caught", False)):
        keys = [k for k in everything if k.startswith(prefix)]
        if not keys:
            continue

        def count(verdicts: dict[str, str], keys: list[str] = keys, bad: bool = bad) -> int:
            return sum((verdicts[k] != "safe") for k in keys)

        print(f"{label:34s} {len(keys):6d} {count(before):18d} {count(now):14d}")
        if bad:
            failed |= count(now) > 0
        else:
            failed |= count(now) < len(keys)
    fixed = sorted(k[2:] for k in everything if k[0] in "bz" and before[k] != "safe"
                   and now[k] == "safe")
    print(f"\nbenign files the baseline refused and this scanner accepts ({len(fixed)}):")
    for name in fixed:
        print(f"  {name}")
    still = sorted(k for k in everything if k[0] in "bz" and now[k] != "safe")
    passed = sorted(k for k in everything if k[0] == "m" and now[k] == "safe")
    if still or passed:
        print("\nstill refused:", still, "\nmalicious passed:", passed)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
