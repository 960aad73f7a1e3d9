"""`garrison admin-serve` options (the served app itself is exercised in tests/client)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from garrison.cli.web import _is_loopback, admin_serve_command


def test_help_documents_the_defaults() -> None:
    result = CliRunner().invoke(admin_serve_command, ["--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "8081" in result.output
    assert "--ssl-certfile" in result.output


def test_certificate_without_key_is_a_usage_error(tmp_path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = CliRunner().invoke(admin_serve_command, ["--ssl-certfile", str(cert)])
    assert result.exit_code == 2 and "go together" in result.output


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.8.9.1", True),
    ("0.0.0.0", False), ("10.0.0.5", False), ("admin.example.com", False),
])
def test_loopback_detection(host, loopback) -> None:
    assert _is_loopback(host) is loopback
