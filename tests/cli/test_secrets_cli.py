"""Keys from a mounted Secret, and a first admin whose key never reaches a log."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from garrison.cli.main import cli


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    for name in ("GARRISON_API_KEY", "GARRISON_DATABASE_URL", "GARRISON_KEY_DIR",
                 "GARRISON_SIGNING_KEY_DIR", "GARRISON_MODEL_SIGNING_KEY_DIR",
                 "GARRISON_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(*args: str, code: int = 0, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def _mounted(directory: Path) -> dict[str, str]:
    """Env of a pod that mounts the two key Secrets (read-only folders of 0400 files)."""
    signing = directory / "model-signing"
    for folder in (signing, directory):
        for path in folder.iterdir():
            if path.is_file():
                path.chmod(0o400)
        folder.chmod(0o500)
    return {"GARRISON_KEY_DIR": str(directory), "GARRISON_SIGNING_KEY_DIR": str(directory),
            "GARRISON_MODEL_SIGNING_KEY_DIR": str(signing)}


def test_secrets_create_writes_every_key_privately_and_prints_none(env) -> None:
    keys = env / "keys"
    result = run("secrets", "create", str(keys))
    names = sorted(p.name for p in keys.iterdir())
    assert {"active", "master-active", "pseudonym-hmac.key", "pseudonym-siv.key",
            "model-signing"} <= set(names)
    assert "model-signing/active" in result.output
    assert any(n.endswith(".pem") for n in names) and any(
        n.startswith("master-") and n.endswith(".key") for n in names)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in [*keys.iterdir(), *(keys / "model-signing").iterdir()]:
        if path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o700
            continue
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = path.read_bytes()
        if path.name.endswith(".pem"):
            content = b"".join(content.splitlines()[1:-1])  # The base64 body.
        if path.name not in ("active", "master-active"):
            assert content[:12].hex() not in result.output
            assert content[:12] not in result.output.encode()
    assert "kubectl create secret generic garrison-keys " in result.output
    assert "kubectl create secret generic garrison-keys-model-signing " in result.output
    again = run("secrets", "create", str(keys), code=2)
    assert "never overwritten" in again.stderr


def test_secrets_check_loads_a_mounted_set_and_names_a_faulty_file(env) -> None:
    keys = env / "keys"
    run("secrets", "create", str(keys))
    mounted = _mounted(keys)
    out = json.loads(run("secrets", "check", "--json", env=mounted).stdout)
    assert out["ok"] and len(out["keys"]) == 5
    keys.chmod(0o700)
    (keys / "pseudonym-siv.key").chmod(0o644)
    bad = run("secrets", "check", env=mounted, code=2)
    assert "pseudonym-siv.key" in bad.stderr and "0644" in bad.stderr
    (keys / "pseudonym-siv.key").unlink()
    missing = run("secrets", "check", env=mounted, code=2)
    assert "pseudonym-siv.key" in missing.stderr


def test_init_on_mounted_keys_writes_the_admin_key_to_a_file_only(env) -> None:
    keys = env / "keys"
    run("secrets", "create", str(keys))
    before = {p.name: p.read_bytes() for p in keys.rglob("*") if p.is_file()}
    mounted = _mounted(keys)
    key_file = env / "root.key"
    result = run("init", "--admin", "root", "--key-file", str(key_file), env=mounted)
    secret = key_file.read_text().strip()
    assert secret.startswith("gk_") and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert secret not in result.output and secret not in result.stderr
    assert secret[-20:] not in result.output + result.stderr
    assert f"written to {key_file}" in result.output
    after = {p.name: p.read_bytes() for p in keys.rglob("*") if p.is_file()}
    assert after == before  # Used, not changed.
    assert not (env / "home" / "keys").exists()
    listed = run("user", "list", "--json", env={**mounted, "GARRISON_API_KEY": secret})
    assert [p["name"] for p in json.loads(listed.stdout)] == ["root"]


def test_init_key_to_standard_output_prints_the_key_alone(env) -> None:
    result = run("init", "--key-file", "-")
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("gk_")


def test_init_refuses_an_existing_key_file_before_creating_anything(env) -> None:
    target = env / "root.key"
    target.write_text("keep me")
    result = run("init", "--key-file", str(target), code=2)
    assert "already exists" in result.stderr
    assert target.read_text() == "keep me"
    assert not (env / "home").exists()
    link = env / "link.key"
    link.symlink_to(env / "elsewhere")
    run("init", "--key-file", str(link), code=2)
    assert not (env / "elsewhere").exists()
    run("init", "--key-file", str(env / "no-such-dir" / "k"), code=2)
    assert not (env / "home").exists()
