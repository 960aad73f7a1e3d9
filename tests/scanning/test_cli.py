"""`garrison scan`: exit codes 0/1/2, the --json shape, --allow."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

from click.testing import CliRunner

from garrison.cli.scan import scan_command
from garrison.scanning import RULES


class _System:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    safe = tmp_path / "safe.pkl"
    safe.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps(_System()))
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(pickle.dumps({"weights": [1.0, 2.0]})[:-3])
    return safe, bad, broken


def test_exit_codes(tmp_path: Path) -> None:
    safe, bad, broken = _files(tmp_path)
    runner = CliRunner()
    assert runner.invoke(scan_command, [str(safe)]).exit_code == 0
    refused = runner.invoke(scan_command, [str(bad)])
    assert refused.exit_code == 1
    assert "pickle-global-not-allowed" in refused.output and "posix.system" in refused.output
    assert runner.invoke(scan_command, [str(broken)]).exit_code == 2
    assert runner.invoke(scan_command, [str(tmp_path / "missing.pkl")]).exit_code == 2
    assert runner.invoke(scan_command, [str(tmp_path)]).exit_code == 2


def test_json_shape(tmp_path: Path) -> None:
    _, bad, _ = _files(tmp_path)
    result = CliRunner().invoke(scan_command, [str(bad), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert set(report) == {"schema_version", "name", "format", "verdict", "exit_code", "sha256",
                           "size", "bytes_scanned", "findings", "findings_truncated"}
    assert report["verdict"] == "refused" and report["exit_code"] == 1
    assert report["schema_version"] == 1 and len(report["sha256"]) == 64
    finding = report["findings"][0]
    assert set(finding) == {"rule_id", "severity", "message", "location", "name"}
    assert set(finding["location"]) == {"member", "offset"}
    assert finding["rule_id"] in RULES and finding["severity"] == "critical"
    assert finding["name"] == "posix.system" and isinstance(finding["location"]["offset"], int)


def test_allow_extends_the_allow_list_for_one_run(tmp_path: Path) -> None:
    _, bad, _ = _files(tmp_path)
    runner = CliRunner()
    assert runner.invoke(scan_command, [str(bad), "--allow", "posix.system"]).exit_code == 0
    assert runner.invoke(scan_command, [str(bad), "--allow", "posix.*"]).exit_code == 0
    assert runner.invoke(scan_command, [str(bad)]).exit_code == 1
    invalid = runner.invoke(scan_command, [str(bad), "--allow", "posix.__reduce__"])
    assert invalid.exit_code == 2 and "dunder" in invalid.output
    assert runner.invoke(scan_command, [str(bad), "--allow", "not valid"]).exit_code == 2
