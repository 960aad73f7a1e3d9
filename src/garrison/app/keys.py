"""Key material of one home, and the artifact store sealed with it.

The master keys that wrap artifact data keys (``master_key`` or the key files), the
pseudonymization keys (built on first use: they come with pandas), Garrison's OpenSSF
model-signing key with the trusted signers, and the sealed artifact store on the
configured backend. Creating a whole key set for a cluster is ``secrets.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from garrison.config import Settings
from garrison.registry import Provenance
from garrison.signing import MasterKeys, ModelSigningKey, TrustedSigners
from garrison.storage import LocalArtifactStore
from garrison.storage.artifacts import BlobCache, SealedArtifactStore

if TYPE_CHECKING:
    from garrison.datasets import PseudonymKeys

__all__ = ["artifact_store", "master_keys", "provenance", "pseudonym_keys"]


def master_keys(settings: Settings) -> MasterKeys:
    if settings.master_key is not None:
        return MasterKeys.from_base64(settings.master_key.get_secret_value())
    return MasterKeys.load_or_create(settings.keys_dir)


def pseudonym_keys(settings: Settings) -> PseudonymKeys:
    from garrison.datasets import PseudonymKeys

    return PseudonymKeys(settings.keys_dir)


def provenance(settings: Settings) -> Provenance:
    """Garrison's OpenSSF model-signing key (created on first use) and the trusted signers."""
    trusted = TrustedSigners.from_files(settings.model_signing_trusted_keys,
                                        identity=settings.model_signing_identity or "",
                                        issuer=settings.model_signing_oidc_issuer or "")
    return Provenance(ModelSigningKey.load_or_create(settings.model_signing_keys),
                      trusted, require_signature=settings.require_model_signature)


def artifact_store(settings: Settings, keys: MasterKeys) -> SealedArtifactStore:
    """The sealed artifact store on the configured backend (local directory or S3)."""
    if settings.artifact_store == "s3":
        from garrison.storage.s3 import S3BlobStore

        assert settings.s3_bucket is not None  # Settings refuse s3 without a bucket.
        blobs = S3BlobStore(
            settings.s3_bucket, prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
            addressing_style=settings.s3_addressing_style, ca_bundle=settings.s3_ca_bundle,
            credentials_file=settings.s3_credentials_file)
        cache = BlobCache(settings.artifact_cache, settings.artifact_cache_max_bytes)
        return SealedArtifactStore(blobs, keys, cache=cache)
    return LocalArtifactStore(settings.artifacts, keys)
