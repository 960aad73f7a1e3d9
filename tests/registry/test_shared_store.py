"""Replicas share the registry through the database, object storage and mounted keys only.

Two installations with separate home directories play two pods: one registers, the
other loads, with nothing on a shared disk but the key files (a Secret each pod
mounts). The object store is moto's S3-compatible server in its own process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from garrison.app import build_services, initialize
from garrison.config import load_settings
from garrison.errors import ConfigurationError, DecryptionFailed
from garrison.storage.artifacts import blob_key
from garrison.testing import s3_test_server


@pytest.fixture(scope="module")
def s3_server() -> Iterator[dict[str, str]]:
    with s3_test_server() as server:
        yield server


@pytest.fixture
def shared(tmp_path: Path, s3_server, db_url, monkeypatch) -> dict[str, object]:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    credentials = tmp_path / "s3-credentials"
    credentials.write_text("[default]\naws_access_key_id = a\naws_secret_access_key = b\n")
    credentials.chmod(0o400)
    return {
        "database_url": db_url, "key_dir": tmp_path / "keys",
        "signing_key_dir": tmp_path / "keys", "artifact_store": "s3",
        "s3_bucket": s3_server["bucket"], "s3_prefix": f"i{os.urandom(6).hex()}/",
        "s3_endpoint_url": s3_server["endpoint_url"], "s3_region": "us-east-1",
        "s3_addressing_style": "path", "s3_credentials_file": credentials,
    }


def test_a_version_registered_on_one_replica_loads_on_another(
        tmp_path, shared, model_file, fitted, clock) -> None:
    first = load_settings(home=tmp_path / "pod-a", **shared)
    services_a, admin, _ = initialize(first, "root", clock=clock)
    try:
        alice = services_a.accounts.create_principal(admin, "alice", roles=["data-scientist"])
        v = services_a.registry.register(alice, "fraud", model_file, {"framework": "sklearn"})
    finally:
        services_a.close()
    assert not (tmp_path / "pod-a" / "artifacts").exists()  # Nothing on a local disk.

    second = load_settings(home=tmp_path / "pod-b", **shared)
    services_b = build_services(second, clock=clock)
    try:
        loaded = services_b.loader.load("fraud", v.version)
        model, X = fitted
        assert np.array_equal(loaded.model.predict(X), model.predict(X))
        cached = tmp_path / "pod-b" / "cache" / "artifacts" / blob_key("fraud", v.version)
        assert cached.read_bytes().startswith(b"GSEAL1")  # Kept sealed.
        assert model_file.read_bytes()[200:264] not in cached.read_bytes()
    finally:
        services_b.close()


def test_a_changed_object_is_refused_by_a_fresh_replica(tmp_path, shared, model_file,
                                                        clock) -> None:
    first = load_settings(home=tmp_path / "pod-a", **shared)
    services_a, admin, _ = initialize(first, "root", clock=clock)
    alice = services_a.accounts.create_principal(admin, "alice", roles=["data-scientist"])
    v = services_a.registry.register(alice, "fraud", model_file, {"framework": "sklearn"})
    blobs = services_a.registry._artifacts.blobs
    sealed = bytearray(blobs.get(blob_key("fraud", v.version)))
    sealed[-100] ^= 1
    blobs.put(blob_key("fraud", v.version), [bytes(sealed)])
    services_a.close()

    services_b = build_services(load_settings(home=tmp_path / "pod-b", **shared), clock=clock)
    try:
        with pytest.raises(DecryptionFailed):
            services_b.loader.load("fraud", v.version)
        assert not (tmp_path / "pod-b" / "cache" / "artifacts" / "fraud").exists()
    finally:
        services_b.close()


def test_s3_without_a_bucket_stops_startup(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="s3_bucket"):
        load_settings(home=tmp_path, artifact_store="s3")
    with pytest.raises(ConfigurationError, match="GARRISON_S3_ENDPOINT_URL"):
        load_settings(home=tmp_path, s3_endpoint_url="ftp://x")
