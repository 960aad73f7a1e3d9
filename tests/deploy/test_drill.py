"""The multi-replica drill in CI: counts, never durations (deploy/drill/run.py).

Three `garrison serve` processes with separate homes behind HAProxy, on the test
PostgreSQL and Redis and moto's S3 server, under constant load: scale 1 -> 3 -> 1
(SIGTERM), SIGKILL one replica, roll back once. Needs HAProxy (.ci/run installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require_backend
from tests.deploy.conftest import ROOT


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_the_drill_meets_every_goal(tmp_path: Path) -> None:
    require_backend("postgres")
    require_backend("redis")
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        if IN_CI:
            pytest.fail("HAProxy is not installed; .ci/run installs it")
        pytest.skip("HAProxy is not installed (apt-get install haproxy)")
    out = tmp_path / "drill.json"
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "drill" / "run.py"),
                             "--json", str(out), "--keep", str(tmp_path / "logs")],
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    s, verdict = report["summary"], report["verdict"]
    failed = {goal: v for goal, v in verdict.items() if not v["ok"]}
    assert failed == {}, (json.dumps(s.get("failures"))[:4000], result.stdout[-3000:])
    assert result.returncode == 0
    # The same goals, from the counts themselves.
    for phase, counts in s["phases"].items():
        assert counts["sent"] == counts["ok"] + counts["failed"]
        if phase != "kill":
            assert counts["failed"] == 0, (phase, counts)
    for phase in ("scale-out", "rate-limit", "rollback", "scale-in", "kill"):
        assert s["phases"][phase]["sent"] > 0, phase
    assert s["kill"]["failed_not_in_flight_at_kill"] == 0
    assert s["kill"]["failed"] <= s["kill"]["in_flight_at_kill_all_replicas"]
    limit = s["rate_limit"]
    assert limit["other"] == 0 and limit["refused_429"] > 0
    assert set(limit["replicas_that_allowed"]) == {"r1", "r2", "r3"}
    assert abs(limit["allowed"] - limit["expected"]) <= 0.01 * limit["expected"]
    assert s["rollback"]["seconds_to_reach_every_replica"] is not None
    assert s["audit_chain"]["ok"] is True
    decisions = s["decisions"]
    assert decisions["stored"]["metered-app"] == decisions["answered_200"]["metered-app"]
    missing = decisions["answered_200"]["scoring-app"] - decisions["stored"]["scoring-app"]
    assert -decisions["failed_in_kill"] <= missing  # Records without a 200: the kill's.
    accounting = decisions["accounting"]
    assert missing <= accounting["accounted_to_unclosed"]  # Garrison counts what it lost.
    states = sorted(w["state"] for w in accounting["writers"])
    assert states == ["closed", "closed", "closed", "unclosed"]  # Four workers, one killed.
    assert accounting["lost_in_closed_logs"] == 0 and accounting["integrity_problems"] == []
