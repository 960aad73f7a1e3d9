"""Provenance at registration: the registrant's OpenSSF signature, Garrison's own, the ML-BOM.

:class:`Provenance` is what the registry asks, for each new version:

1. :meth:`check_supplied`: the registrant's OpenSSF model-signing bundle, if one came
   with the artifact, must verify against a trusted signer (and one is required when
   the policy says so);
2. :meth:`sign`: Garrison signs the artifact in the OpenSSF format with its own key;
3. :meth:`bom`: the CycloneDX ML-BOM of the version.

The registry seals the bundle and the BOM next to the artifact, and their digests
go into the signed manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from garrison.errors import ArtifactRefused, InvalidSignature
from garrison.registry.bom import BomInputs, build_bom
from garrison.signing import ModelSigningKey, TrustedSigners
from garrison.types import parse_utc

__all__ = ["Provenance", "Signed"]


@dataclass(frozen=True)
class Signed:
    """Garrison's OpenSSF bundle over an artifact and what the manifest records of it."""

    bundle: bytes
    record: dict[str, str]


class Provenance:
    def __init__(self, key: ModelSigningKey, trusted: TrustedSigners | None = None, *,
                 require_signature: bool = False) -> None:
        self.key = key
        self.trusted = trusted or TrustedSigners({})
        self.require_signature = require_signature

    def check_supplied(self, artifact: Path, signature: Path | None) -> dict[str, str] | None:
        """Verify the registrant's bundle; ``None`` when none was sent and none is needed.

        Raises ``InvalidSignature`` for a bundle that does not verify against a trusted
        signer, and ``ArtifactRefused`` for a missing one the policy requires.
        """
        if signature is None:
            if self.require_signature:
                raise ArtifactRefused("this registry only accepts models with an OpenSSF "
                                      "signature from a trusted signer", why="unsigned")
            return None
        bundle = signature.read_bytes()
        if self.trusted.empty:
            raise InvalidSignature("no model signers are trusted here, so the signature "
                                   "cannot be checked")
        return self.trusted.verify_file(artifact, bundle).to_dict()

    def sign(self, artifact: Path) -> Signed:
        bundle = self.key.sign_file(artifact)
        record = {"format": "openssf-model-signing", "method": "key",
                  "signer": self.key.active_id,
                  "bundle_sha256": hashlib.sha256(bundle).hexdigest()}
        return Signed(bundle, record)

    def verify(self, artifact: Path, bundle: bytes, record: Mapping[str, Any]) -> None:
        """Check Garrison's sealed bundle over the artifact against what the manifest says."""
        if hashlib.sha256(bundle).hexdigest() != record.get("bundle_sha256"):
            raise InvalidSignature("the OpenSSF bundle differs from the signed manifest")
        self.key.verify_file(artifact, bundle)

    @staticmethod
    def bom(*, name: str, version: int, digest: str, size: int, fmt: str, created: str,
            registrant: str, metadata: Mapping[str, Any], scan: Mapping[str, Any],
            datasets: Sequence[Mapping[str, Any]], signed: Signed, manifest_key_id: str,
            supplied: Mapping[str, str] | None) -> bytes:
        return build_bom(BomInputs(
            name=name, version=version, digest=digest, size=size, format=fmt,
            created=parse_utc(created), registrant=registrant, metadata=metadata, scan=scan,
            datasets=datasets, signature=signed.record, manifest_key_id=manifest_key_id,
            supplied_signature=supplied))
