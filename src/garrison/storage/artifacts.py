"""Sealed artifacts over a blob backend: the local directory (default) or object storage.

:class:`SealedArtifactStore` is the registry's ``ArtifactStore``: it seals
(AES-256-GCM, see :mod:`garrison.signing.sealing`) before a blob leaves the process
and authenticates every blob it reads, whichever backend holds it. Backends
(:class:`LocalBlobStore` here, ``S3BlobStore`` in :mod:`garrison.storage.s3`) move
sealed bytes only. Replicas that read from a remote backend keep a local cache of
blobs that have already authenticated once (:class:`BlobCache`); a cached blob is
authenticated again at every load, and one that no longer opens is dropped and
fetched again from the backend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from garrison.errors import ConfigurationError, DecryptionFailed, StorageError
from garrison.registry.ports import BlobStore
from garrison.signing import MasterKeys, seal_stream, unseal

__all__ = [
    "BlobCache",
    "LocalArtifactStore",
    "LocalBlobStore",
    "SealedArtifactStore",
    "blob_key",
    "ensure_blob_key",
]

log = logging.getLogger("garrison.storage")

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}(/[A-Za-z0-9][A-Za-z0-9._-]{0,199}){0,3}$")
_KINDS = ("", "reference", "bom", "model-signature")


def blob_key(name: str, version: int, kind: str = "") -> str:
    """``NAME/VERSION[.KIND].sealed``: the same layout in a directory and in a bucket."""
    suffix = f".{kind}" if kind else ""
    return ensure_blob_key(f"{name}/{int(version)}{suffix}.sealed")


def ensure_blob_key(key: str) -> str:
    """Return ``key`` or raise: relative, at most four segments, no ``..``, no hidden names."""
    if not _KEY.fullmatch(key) or ".." in key:
        raise StorageError("invalid artifact blob key", key=key[:200])
    return key


def _write_atomically(path: Path, chunks: Iterable[bytes]) -> int:
    """Write through a fresh exclusive temporary name (0600), fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return size


class LocalBlobStore:
    """Blobs as files (mode 0600) under one directory (0700).

    The embedded default; on Kubernetes the directory is a ReadWriteMany volume that
    every replica mounts.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, key: str) -> Path:
        return self.root / ensure_blob_key(key)

    def put(self, key: str, chunks: Iterable[bytes]) -> None:
        try:
            _write_atomically(self.path(key), chunks)
        except OSError as exc:
            raise StorageError("cannot write to the artifact directory",
                               path=str(self.root)) from exc

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise DecryptionFailed("the artifact file is missing", key=key) from exc
        except OSError as exc:
            raise StorageError("cannot read the artifact directory",
                               path=str(self.root)) from exc

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def check(self) -> None:
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise StorageError("the artifact directory is not readable and writable",
                               path=str(self.root))

    def describe(self) -> str:
        return f"directory {self.root}"


class BlobCache:
    """Sealed blobs that authenticated once, kept on local disk (files 0600).

    Bounded by ``max_bytes``: past it, the least recently used blobs are removed.
    Writes are atomic, so the workers of one pod can share the directory.
    """

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ConfigurationError("the artifact cache bound must be positive")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        return self.root / ensure_blob_key(key)

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # Recently used: the last to be evicted.
        return data

    def put(self, key: str, data: bytes) -> None:
        try:
            _write_atomically(self._path(key), [data])
        except OSError as exc:  # A full or read-only cache never fails a load.
            log.warning("artifact cache write failed: %s", exc.strerror or type(exc).__name__)
            return
        self._enforce_bound()

    def evict(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _enforce_bound(self) -> None:
        if self.max_bytes is None:
            return
        files = []
        for path in self.root.rglob("*.sealed"):
            with contextlib.suppress(OSError):
                st = path.stat()
                files.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                return
            path.unlink(missing_ok=True)
            total -= size


class SealedArtifactStore:
    """The registry's artifact store: seal on the way in, authenticate on the way out."""

    def __init__(self, blobs: BlobStore, keys: MasterKeys, *,
                 cache: BlobCache | None = None) -> None:
        self.blobs = blobs
        self._keys = keys
        self.cache = cache

    def __repr__(self) -> str:
        return f"SealedArtifactStore({self.blobs.describe()})"

    def put(self, name: str, version: int, source: Path, context: str, kind: str = "") -> None:
        with Path(source).open("rb") as src:
            self.blobs.put(blob_key(name, version, kind), seal_stream(self._keys, src, context))

    def get(self, name: str, version: int, context: str, kind: str = "") -> bytes:
        key = blob_key(name, version, kind)
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                try:
                    return unseal(self._keys, cached, context)
                except DecryptionFailed:
                    # The local copy changed or belongs to an older blob under the same
                    # key: drop it and authenticate the backend's copy instead.
                    log.warning("cached artifact %s failed authentication; fetching it again",
                                key)
                    self.cache.evict(key)
        sealed = self.blobs.get(key)
        plaintext = unseal(self._keys, sealed, context)  # Raises before anything is cached.
        if self.cache is not None:
            self.cache.put(key, sealed)
        return plaintext

    def remove(self, name: str, version: int) -> None:
        for kind in _KINDS:
            key = blob_key(name, version, kind)
            self.blobs.delete(key)
            if self.cache is not None:
                self.cache.evict(key)


class LocalArtifactStore(SealedArtifactStore):
    """Sealed artifacts in a local directory (``HOME/artifacts`` or a shared volume)."""

    def __init__(self, root: Path, keys: MasterKeys) -> None:
        self.root = Path(root)
        super().__init__(LocalBlobStore(self.root), keys)

    def path(self, name: str, version: int, kind: str = "") -> Path:
        """The file holding a sealed blob (tests and operators look at it directly)."""
        return self.root / blob_key(name, version, kind)

