"""`garrison gate` end to end, with the real sandboxed evaluation: a policy file, a gate
run at registration, the report (human and JSON), refusal and override at approval."""

from __future__ import annotations

import json
import pickle

from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from garrison.cli.main import cli
from tests.gates.test_sandbox import HOLDOUT, TRAIN

FEATURES = ["age", "income", "debt"]


def run(*args, key=None, code=0):
    result = CliRunner().invoke(cli, list(args), env={"GARRISON_API_KEY": key} if key else {},
                                catch_exceptions=False)
    assert code is None or result.exit_code == code, (result.output, result.stderr)
    return result


def test_gate_cli(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    root = json.loads(run("init", "--json").stdout)["api_key"]
    keys = {name: json.loads(run("user", "add", name, "--role", role, "--with-key", "--json",
                                 key=root).stdout)["api_key"]
            for name, role in (("alice", "data-scientist"), ("bob", "approver"),
                               ("root2", "admin"))}
    HOLDOUT.to_csv(tmp_path / "holdout.csv", index=False)
    run("data", "register", str(tmp_path / "holdout.csv"), "--name", "holdout",
        "--target", "label", key=keys["alice"])
    labels = TRAIN["label"].sample(frac=1.0, random_state=3).reset_index(drop=True)
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(
        LogisticRegression(max_iter=1000).fit(TRAIN[FEATURES], labels), protocol=5))
    (tmp_path / "meta.json").write_text(json.dumps({"input_schema": {"features": [
        {"name": n, "type": "float"} for n in FEATURES]}}))
    register = ("model", "register", "credit", str(tmp_path / "m.pkl"), "--metadata",
                str(tmp_path / "meta.json"))
    run(*register, key=keys["alice"])
    (tmp_path / "gate.toml").write_text('holdout_dataset = "holdout:1"\n\n[performance]\n'
                                        'floor = 0.8\n')
    run("gate", "policy", "set", "credit", "--file", str(tmp_path / "gate.toml"),
        key=keys["alice"], code=1)  # Data scientists do not set gates.
    out = run("gate", "policy", "set", "credit", "--file", str(tmp_path / "gate.toml"),
              key=keys["bob"]).stdout
    assert "revision 1" in out
    shown = json.loads(run("gate", "policy", "show", "credit", "--json", key=keys["bob"]).stdout)
    assert shown["policy"]["performance"]["floor"] == 0.8

    # Version 1 predates the policy: approving it needs a run first. Shuffled labels fail.
    failed = run("model", "approve", "credit:1", key=keys["bob"], code=1)
    assert "gate-failed" in failed.stderr
    ran = run("gate", "run", "credit:1", key=keys["alice"], code=1)
    assert "FAILED" in ran.stdout and "performance" in ran.stdout
    report = json.loads(run("gate", "report", "credit:1", "--json", key=keys["bob"]).stdout)
    assert report["passed"] is False and report["current_policy"] is True
    shown = json.loads(run("model", "show", "credit:1", "--json", key=keys["bob"]).stdout)
    assert shown["gate"]["status"] == "failed"
    assert shown["gate"]["report_sha256"] == report["report_sha256"]

    asked = json.loads(run("gate", "override", "request", "credit:1", "--reason",
                           "a known-weak baseline kept for the A/B comparison only",
                           "--json", key=root).stdout)
    run("gate", "override", "approve", asked["id"], key=root, code=1)  # Four eyes.
    run("gate", "override", "approve", asked["id"], key=keys["root2"])
    run("model", "approve", "credit:1", key=keys["bob"])
    # A version registered under the policy is gated at once, and says so.
    out = run(*register, key=keys["alice"]).stdout
    assert "release gate failed (performance" in out
    run("model", "approve", "credit:2", key=keys["bob"], code=1)


def test_deploy_configure_sets_the_shadow_agreement_gate(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    root = json.loads(run("init", "--json").stdout)["api_key"]
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(
        LogisticRegression(max_iter=1000).fit(TRAIN[FEATURES], TRAIN["label"]), protocol=5))
    run("model", "register", "credit", str(tmp_path / "m.pkl"), key=root)
    out = json.loads(run("deploy", "configure", "credit", "--shadow-min-agreement", "0.97",
                         "--shadow-min-requests", "500", "--json", key=root).stdout)
    assert (out["shadow_min_agreement"], out["shadow_min_requests"]) == (0.97, 500)
    run("deploy", "configure", "credit", "--shadow-min-agreement", "1.5", key=root, code=2)


def test_policy_set_takes_the_positive_label(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    root = json.loads(run("init", "--json").stdout)["api_key"]
    keys = {name: json.loads(run("user", "add", name, "--role", role, "--with-key", "--json",
                                 key=root).stdout)["api_key"]
            for name, role in (("alice", "data-scientist"), ("bob", "approver"))}
    HOLDOUT.to_csv(tmp_path / "holdout.csv", index=False)
    run("data", "register", str(tmp_path / "holdout.csv"), "--name", "holdout",
        "--target", "label", key=keys["alice"])
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(
        LogisticRegression(max_iter=1000).fit(TRAIN[FEATURES], TRAIN["label"]), protocol=5))
    (tmp_path / "meta.json").write_text(json.dumps({"input_schema": {"features": [
        {"name": n, "type": "float"} for n in FEATURES]}}))
    run("model", "register", "credit", str(tmp_path / "m.pkl"), "--metadata",
        str(tmp_path / "meta.json"), key=keys["alice"])
    (tmp_path / "gate.toml").write_text('holdout_dataset = "holdout:1"\npositive_label = 0\n')
    # The option wins over the file, as every option does.
    run("gate", "policy", "set", "credit", "--file", str(tmp_path / "gate.toml"),
        "--positive-label", "1", key=keys["bob"])
    shown = json.loads(run("gate", "policy", "show", "credit", "--json", key=keys["bob"]).stdout)
    assert shown["policy"]["positive_label"] == "1"
    # Matched by text against the CSV's integer labels: the gate runs with it.
    report = json.loads(run("gate", "run", "credit:1", "--json", key=keys["alice"],
                            code=None).stdout)
    performance = next(c for c in report["checks"] if c["name"] == "performance")
    assert "could not run" not in performance["reason"] and performance["passed"]
    assert report["policy"]["positive_label"] == "1"
    # A positive label makes no sense for a regression policy: refused, nothing stored.
    refused = run("gate", "policy", "set", "credit", "--holdout", "holdout:1", "--task",
                  "regression", "--positive-label", "1", key=keys["bob"], code=2)
    assert "positive_label" in refused.stderr
    again = json.loads(run("gate", "policy", "show", "credit", "--json", key=keys["bob"]).stdout)
    assert again["revision"] == shown["revision"]
