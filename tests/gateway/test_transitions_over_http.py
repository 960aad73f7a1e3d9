"""A broken version cannot be promoted or rolled back to, over real HTTP (issue 12).

`garrison admin-serve` and `garrison serve` run as their own processes on one home. Each
refused transition comes back to the SDK as the documented error with its reason, leaves
the stages as they were, and the gateway keeps answering with the version in production.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import httpx
import pytest

from garrison.app import initialize
from garrison.client import GarrisonClient
from garrison.config import load_settings
from garrison.demo import setup_demo
from garrison.errors import GarrisonError

from .models import add_model, artifact_path, row
from .serving import free_port, gateway_env, start, stop

SERVE_ADMIN = "from garrison.cli.web import admin_serve_command as c; c(prog_name='admin-serve')"


def _predict_version(base: str, key: str, model: str, X) -> int:  # type: ignore[no-untyped-def]
    r = httpx.post(f"{base}/v1/models/{model}/predict", timeout=60,
                   headers={"Authorization": f"Bearer {key}"},
                   content=json.dumps({"instances": [row(X)]}))
    assert r.status_code == 200, r.text
    return int(r.json()["model_version"])


@pytest.mark.slow
def test_a_broken_version_is_refused_over_http_and_serving_goes_on(tmp_path) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin)
    add_model(services, demo, demo.model, seed=12)  # Version 2 in production.
    services.close()
    env = gateway_env(settings.home)
    admin_port, gw_port = free_port(), free_port()
    admin_log, gw_log = tmp_path / "admin.log", tmp_path / "gateway.log"
    admin_proc = start(["-c", SERVE_ADMIN, "--host", "127.0.0.1", "--port", str(admin_port)],
                       env, admin_port, admin_log, health="/admin/health", workers=0)
    gateway = start(["-m", "garrison", "serve", "--port", str(gw_port)], env, gw_port, gw_log)
    base, gw = f"http://127.0.0.1:{admin_port}", f"http://127.0.0.1:{gw_port}"
    scoring = demo.keys["scoring-app"]
    try:
        assert _predict_version(gw, scoring, demo.model, demo.X) == 2
        alice = GarrisonClient(base, demo.keys["alice"], timeout=60)
        bob = GarrisonClient(base, demo.keys["bob"], timeout=60)
        # 1. What the SDK could always send: an artifact with no input schema.
        v3 = alice.register(demo.model, pickle.dumps({"coef": [1.0]}), filename="model.pkl")
        with pytest.raises(GarrisonError) as refused:
            bob.approve(demo.model, v3.version, "looks fine")
        assert refused.value.code == "model-not-servable"
        assert "input schema" in str(refused.value)
        # 2. Version 1's sealed artifact is damaged on disk: a rollback onto it is refused
        #    after its smoke test, and production stays where it was.
        blob = artifact_path(settings.home, demo.model, 1)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
        with pytest.raises(GarrisonError) as refused:
            bob.rollback(demo.model, "go back")
        assert refused.value.code in ("decryption-failed", "digest-mismatch",
                                      "model-not-servable")
        stages = {v.version: v.stage for v in bob.list_versions(demo.model)}
        assert stages == {1: "approved", 2: "production", 3: "registered"}
        # The gateway never saw a change: version 2 keeps answering.
        assert _predict_version(gw, scoring, demo.model, demo.X) == 2
        assert httpx.get(f"{gw}/v2/health/ready", timeout=30).status_code == 200
        alice.close()
        bob.close()
    finally:
        stop(gateway)
        stop(admin_proc)
    text = admin_log.read_text() + gw_log.read_text()
    assert "Traceback" not in text


def test_the_admin_serve_snippet_names_a_real_command() -> None:
    """The module path the test starts is the one the CLI uses (a rename breaks it here)."""
    done = subprocess.run([sys.executable, "-c", SERVE_ADMIN, "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "admin-serve" in done.stdout
