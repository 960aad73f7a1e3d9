"""Issue 11, finding 7: a tampered sealed reference sample is caught and visible.

The attack: flip a byte of the sealed reference sample under the home. Before, ``model
verify`` passed, the audit trail said "load ok", and the gateway quietly stopped
serving the model. Now the sample is checked by ``model verify`` and by every load (an
audited failure with its reason), and the gateway raises a high alert and fails
readiness for the model it cannot serve.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from garrison.app import build_gateway, initialize
from garrison.audit import AuditQuery
from garrison.cli.main import cli
from garrison.config import load_settings
from garrison.demo import setup_demo
from garrison.errors import IntegrityFailure


@pytest.fixture
def tampered(tmp_path):
    settings = load_settings(home=tmp_path / "home", database_url=None)
    services, admin, admin_key = initialize(settings, "root")
    demo = setup_demo(services, admin)
    v = services.registry.get("credit-risk", 1)
    assert v.metadata.reference_sha256  # The demo registers with --reference.
    path = services.registry._artifacts.path("credit-risk", 1, "reference")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    yield settings, services, demo, admin_key.secret
    services.close()


def test_model_verify_fails_on_a_tampered_reference(tampered, monkeypatch) -> None:
    settings, services, demo, key = tampered
    people = demo.extra["people"]
    with pytest.raises(IntegrityFailure):
        services.registry.verify(people["carol"], "credit-risk", 1)
    failed = services.store.query(AuditQuery(action="verify-model-version", outcome="failed"))
    assert failed and failed[-1].reason in ("decryption-failed", "digest-mismatch")
    monkeypatch.setenv("GARRISON_HOME", str(settings.home))
    monkeypatch.setenv("GARRISON_API_KEY", key)
    result = CliRunner().invoke(cli, ["model", "verify", "credit-risk", "1"])
    assert result.exit_code not in (0, 1) and "error" in result.output, result.output


def test_the_load_fails_audited_and_the_gateway_says_so(tampered) -> None:
    settings, services, demo, _ = tampered
    with pytest.raises(IntegrityFailure):
        services.loader.load("credit-risk", 1)
    app, state = build_gateway(services, settings, refresh_interval=30.0)
    with TestClient(app) as client:
        # The gateway stays ready for its other models; this one is out, with its reason.
        assert client.get("/v2/health/ready").status_code == 200
        assert "credit-risk" in state.dataplane.table.problems()
    loads = services.store.query(AuditQuery(action="load-model-version", limit=None))
    assert loads and all(e.outcome == "failed" for e in loads)  # never "load ok"
    alerts = services.alerts.list(kind="model-not-served")
    assert len(alerts) == 1 and alerts[0].severity == "high"
