"""checkov on the rendered manifests and the Dockerfile, hadolint on the Dockerfile.

checkov cannot share the project's virtualenv (it pins packaging < 24 and termcolor
< 2.4, which pytest and cleanlab refuse), so `make tools` installs it into
``.venv-tools``; CI runs it, and fails if it is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import ROOT, VARIANTS, manifests, tool

#: Checks skipped per rendered variant, each with its reason. Production variants skip
#: nothing.
SKIPS: dict[str, dict[str, str]] = {
    # The default values pull the chart's tag so that `helm install` works out of the
    # box; production pins the digest (values-production.yaml, which skips nothing, and
    # test_production_pins_the_image_by_digest).
    "default": {"CKV_K8S_43": "image by tag in the default values"},
    "local-claim": {"CKV_K8S_43": "image by tag in the default values"},
    "s3-credentials-file": {"CKV_K8S_43": "image by tag in the default values"},
    "production": {},
    "keda": {},
}


def _checkov(target: list[str], framework: str, skips: dict[str, str]) -> dict[str, Any]:
    args = [tool("checkov"), *target, "--framework", framework, "--output", "json",
            "--quiet", "--compact", "--skip-download", "--no-fail-on-crash"]
    if skips:
        args += ["--skip-check", ",".join(sorted(skips))]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "BC_SKIP_MAPPING": "TRUE",
                                 "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
                                 "LOG_LEVEL": "ERROR", "HOME": str(ROOT / ".venv-tools")})
    assert result.stdout.strip(), result.stderr[-3000:]
    reports: list[dict[str, Any]] = []
    decoder, text, at = json.JSONDecoder(), result.stdout.strip(), 0
    while at < len(text):  # One JSON document per scanned directory, back to back.
        item, at = decoder.raw_decode(text, at)
        reports.extend(item if isinstance(item, list) else [item])
        while at < len(text) and text[at].isspace():
            at += 1
    merged: dict[str, Any] = {"passed": 0, "failed": [], "skipped": 0}
    for item in reports:
        merged["passed"] += item["summary"]["passed"]
        merged["skipped"] += item["summary"]["skipped"]
        merged["failed"] += [f"{c['check_id']} {c['resource']}"
                             for c in item["results"]["failed_checks"]]
    return merged


@pytest.mark.slow
def test_checkov_passes_every_rendered_variant(tmp_path: Path) -> None:
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in VARIANTS:
        path = tmp_path / name / "manifests.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump_all(manifests(VARIANTS[name])))
        groups.setdefault(tuple(sorted(SKIPS[name])), []).append(name)
    for skipped, names in groups.items():
        targets = [arg for n in names for arg in ("-d", str(tmp_path / n))]
        report = _checkov(targets, "kubernetes", {c: SKIPS[names[0]][c] for c in skipped})
        assert report["failed"] == [], (names, report["failed"])
        assert report["passed"] > 100 * len(names)  # It really ran its checks.


@pytest.mark.slow
def test_checkov_passes_the_dockerfile() -> None:
    report = _checkov(["-f", str(ROOT / "Dockerfile")], "dockerfile", {})
    assert report["failed"] == [] and report["skipped"] == 0
    assert report["passed"] >= 20


def test_hadolint_finds_nothing_at_any_level() -> None:
    result = subprocess.run([tool("hadolint"), "--no-color", "--format", "json",
                             "--failure-threshold", "style", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


@pytest.mark.parametrize("bad", ["FROM python:latest\nRUN apt-get install gcc\n"])
def test_hadolint_is_really_checking(tmp_path: Path, bad: str) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(bad)
    result = subprocess.run([tool("hadolint"), "--no-color", "--format", "json",
                             str(dockerfile)], capture_output=True, text=True, timeout=120)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3008"} <= codes
