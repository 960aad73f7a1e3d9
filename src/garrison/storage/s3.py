"""Sealed blobs in S3-compatible object storage (the ``s3`` extra: boto3).

Every replica reads the same bucket, so no replica needs a shared disk. The objects
are sealed before upload (:class:`~garrison.storage.artifacts.SealedArtifactStore`),
so the bucket holds ciphertext only and a changed object fails authentication at
load. An upload is a single object that appears whole or not at all (multipart
uploads complete atomically).

Credentials come from boto3's usual chain (web identity / IRSA, instance profile,
``AWS_*`` variables), or from a credentials file (INI, as ``~/.aws/credentials``)
mounted from a Kubernetes Secret and named by ``s3_credentials_file``; that file is
held to the same ownership and mode rule as every other key file.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from garrison.errors import ConfigurationError, DecryptionFailed, StorageError
from garrison.signing import ensure_private_key_file
from garrison.storage.artifacts import ensure_blob_key

__all__ = ["S3BlobStore"]

_MISSING = {"NoSuchKey", "404", "NotFound"}
_PART = 16 * 1024 * 1024


class _ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (uploads stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class S3BlobStore:
    """Blobs as objects ``PREFIX + key`` in one bucket."""

    def __init__(
        self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: Literal["auto", "path", "virtual"] = "auto",
        ca_bundle: Path | None = None, credentials_file: Path | None = None,
    ) -> None:
        if not bucket:
            raise ConfigurationError("the S3 artifact store needs a bucket (s3_bucket)")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        try:
            import boto3
            import botocore.session
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                "artifact_store = s3 needs the s3 extra: pip install 'garrison[s3]'") from exc
        core = botocore.session.Session()
        if credentials_file is not None:
            ensure_private_key_file(credentials_file)
            core.set_config_variable("credentials_file", str(credentials_file))
        session = boto3.Session(botocore_session=core, region_name=region)
        config = Config(
            connect_timeout=5, read_timeout=60, retries={"max_attempts": 5, "mode": "standard"},
            s3={"addressing_style": addressing_style},
            # Checksums on every request and response body the server supports.
            request_checksum_calculation="when_supported",
            response_checksum_validation="when_supported",
        )
        self._client = session.client(
            "s3", endpoint_url=endpoint_url, config=config,
            verify=str(ca_bundle) if ca_bundle is not None else None)
        self._transfer = TransferConfig(multipart_threshold=_PART, multipart_chunksize=_PART,
                                        max_concurrency=4, use_threads=True)

    def __repr__(self) -> str:
        return f"S3BlobStore({self.describe()})"

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"bucket {self.bucket}/{self.prefix}{where}"

    def _key(self, key: str) -> str:
        return self.prefix + ensure_blob_key(key)

    def _failed(self, exc: Exception, what: str) -> StorageError:
        code = _error_code(exc)
        return StorageError(f"the object store failed to {what}", store=self.describe(),
                            error=code or type(exc).__name__)

    def put(self, key: str, chunks: Iterable[bytes]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.upload_fileobj(
                _ChunkReader(chunks), self.bucket, self._key(key),
                ExtraArgs={"ContentType": "application/octet-stream"}, Config=self._transfer)
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc, "store an artifact") from exc

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise DecryptionFailed("the artifact object is missing", key=key) from exc
            raise self._failed(exc, "read an artifact") from exc
        except BotoCoreError as exc:
            raise self._failed(exc, "read an artifact") from exc

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _error_code(exc) not in _MISSING:
                raise self._failed(exc, "delete an artifact") from exc
        except BotoCoreError as exc:
            raise self._failed(exc, "delete an artifact") from exc

    def check(self) -> None:
        """The bucket exists and these credentials may use it (one HEAD request)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc, "reach the artifact bucket") from exc


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
