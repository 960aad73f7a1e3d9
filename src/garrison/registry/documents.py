"""A version's ML-BOM and OpenSSF bundle, read back and checked against its signed manifest.

Both are sealed next to the artifact at registration and their SHA-256 digests are in
the DSSE manifest's predicate: each read verifies the manifest, opens the sealed blob
and compares digests, so a BOM or bundle changed at rest is refused, never served.
Versions registered before Garrison made them have neither (``NotFound``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from garrison.errors import DigestMismatch, NotFound
from garrison.registry.manifest import verify_manifest
from garrison.registry.models import ModelVersion
from garrison.registry.ports import ArtifactStore
from garrison.registry.provenance import Provenance
from garrison.registry.scratch import private_scratch
from garrison.signing import Keyring, write_private_file

__all__ = ["VersionDocuments", "side_context"]


def side_context(kind: str, name: str, version: int, digest: str) -> str:
    """Binds a sealed ML-BOM or bundle to exactly one version, like the artifact's own."""
    return f"garrison-{kind}:{name}:{version}:{digest}"


class VersionDocuments:
    def __init__(self, artifacts: ArtifactStore, keyring: Keyring,
                 provenance: Provenance) -> None:
        self._artifacts = artifacts
        self._keyring = keyring
        self._provenance = provenance

    def put(self, workdir: Path, name: str, number: int, bom: bytes, bundle: bytes, *,
            bom_sha: str, bundle_sha: str) -> None:
        """Seal a new version's ML-BOM and OpenSSF bundle next to its artifact."""
        for kind, data, digest in (("bom", bom, bom_sha),
                                   ("model-signature", bundle, bundle_sha)):
            source = workdir / f"{kind}.json"
            source.write_bytes(data)
            self._artifacts.put(name, number, source, side_context(kind, name, number, digest),
                                kind=kind)

    def _predicate(self, v: ModelVersion) -> dict[str, Any]:
        return verify_manifest(self._keyring, v.manifest, name=v.name, version=v.version,
                               digest=v.digest, metadata=v.metadata.to_dict())

    def _read(self, v: ModelVersion, kind: str, digest: Any) -> bytes:
        if not isinstance(digest, str) or not digest:
            raise NotFound(f"{v.ref} was registered before Garrison made {kind} documents",
                           name=v.name, version=v.version)
        data = self._artifacts.get(v.name, v.version, side_context(kind, v.name, v.version,
                                                                   digest), kind=kind)
        if hashlib.sha256(data).hexdigest() != digest:
            raise DigestMismatch(f"the stored {kind} does not match the signed manifest")
        return data

    def bom(self, v: ModelVersion) -> bytes:
        """The version's CycloneDX ML-BOM (JSON), verified."""
        return self._read(v, "bom", self._predicate(v).get("bom_sha256"))

    def model_signature(self, v: ModelVersion) -> bytes:
        """Garrison's OpenSSF model-signing bundle over the artifact, verified."""
        record = self._predicate(v).get("model_signature") or {}
        return self._read(v, "model-signature", record.get("bundle_sha256"))

    def verify_openssf(self, v: ModelVersion, artifact: bytes) -> dict[str, Any] | None:
        """Check Garrison's OpenSSF bundle over the (already verified) artifact bytes;
        ``None`` for a version that has none."""
        record = self._predicate(v).get("model_signature")
        if not record:
            return None
        bundle = self._read(v, "model-signature", record.get("bundle_sha256"))
        with private_scratch("verify") as tmp:
            copy = tmp / "artifact"
            write_private_file(copy, artifact)
            self._provenance.verify(copy, bundle, record)
        return dict(record)
