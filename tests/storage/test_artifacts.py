"""The artifact store contract, run on both backends: a local directory and S3.

The S3 backend runs against moto's S3-compatible server in its own process (no
S3-compatible server installs from the package registries here; see
docs/kubernetes.md). Sealing and authentication are the same code over both.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from garrison.errors import ConfigurationError, DecryptionFailed, StorageError
from garrison.signing import MasterKeys
from garrison.storage.artifacts import (
    BlobCache,
    LocalBlobStore,
    SealedArtifactStore,
    blob_key,
)
from garrison.testing import s3_test_server


@pytest.fixture(scope="module")
def s3_server() -> Iterator[dict[str, str]]:
    with s3_test_server() as server:
        yield server


@pytest.fixture
def s3_credentials(tmp_path: Path, s3_server, monkeypatch) -> Path:
    """A credentials file, and an environment with no other credential in it."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = tmp_path / "credentials"
    path.write_text(f"[default]\naws_access_key_id = {s3_server['access_key']}\n"
                    f"aws_secret_access_key = {s3_server['secret_key']}\n")
    path.chmod(0o400)
    return path


def _s3(server: dict[str, str], credentials: Path, prefix: str | None = None, **kw):
    from garrison.storage.s3 import S3BlobStore

    return S3BlobStore(server["bucket"], prefix=prefix or f"t{os.urandom(6).hex()}/",
                       endpoint_url=server["endpoint_url"], region="us-east-1",
                       addressing_style="path", credentials_file=credentials, **kw)


@pytest.fixture(params=["local", "s3"])
def blobs(request, tmp_path: Path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "artifacts")
    server = request.getfixturevalue("s3_server")
    return _s3(server, request.getfixturevalue("s3_credentials"))


@pytest.fixture
def keys() -> MasterKeys:
    return MasterKeys.from_bytes(os.urandom(32))


def _tamper(blobs, key: str) -> None:
    data = bytearray(blobs.get(key))
    data[-20] ^= 1
    blobs.put(key, [bytes(data)])


# -- the blob contract ---------------------------------------------------------------
def test_put_get_delete(blobs) -> None:
    blobs.check()
    blobs.put("m/1.sealed", [b"abc", b"", b"def"])
    assert blobs.get("m/1.sealed") == b"abcdef"
    blobs.put("m/1.sealed", [b"replaced"])  # Whole replacement, never a mix.
    assert blobs.get("m/1.sealed") == b"replaced"
    blobs.delete("m/1.sealed")
    blobs.delete("m/1.sealed")  # Gone already: no error.
    with pytest.raises(DecryptionFailed, match="missing"):
        blobs.get("m/1.sealed")


@pytest.mark.parametrize("key", ["../escape.sealed", "/abs.sealed", "m/../../x",
                                 ".hidden/1.sealed", "a/b/c/d/e.sealed", "m//1", ""])
def test_keys_cannot_leave_the_store(blobs, key) -> None:
    for call in (lambda: blobs.put(key, [b"x"]), lambda: blobs.get(key),
                 lambda: blobs.delete(key)):
        with pytest.raises(StorageError):
            call()


def test_a_failed_upload_leaves_nothing(blobs) -> None:
    def chunks():
        yield b"first part"
        raise OSError("the source broke")

    with pytest.raises((OSError, StorageError)):
        blobs.put("m/2.sealed", chunks())
    with pytest.raises(DecryptionFailed):
        blobs.get("m/2.sealed")
    if isinstance(blobs, LocalBlobStore):
        assert [p.name for p in blobs.root.rglob("*")] == ["m"]  # No temporary left.


def test_local_blobs_are_private(tmp_path) -> None:
    store = LocalBlobStore(tmp_path / "artifacts")
    store.put("m/1.sealed", [b"x"])
    assert stat.S_IMODE(store.path("m/1.sealed").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "artifacts" / "m").stat().st_mode) == 0o700


# -- sealing over either backend -----------------------------------------------------------
def test_the_backend_holds_ciphertext_and_any_change_is_caught(blobs, keys, tmp_path) -> None:
    source = tmp_path / "model.bin"
    plain = os.urandom(2_500_000)  # Three sealed segments.
    source.write_bytes(plain)
    store = SealedArtifactStore(blobs, keys)
    store.put("fraud", 1, source, "ctx:fraud:1")
    sealed = blobs.get(blob_key("fraud", 1))
    assert sealed.startswith(b"GSEAL1") and plain[1000:1064] not in sealed
    assert store.get("fraud", 1, "ctx:fraud:1") == plain
    with pytest.raises(DecryptionFailed):
        store.get("fraud", 1, "ctx:fraud:2")  # A blob answers only for its own version.
    blobs.put(blob_key("fraud", 2), [sealed])  # Moved to another version's key.
    with pytest.raises(DecryptionFailed):
        store.get("fraud", 2, "ctx:fraud:2")
    _tamper(blobs, blob_key("fraud", 1))
    with pytest.raises(DecryptionFailed):
        store.get("fraud", 1, "ctx:fraud:1")
    with pytest.raises(DecryptionFailed):  # Another installation's master key.
        SealedArtifactStore(blobs, MasterKeys.from_bytes(os.urandom(32))).get(
            "fraud", 2, "ctx:fraud:2")


def test_remove_drops_every_blob_of_the_version(blobs, keys, tmp_path) -> None:
    source = tmp_path / "m.bin"
    source.write_bytes(b"model")
    store = SealedArtifactStore(blobs, keys, cache=BlobCache(tmp_path / "cache"))
    store.put("m", 1, source, "c")
    store.put("m", 1, source, "r", kind="reference")
    store.get("m", 1, "c")
    store.remove("m", 1)
    for kind, ctx in (("", "c"), ("reference", "r")):
        with pytest.raises(DecryptionFailed):
            store.get("m", 1, ctx, kind=kind)


