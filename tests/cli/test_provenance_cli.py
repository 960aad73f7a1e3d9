"""`garrison model bom`, `model signature`, `signing model-key` and `register --signature`."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

from click.testing import CliRunner
from model_signing import signing as ms_signing

from garrison.cli.main import cli
from garrison.signing import _hazmat


def run(*args, key=None, code=0, env=None):
    result = CliRunner().invoke(cli, list(args), env={**({"GARRISON_API_KEY": key} if key
                                                        else {}), **(env or {})},
                                catch_exceptions=False)
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def test_bom_signature_and_key_round_trip(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    admin = json.loads(run("init", "--json").stdout)["api_key"]
    alice = json.loads(run("user", "add", "alice", "--role", "data-scientist", "--with-key",
                           "--json", key=admin).stdout)["api_key"]
    artifact = tmp_path / "m.pkl"
    artifact.write_bytes(pickle.dumps({"coef": [0.5, -1.0]}))
    run("model", "register", "churn", str(artifact), "--framework", "custom", key=alice)
    bom = json.loads(run("model", "bom", "churn:1", key=alice).stdout)
    assert bom["metadata"]["component"]["name"] == "churn"
    run("model", "bom", "churn:1", "--out", str(tmp_path / "bom.json"), key=alice)
    assert json.loads((tmp_path / "bom.json").read_text()) == bom
    run("model", "signature", "churn:1", "--out", str(tmp_path / "m.sig"), key=alice)
    run("signing", "model-key", "--out", str(tmp_path / "garrison.pub"), key=alice)
    printed = run("signing", "model-key", key=alice).stdout
    assert printed.strip() == (tmp_path / "garrison.pub").read_text().strip()
    verified = subprocess.run([sys.executable, "-m", "model_signing", "verify", "key",
                               "--signature", str(tmp_path / "m.sig"), "--public_key",
                               str(tmp_path / "garrison.pub"), str(artifact)],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stderr
    # A rotation keeps older OpenSSF signatures verifying inside Garrison.
    rotated = json.loads(run("signing", "rotate", "--json", key=admin).stdout)
    assert len(rotated["model_signing_key_id"]) == 64
    out = json.loads(run("model", "verify", "churn:1", "--json", key=admin).stdout)
    assert out["model_signed_by"] and out["model_signed_by"] != rotated["model_signing_key_id"]


def test_register_with_a_trusted_signature(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    private = tmp_path / "ci.pem"
    private.write_bytes(_hazmat.ec_generate_pem())
    public = tmp_path / "ci.pub"
    public.write_bytes(_hazmat.ec_public_pem_from_private(private.read_bytes()))
    trust = {"GARRISON_MODEL_SIGNING_TRUSTED_KEYS": json.dumps([str(public)])}
    admin = json.loads(run("init", "--json", env=trust).stdout)["api_key"]
    alice = json.loads(run("user", "add", "alice", "--role", "data-scientist", "--with-key",
                           "--json", key=admin, env=trust).stdout)["api_key"]
    artifact = tmp_path / "m.pkl"
    artifact.write_bytes(pickle.dumps({"coef": [0.5, -1.0]}))
    sig = tmp_path / "m.sig"
    ms_signing.Config().use_elliptic_key_signer(private_key=private).sign(artifact, sig)
    run("model", "register", "churn", str(artifact), "--signature", str(sig), key=alice,
        env=trust)
    artifact.write_bytes(pickle.dumps({"coef": [9.5, -1.0]}))  # Tampered after signing.
    result = run("model", "register", "churn", str(artifact), "--signature", str(sig),
                 key=alice, env=trust, code=1)
    assert "invalid-signature" in result.stderr
