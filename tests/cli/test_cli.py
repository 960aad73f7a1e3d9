"""The CLI end to end on a temporary home (exit codes, JSON, credentials)."""

from __future__ import annotations

import json
import os
import stat

import click
import pytest
from click.testing import CliRunner

from garrison.cli.main import cli


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("GARRISON_HOME", str(h))
    monkeypatch.delenv("GARRISON_API_KEY", raising=False)
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    return h


def run(*args: str, key: str | None = None, code: int = 0):
    env = {"GARRISON_API_KEY": key} if key else {}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, (result.output, result.stderr)
    return result


@pytest.fixture
def admin_key(home) -> str:
    out = json.loads(run("init", "--json").stdout)
    return out["api_key"]


def test_init_creates_private_home_and_keys(home, admin_key) -> None:
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    pems = list((home / "keys" / "signing").glob("*.pem"))
    assert pems and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pems)
    assert admin_key.startswith("gk_")
    again = run("init", code=2)  # already initialized: an error, nothing overwritten
    assert "already" in again.stderr


def test_commands_need_credentials(home, admin_key) -> None:
    r = run("user", "list", code=1)
    assert "GARRISON_API_KEY" in r.stderr
    r = run("user", "list", key="gk_000000000000_" + "A" * 43, code=1)
    assert "authentication failed" in r.stderr


def test_governance_flow(home, admin_key) -> None:
    out = json.loads(run("user", "add", "alice", "--role", "data-scientist", "--with-key",
                         "--json", key=admin_key).stdout)
    alice_key = out["api_key"]
    assert out["principal"]["roles"] == ["data-scientist"]
    r = run("user", "add", "mallory", "--role", "admin", key=alice_key, code=1)
    assert "forbidden" in r.stderr
    people = json.loads(run("user", "list", "--json", key=admin_key).stdout)
    assert sorted(p["name"] for p in people) == ["admin", "alice"]
    run("role", "grant", "alice", "auditor", key=admin_key)
    keys = json.loads(run("key", "list", "--for", "alice", "--json", key=admin_key).stdout)
    assert len(keys) == 1 and "key_hash" not in keys[0]
    run("key", "revoke", keys[0]["prefix"], key=admin_key)
    run("user", "list", key=alice_key, code=1)
    log = json.loads(run("audit", "log", "--outcome", "denied", "--oldest-first", "--json",
                         key=admin_key).stdout)
    assert [(e["actor"], e["action"]) for e in log][:1] == [("alice", "create-principal")]
    verify = json.loads(run("audit", "verify", "--json", key=admin_key).stdout)
    assert verify["ok"] is True and verify["events"] >= 6
    exported = run("audit", "export", "--actor", "admin", key=admin_key).stdout.splitlines()
    assert exported and all(json.loads(line)["actor"] == "admin" for line in exported)


def test_audit_verify_fails_with_exit_1_after_tampering(home, admin_key) -> None:
    import sqlite3

    run("user", "add", "bob", key=admin_key)
    with sqlite3.connect(home / "garrison.db") as conn:
        conn.execute("UPDATE audit_events SET actor = 'eve' WHERE seq = 1")
    r = run("audit", "verify", "--json", key=admin_key, code=1)
    assert json.loads(r.stdout) == {"ok": False, "position": 1, "reason": "modified",
                                    "message": json.loads(r.stdout)["message"]}


def test_usage_errors_exit_2(home, admin_key) -> None:
    run("user", "add", key=admin_key, code=2)
    run("audit", "log", "--since", "not-a-time", key=admin_key, code=2)
    run("nonsense", code=2)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=" ".join)
def test_every_command_has_help(path) -> None:
    r = CliRunner().invoke(cli, [*path, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output
    cmd = dict(_commands(cli))[path]
    assert cmd.help, f"{' '.join(path)} has no help text"


def test_version() -> None:
    assert json.loads(run("version", "--json").stdout)["version"]
