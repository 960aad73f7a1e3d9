"""Errors of the security checks: a signature, digest, ciphertext, audit chain or seal that
does not verify, and an artifact the scanner or the loader refuses.

The tree is drawn in :mod:`garrison.errors`; import every class from there.
"""

from __future__ import annotations

from typing import Any

from garrison.errors._base import GarrisonError

__all__ = [
    "ArtifactRefused",
    "ArtifactUnscannable",
    "AuditChainBroken",
    "DecryptionFailed",
    "DigestMismatch",
    "IntegrityFailure",
    "InvalidSignature",
    "ModelNotServable",
    "StateUnverified",
]


class IntegrityFailure(GarrisonError):
    """An integrity check failed."""

    code = "integrity-failure"


class InvalidSignature(IntegrityFailure):
    """The signature is missing, malformed or does not verify."""

    code = "invalid-signature"


class DigestMismatch(IntegrityFailure):
    """The content digest does not match the signed digest."""

    code = "digest-mismatch"


class DecryptionFailed(IntegrityFailure):
    """The ciphertext could not be authenticated or decrypted."""

    code = "decryption-failed"


class AuditChainBroken(IntegrityFailure):
    """The audit chain does not verify.

    ``position`` is the sequence number of the first bad event (or of the missing
    tail), ``reason`` one of: ``modified``, ``deleted``, ``inserted``, ``reordered``,
    ``truncated``, ``rewritten``, ``bad-checkpoint``.
    """

    code = "audit-chain-broken"

    def __init__(self, message: str, *, position: int, reason: str, **detail: Any) -> None:
        super().__init__(message, position=position, reason=reason, **detail)
        self.position = position
        self.reason = reason


class StateUnverified(IntegrityFailure):
    """Governance state (a principal, an API key, a model version's stage, a deployment
    policy) is not backed by the signed audit trail: its seal is missing, does not
    verify, or is older than an audited change of the same state. ``reason`` is one of
    ``unsealed``, ``bad-seal``, ``stale``, ``no-approval``."""

    code = "state-unverified"

    def __init__(self, message: str, *, reason: str = "unsealed", **detail: Any) -> None:
        super().__init__(message, reason=reason, **detail)
        self.reason = reason


class ArtifactRefused(GarrisonError):
    """The artifact was refused by the scanner or the loader."""

    code = "artifact-refused"


class ArtifactUnscannable(ArtifactRefused):
    """The artifact could not be scanned, so it is refused."""

    code = "artifact-unscannable"


class ModelNotServable(ArtifactRefused):
    """The model cannot serve: it does not load, predict or match its input schema."""

    code = "model-not-servable"
