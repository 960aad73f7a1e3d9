"""The multi-replica drill: `python deploy/drill/run.py [--json REPORT]` (or `make drill`).

Three gateway replicas as separate processes with separate home directories, behind
HAProxy (health check ``/v2/health/ready``), on the local PostgreSQL and Redis, with
sealed artifacts in an S3-compatible object store (moto's server, in its own
process) and the same key files "mounted" into each replica. A bounded client on
127.0.0.1 sends constant load while the drill:

1. scales out 1 -> 3 (new replicas get traffic only once ready: models verified);
2. measures a per-caller rate limit across the three replicas (Redis-shared);
3. rolls the model back once and times how long every replica takes to serve it;
4. scales in 3 -> 1 with SIGTERM (readiness fails, then drain, then flush);
5. scales out to 2 again and SIGKILLs the new replica;

then prints requests sent, 200s, failures by phase, the limit's accuracy, the
rollback's reach time, the audit chain verification and decision records stored
against 200s served. Exit 0 when every goal holds, 1 otherwise. Needs HAProxy
(`apt-get install haproxy`), PostgreSQL and Redis (the test servers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import HAProxy, Replica, mount_keys
from load import Load
from report import Report, judge, render

MODEL, METERED = "drill-credit", "drill-metered"
#: The metered caller's limit: requests per second and burst, shared by every replica.
LIMIT_RATE, LIMIT_BURST = 10.0, 20
#: The replicas' decision-log lease in seconds.
DECISION_LEASE = 2.0


def _setup(settings: Any) -> dict[str, Any]:
    """The installation: people, two versions of the served model, a metered model."""
    import pickle

    from garrison.app import initialize
    from garrison.demo import FEATURES, demo_model, demo_schema

    services, root, _ = initialize(settings, "root")
    acc = services.accounts
    people, keys = {"root": root}, {}
    for name, role in (("alice", "data-scientist"), ("bob", "approver"), ("carol", "auditor"),
                       ("scoring-app", "client"), ("metered-app", "client")):
        people[name] = acc.create_principal(root, name, roles=[role],
                                            kind="service" if role == "client" else "human")
        keys[name] = acc.create_key(root, name, name="drill", days=1).secret
    estimator, X = demo_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        for version, model in enumerate((estimator, demo_model(seed=11)[0]), start=1):
            path.write_bytes(pickle.dumps(model, protocol=5))
            for name in (MODEL, METERED) if version == 1 else (MODEL,):
                services.registry.register(people["alice"], name, path, metadata={
                    "framework": "scikit-learn", "input_schema": demo_schema(X)})
                services.registry.approve(people["bob"], name, version if name == MODEL
                                          else 1, "drill")
                services.registry.promote(people["bob"], name, version if name == MODEL
                                          else 1, reason="drill")
    services.deployments.configure(people["bob"], MODEL, {
        "callers": ["scoring-app"], "rate_limit": 100_000.0, "rate_burst": 100_000,
        "daily_quota": None})
    services.deployments.configure(people["bob"], METERED, {
        "callers": ["metered-app"], "rate_limit": LIMIT_RATE, "rate_burst": LIMIT_BURST,
        "daily_quota": None})
    row = {n: float(X[0, j]) for j, n in enumerate(FEATURES)}
    return {"services": services, "people": people, "keys": keys,
            "body": json.dumps({"instances": [row]}).encode()}


def _replica_env(base: dict[str, str], keys: Path, root: Path, name: str,
                 credentials: Path) -> dict[str, str]:
    mounted = mount_keys(keys, root / name / "secret-keys")
    signing = mount_keys(keys / "model-signing", root / name / "secret-model-signing")
    s3 = root / name / "secret-s3"
    s3.mkdir()
    shutil.copyfile(credentials, s3 / "credentials")
    (s3 / "credentials").chmod(0o400)
    return {**base, "GARRISON_KEY_DIR": str(mounted), "GARRISON_SIGNING_KEY_DIR": str(mounted),
            "GARRISON_MODEL_SIGNING_KEY_DIR": str(signing),
            "GARRISON_S3_CREDENTIALS_FILE": str(s3 / "credentials")}


def _wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run(*, rate: float, metered_rate: float, metered_seconds: float,
        keep: Path | None = None) -> Report:
    import os

    from garrison.app.secrets import create_key_set
    from garrison.config import load_settings
    from garrison.testing import postgres_url, s3_test_server, temporary_postgres_schema

    redis_url = os.environ.get("GARRISON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    report = Report(rate=rate, metered_rate=metered_rate, limit_rate=LIMIT_RATE,
                    limit_burst=LIMIT_BURST)
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="garrison-drill-")))
        if keep is not None:  # Logs of every process, kept after the drill.
            stack.callback(lambda: shutil.copytree(root, keep, dirs_exist_ok=True,
                                                   ignore=shutil.ignore_patterns("*.sock")))
        database = stack.enter_context(temporary_postgres_schema(postgres_url()))
        s3 = stack.enter_context(s3_test_server("garrison-drill"))
        keys = root / "keys"
        create_key_set(keys)
        credentials = root / "s3-credentials"
        credentials.write_text(f"[default]\naws_access_key_id = {s3['access_key']}\n"
                               f"aws_secret_access_key = {s3['secret_key']}\n")
        credentials.chmod(0o600)
        shared = {"GARRISON_DATABASE_URL": database, "GARRISON_REDIS_URL": redis_url,
                  "GARRISON_ARTIFACT_STORE": "s3", "GARRISON_S3_BUCKET": s3["bucket"],
                  "GARRISON_S3_ENDPOINT_URL": s3["endpoint_url"],
                  "GARRISON_S3_REGION": "us-east-1", "GARRISON_S3_ADDRESSING_STYLE": "path",
                  "GARRISON_S3_PREFIX": "drill/"}
        settings = load_settings(
            home=root / "admin", key_dir=keys, signing_key_dir=keys,
            s3_credentials_file=credentials, **{k.removeprefix("GARRISON_").lower(): v
                                                for k, v in shared.items()})
        setup = _setup(settings)
        services, people = setup["services"], setup["people"]
        stack.callback(services.close)
        base = {**{k: v for k, v in os.environ.items() if not k.startswith(("GARRISON_",
                                                                            "AWS_"))},
                **shared, "GARRISON_LOG_FORMAT": "json", "GARRISON_LOG_LEVEL": "warning",
                "GARRISON_SHUTDOWN_DELAY": "2", "GARRISON_DRAIN_TIMEOUT": "15",
                # A starved CPU (two cores, shared) must not turn into model timeouts: the
                # drill judges scaling, not latency.
                "GARRISON_REQUEST_TIMEOUT": "15",
                # Decision logs heartbeat every second: a killed replica's log is known to
                # be unclosed (and its possible losses counted) 2 x 2 s after its last sign.
                "GARRISON_DECISION_LEASE": str(DECISION_LEASE),
                "AWS_EC2_METADATA_DISABLED": "true"}
        replicas = [Replica(name, root / name, _replica_env(base, keys, root, name, credentials))
                    for name in ("r1", "r2", "r3")]
        for replica in replicas:
            stack.callback(replica.stop)
        r1, r2, r3 = replicas
        r1.start()
        r1.wait_ready()
        proxy = HAProxy(root, replicas)
        proxy.start()
        stack.callback(proxy.stop)
        proxy.wait_states({"r1": "UP", "r2": "DOWN", "r3": "DOWN"})

        load = Load(proxy.url, setup["body"])
        load.add_stream("scoring-app", setup["keys"]["scoring-app"], MODEL, rate)
        load.add_stream("metered-app", setup["keys"]["metered-app"], METERED, 0.0)
        load.start()
        stack.callback(load.stop)
        clock = time.monotonic

        load.phase = "steady-1"
        time.sleep(2)

        load.phase = "scale-out"
        r2.start(nice=10)
        r3.start(nice=10)
        r2.wait_ready()
        r3.wait_ready()
        proxy.wait_states({"r1": "UP", "r2": "UP", "r3": "UP"})
        time.sleep(1)

        load.phase = "rate-limit"
        load.set_rate("metered-app", metered_rate)
        time.sleep(metered_seconds)
        load.set_rate("metered-app", 0.0)
        time.sleep(1)

        load.phase = "rollback"
        restored = services.registry.rollback(people["bob"], MODEL, "drill rollback")
        report.rollback_at, report.rollback_version = clock(), restored.version
        _wait_until(lambda: report.rollback_reached(load.outcomes, ("r1", "r2", "r3")), 60,
                    "the rollback to reach every replica")
        time.sleep(1)

        load.phase = "scale-in"
        for replica in (r3, r2):
            replica.signal(signal.SIGTERM)
        report.exit_codes["r3"] = r3.wait_exit(60)
        report.exit_codes["r2"] = r2.wait_exit(60)
        proxy.wait_states({"r1": "UP", "r2": "DOWN", "r3": "DOWN"})
        time.sleep(1)

        load.phase = "scale-out-again"
        r2.start(nice=10)
        r2.wait_ready()
        proxy.wait_states({"r1": "UP", "r2": "UP"})
        time.sleep(2)

        load.phase = "kill"
        report.killed_at = clock()
        r2.signal(signal.SIGKILL)
        r2.wait_exit(30)
        report.dead_at = clock()  # Requests reaching r2 until here die with it.
        proxy.wait_states({"r2": "DOWN"})
        time.sleep(2)

        load.phase = "end"
        time.sleep(1)
        report.outcomes = load.stop()
        report.skipped = load.skipped
        r1.stop()  # SIGTERM: the last replica flushes what it holds.
        report.exit_codes["r1"] = r1.proc.returncode if r1.proc else None
        # The killed replica's log counts as unclosed once silent for twice its lease.
        time.sleep(max(0.0, report.dead_at + 2 * DECISION_LEASE + 1 - clock()))
        report.collect_store(services, people["carol"], database)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=30.0,
                        help="requests per second of the main caller (default 30)")
    parser.add_argument("--metered-rate", type=float, default=25.0,
                        help="requests per second of the metered caller (default 25)")
    parser.add_argument("--metered-seconds", type=float, default=20.0,
                        help="length of the rate-limit window (default 20 s)")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    parser.add_argument("--keep", type=Path, help="copy the drill's folder (logs) here")
    args = parser.parse_args(argv)
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        print("drill: HAProxy is not installed (apt-get install haproxy)", file=sys.stderr)
        return 2
    report = run(rate=args.rate, metered_rate=args.metered_rate,
                 metered_seconds=args.metered_seconds, keep=args.keep)
    summary = report.summary()
    verdict = judge(summary)
    print(render(summary, verdict))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "verdict": verdict}, indent=2))
    return 0 if all(v["ok"] for v in verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