# -- the replica cache -------------------------------------------------------------------
def test_cache_holds_authenticated_blobs_only(blobs, keys, tmp_path) -> None:
    source = tmp_path / "m.bin"
    source.write_bytes(b"weights" * 1000)
    SealedArtifactStore(blobs, keys).put("m", 1, source, "c")
    cache = BlobCache(tmp_path / "cache")
    replica = SealedArtifactStore(blobs, keys, cache=cache)
    with pytest.raises(DecryptionFailed):
        replica.get("m", 1, "wrong-context")
    assert cache.get(blob_key("m", 1)) is None  # Failed authentication: nothing cached.
    assert replica.get("m", 1, "c") == source.read_bytes()
    cached = tmp_path / "cache" / "m" / "1.sealed"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert cached.read_bytes() == blobs.get(blob_key("m", 1))  # Sealed, as stored.


def test_a_tampered_cache_entry_is_dropped_and_fetched_again(blobs, keys, tmp_path) -> None:
    source = tmp_path / "m.bin"
    source.write_bytes(b"weights" * 1000)
    SealedArtifactStore(blobs, keys).put("m", 1, source, "c")
    replica = SealedArtifactStore(blobs, keys, cache=BlobCache(tmp_path / "cache"))
    replica.get("m", 1, "c")
    cached = tmp_path / "cache" / "m" / "1.sealed"
    data = bytearray(cached.read_bytes())
    data[-5] ^= 1
    cached.write_bytes(bytes(data))
    assert replica.get("m", 1, "c") == source.read_bytes()  # From the backend, verified.
    assert cached.read_bytes() == blobs.get(blob_key("m", 1))  # And the cache repaired.


def test_a_cached_blob_is_authenticated_at_every_load(blobs, keys, tmp_path) -> None:
    source = tmp_path / "m.bin"
    source.write_bytes(b"weights")
    SealedArtifactStore(blobs, keys).put("m", 1, source, "c")
    replica = SealedArtifactStore(blobs, keys, cache=BlobCache(tmp_path / "cache"))
    replica.get("m", 1, "c")
    _tamper(blobs, blob_key("m", 1))  # The backend copy changes after caching...
    (tmp_path / "cache" / "m" / "1.sealed").write_bytes(b"GSEAL1\nnot a blob")
    with pytest.raises(DecryptionFailed):  # ...and the cache too: nothing unverified out.
        replica.get("m", 1, "c")


def test_cache_bound_evicts_least_recently_used(tmp_path) -> None:
    cache = BlobCache(tmp_path / "cache", max_bytes=2_500_000)
    for n in range(1, 4):
        cache.put(f"m/{n}.sealed", bytes(1_000_000))
        os.utime(tmp_path / "cache" / "m" / f"{n}.sealed", ns=(n * 10**9, n * 10**9))
    assert cache.get("m/1.sealed") is None  # Oldest gone to stay under the bound.
    assert cache.get("m/2.sealed") is not None and cache.get("m/3.sealed") is not None
    with pytest.raises(ConfigurationError):
        BlobCache(tmp_path / "other", max_bytes=0)


# -- S3 specifics --------------------------------------------------------------------
def test_s3_multipart_upload_round_trips(s3_server, s3_credentials, keys, tmp_path,
                                         monkeypatch) -> None:
    import garrison.storage.s3 as s3

    monkeypatch.setattr(s3, "_PART", 5 * 1024 * 1024)  # S3's smallest part.
    store = _s3(s3_server, s3_credentials)
    data = os.urandom(11 * 1024 * 1024 + 7)
    store.put("big/1.sealed", [data[i:i + 1_000_003] for i in range(0, len(data), 1_000_003)])
    assert store.get("big/1.sealed") == data


def test_s3_uses_the_mounted_credentials_file(s3_server, s3_credentials) -> None:
    store = _s3(s3_server, s3_credentials)
    store.check()
    from garrison.storage.s3 import S3BlobStore

    anonymous = S3BlobStore(s3_server["bucket"], endpoint_url=s3_server["endpoint_url"],
                            region="us-east-1", addressing_style="path")
    with pytest.raises(StorageError):  # No credential anywhere else in this environment.
        anonymous.check()


def test_s3_refuses_a_readable_credentials_file(s3_server, s3_credentials) -> None:
    s3_credentials.chmod(0o644)
    with pytest.raises(ConfigurationError, match="mode 0644"):
        _s3(s3_server, s3_credentials)


def test_s3_missing_bucket_is_a_storage_error(s3_server, s3_credentials) -> None:
    from garrison.storage.s3 import S3BlobStore

    store = S3BlobStore("no-such-bucket", endpoint_url=s3_server["endpoint_url"],
                        region="us-east-1", addressing_style="path",
                        credentials_file=s3_credentials)
    with pytest.raises(StorageError) as info:
        store.check()
    assert "testing" not in str(info.value) + repr(info.value.detail)  # No credential.
    with pytest.raises(StorageError):
        store.put("m/1.sealed", [b"x"])


def test_s3_unreachable_endpoint_is_a_storage_error(s3_credentials) -> None:
    from garrison.storage.s3 import S3BlobStore
    from garrison.testing import free_port

    store = S3BlobStore("b", endpoint_url=f"http://127.0.0.1:{free_port()}",
                        region="us-east-1", addressing_style="path",
                        credentials_file=s3_credentials)
    store._client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(StorageError):
        store.get("m/1.sealed")
