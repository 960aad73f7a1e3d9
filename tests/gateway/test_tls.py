"""HTTPS in the gateway process: the certificate pair is checked before anything starts,
the key must be private, and the server then speaks TLS only."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from garrison.app import initialize
from garrison.config import load_settings
from garrison.demo import FEATURES, setup_demo
from garrison.errors import ConfigurationError
from garrison.gateway.protocol import tls_files
from tests.waiting import HANG_GUARD

from .serving import free_port, gateway_env, start, stop


def _pair(directory: Path, key_mode: int = 0o600) -> tuple[Path, Path]:
    """A self-signed ECDSA certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "garrison-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(key_mode)
    return cert_path, key_path


def test_the_pair_is_checked(tmp_path) -> None:
    cert, key = _pair(tmp_path)
    assert tls_files(None, None) == {}
    assert tls_files(cert, key) == {"ssl_certfile": str(cert), "ssl_keyfile": str(key),
                                    "ssl_ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20"}
    for pair, words in [((cert, None), "both"), ((None, key), "both"),
                        ((tmp_path / "nope.pem", key), "not found")]:
        with pytest.raises(ConfigurationError, match=words):
            tls_files(*pair)
    key.chmod(0o640)
    with pytest.raises(ConfigurationError, match="0600") as caught:
        tls_files(cert, key)
    assert "BEGIN" not in str(caught.value)  # Never the key material.


def test_serve_refuses_a_readable_key_before_starting(tmp_path) -> None:
    cert, key = _pair(tmp_path, key_mode=0o644)
    home = tmp_path / "home"
    initialize(load_settings(home=home, database_url=None), "root")[0].close()
    run = subprocess.run([sys.executable, "-m", "garrison", "serve", "--port",
                          str(free_port()), "--tls-cert", str(cert), "--tls-key", str(key)],
                         env=gateway_env(home), capture_output=True, text=True,
                         timeout=3 * HANG_GUARD)
    assert run.returncode == 2 and "0600" in run.stderr
    assert "Uvicorn running" not in run.stderr + run.stdout


@pytest.mark.slow
def test_the_gateway_speaks_tls_only(tmp_path) -> None:
    cert, key = _pair(tmp_path)
    home = tmp_path / "home"
    services, admin, _ = initialize(load_settings(home=home, database_url=None), "root")
    demo = setup_demo(services, admin)
    services.close()
    port, log = free_port(), tmp_path / "server.log"
    proc = start(["-m", "garrison", "serve", "--port", str(port)],
                 gateway_env(home, GARRISON_TLS_CERT_FILE=str(cert),
                             GARRISON_TLS_KEY_FILE=str(key)), port, log, tls_ca=cert)
    try:
        row = {n: float(demo.X[0, j]) for j, n in enumerate(FEATURES)}
        r = httpx.post(f"https://127.0.0.1:{port}/v1/models/credit-risk/predict",
                       headers={"authorization": f"Bearer {demo.keys['scoring-app']}"},
                       content=json.dumps({"instances": [row]}),
                       verify=ssl.create_default_context(cafile=str(cert)))
        assert r.status_code == 200 and r.json()["model_version"] == 1
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        missing = httpx.get(f"https://127.0.0.1:{port}/nope",
                            verify=ssl.create_default_context(cafile=str(cert)))
        assert missing.status_code == 404 and "strict-transport-security" in missing.headers
        with pytest.raises(httpx.HTTPError):  # Plain HTTP gets no answer at all.
            httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=5)
        with pytest.raises(httpx.ConnectError):  # An untrusted certificate is refused.
            httpx.get(f"https://127.0.0.1:{port}/v2/health/live", timeout=5)
        context = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        tls12 = ssl.create_default_context(cafile=str(cert))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                tls12.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.2" and "GCM" in tls.cipher()[0]
        weak = ssl.create_default_context(cafile=str(cert))
        weak.maximum_version = ssl.TLSVersion.TLSv1_2
        # CBC suites that Python's default server context would still accept.
        weak.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                pytest.raises(ssl.SSLError):
            weak.wrap_socket(raw, server_hostname="127.0.0.1")
    finally:
        stop(proc)
    assert demo.keys["scoring-app"] not in log.read_text()
    assert os.stat(key).st_mode & 0o077 == 0
