"""`garrison model` end to end: register, four eyes, promote, rollback, verify, download."""

from __future__ import annotations

import json
import pickle

from click.testing import CliRunner

from garrison.cli.main import cli
from tests.registry.helpers import servable_model_bytes


def run(*args, key=None, code=0):
    result = CliRunner().invoke(cli, list(args), env={"GARRISON_API_KEY": key} if key else {},
                                catch_exceptions=False)
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def test_model_lifecycle_cli(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    admin = json.loads(run("init", "--json").stdout)["api_key"]
    alice = json.loads(run("user", "add", "alice", "--role", "data-scientist", "--with-key",
                           "--json", key=admin).stdout)["api_key"]
    bob = json.loads(run("user", "add", "bob", "--role", "approver", "--with-key", "--json",
                         key=admin).stdout)["api_key"]
    artifact = tmp_path / "m.pkl"
    artifact.write_bytes(servable_model_bytes())
    train = tmp_path / "train.csv"  # The training table, label included, as the README has it.
    train.write_text("x0,x1,x2,x3,label\n" + "".join(
        f"{i % 3},{i % 5 - 2},{i % 7},{(i * 13) % 11},{i % 2}\n" for i in range(40)))
    for _ in range(2):
        run("model", "register", "churn", str(artifact), "--framework", "custom",
            "--reference", str(train), "--target", "label", key=alice)
    run("model", "approve", "churn:1", key=alice, code=1)  # not an approver
    run("model", "promote", "churn:1", key=bob, code=1)  # not approved yet
    run("model", "approve", "churn:1", "--reason", "ok", key=bob)
    run("model", "approve", "churn:2", key=bob)
    run("model", "promote", "churn:1", key=bob)
    run("model", "promote", "churn:2", key=bob)
    out = json.loads(run("model", "rollback", "churn", "--json", key=bob).stdout)
    assert out["version"] == 1 and out["stage"] == "production"
    verified = json.loads(run("model", "verify", "churn", "--json", key=bob).stdout)
    assert verified["ok"] and verified["version"] == 1
    run("model", "download", "churn:1", "--out", str(tmp_path / "x"), key=bob, code=1)
    run("model", "download", "churn:1", "--out", str(tmp_path / "x"), key=alice)
    assert (tmp_path / "x").read_bytes() == artifact.read_bytes()
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    run("model", "register", "churn", str(evil), key=alice, code=1)
    listed = json.loads(run("model", "list", "churn", "--json", key=bob).stdout)
    assert [(v["version"], v["stage"]) for v in listed] == [(1, "production"), (2, "approved")]
    run("signing", "rotate", key=admin)
    run("model", "verify", "churn:2", key=bob)


def test_download_over_an_existing_file_leaves_it_private(tmp_path, monkeypatch) -> None:
    import os
    import stat

    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    admin = json.loads(run("init", "--json").stdout)["api_key"]
    alice = json.loads(run("user", "add", "alice", "--role", "data-scientist", "--with-key",
                           "--json", key=admin).stdout)["api_key"]
    artifact = tmp_path / "m.pkl"
    artifact.write_bytes(pickle.dumps({"coef": [0.5, -1.0]}))
    run("model", "register", "churn", str(artifact), key=alice)
    out = tmp_path / "downloaded.pkl"
    out.write_bytes(b"an older, longer, world-readable file" * 10)
    os.chmod(out, 0o644)
    result = run("model", "download", "churn:1", "--out", str(out), key=alice)
    assert "(mode 0600)" in result.stdout
    assert out.read_bytes() == artifact.read_bytes()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloaded.pkl", "home", "m.pkl"]
