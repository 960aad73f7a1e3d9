"""The registry workflow: register -> scan -> sign -> seal -> approve (four eyes) -> promote.

Every method takes the acting principal, checks the role table through the guard
(denials are audited), and records each change with its audit event in one
transaction. Artifacts are refused before anything is stored if the scanner does
not call them safe.

The service is the registry's one entry point and owns reading versions back and
checking their integrity (manifest, sealed blob, digest, OpenSSF documents). It forwards
registration to :class:`~garrison.registry.registration.Registration` and stage
transitions to :class:`~garrison.registry.transitions.Lifecycle`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from garrison.errors import DigestMismatch, GarrisonError, InvalidInput
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.lineage import DeploymentNode, LineageRecorder, ModelVersionNode
from garrison.registry.checks import ServabilityCheck, TransitionCheck
from garrison.registry.documents import VersionDocuments
from garrison.registry.lifecycle import Stage
from garrison.registry.manifest import verify_manifest
from garrison.registry.models import ModelVersion, Transition, VersionMetadata
from garrison.registry.ports import ArtifactStore, RegistryStore
from garrison.registry.provenance import Provenance
from garrison.registry.registration import Registration, artifact_context, reference_context
from garrison.registry.review import SignatureStatus
from garrison.registry.servability import Purpose, ServabilityProbe
from garrison.registry.state import SERVABLE_STAGES
from garrison.registry.transitions import Lifecycle
from garrison.scanning import DEFAULT_POLICY, ScanPolicy
from garrison.signing import Keyring, ModelSigningKey
from garrison.types import MODEL_NAME_PATTERN, Clock, parse_utc, utc_iso

__all__ = ["RegistryService", "parse_ref"]

_NAME_BODY = MODEL_NAME_PATTERN.removeprefix("^").removesuffix("$")
_REF = re.compile(rf"^({_NAME_BODY})(?::(\d{{1,9}}))?$")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION``."""
    match = _REF.fullmatch(ref or "")
    if match is None:
        raise InvalidInput("expected NAME or NAME:VERSION", ref=str(ref)[:80])
    return match.group(1), int(match.group(2)) if match.group(2) else None


class RegistryService:
    def __init__(
        self, store: RegistryStore, artifacts: ArtifactStore, keyring: Keyring, guard: Guard,
        clock: Clock, *, servability: ServabilityProbe, policy: ScanPolicy = DEFAULT_POLICY,
        lineage: LineageRecorder | None = None,
        promotion_gate: Callable[[ModelVersion], None] | None = None,
        on_download: Callable[[str], None] | None = None,
        provenance: Provenance | None = None,
        checks: Sequence[TransitionCheck] = (),
    ) -> None:
        #: OpenSSF signatures and ML-BOMs; an ephemeral key unless the root passes one.
        self.provenance = provenance or Provenance(ModelSigningKey.generate())
        #: Told who downloaded an artifact (model-theft monitoring raises alerts).
        self.on_download = on_download
        #: Told of each new version (the release gate runs when the model has a policy);
        #: called after the registration committed, so it can never undo one.
        self.on_registered: Callable[[Principal, ModelVersion, str], None] | None = None
        self._store = store
        self._artifacts = artifacts
        self._keyring = keyring
        self._guard = guard
        self._clock = clock
        self.policy = policy
        self._lineage = lineage
        self._documents = VersionDocuments(artifacts, keyring, self.provenance)
        #: New versions' intake: scan, servability check, signing, sealing.
        self.registration = Registration(
            artifacts, keyring, guard, self._now, provenance=self.provenance,
            documents=self._documents, policy=lambda: self.policy,
            servability=lambda: self.servability, lineage=lineage)
        #: Runs the servability smoke test (in a child process, under a deadline).
        self.servability = servability
        #: Run in order before approve, promote, rollback and a fallback assignment; the
        #: servability smoke test first, then any others (release gates, ...).
        self.checks: list[TransitionCheck] = [
            ServabilityCheck(servability, artifact=self.verified_bytes,
                             sample=self.reference_bytes,
                             policy_extension=lambda: tuple(sorted(self.policy.extra_allowed))),
            *checks,
        ]
        #: Stage transitions; ``promotion_gate`` (the shadow agreement gate) raises to
        #: stop a promotion to production.
        self.lifecycle = Lifecycle(guard, self._now, store, self.get,
                                   checks=lambda: self.checks, promotion_gate=promotion_gate,
                                   on_deployed=self._record_deployment)

    def _now(self) -> str:
        return utc_iso(self._clock.now())

    # -- reading ------------------------------------------------------------------
    def list_versions(self, actor: Principal, name: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name``, or of every model), for a principal allowed to list."""
        self._guard.require(actor, "list-models", f"model:{name}" if name else "")
        with self._store.read() as tx:
            return tx.models.list_versions(name)

    def get(self, name: str, version: int) -> ModelVersion:
        with self._store.read() as tx:
            return tx.models.get_version(name, version)

    def show(self, actor: Principal, name: str, version: int) -> ModelVersion:
        self._guard.require(actor, "view-model", f"model:{name}:{version}")
        return self.get(name, version)

    def history(self, actor: Principal, name: str) -> list[Transition]:
        self._guard.require(actor, "view-model", f"model:{name}")
        with self._store.read() as tx:
            return tx.models.transitions(name)

    def signature_status(self, v: ModelVersion) -> SignatureStatus:
        """Check ``v``'s signed manifest against its digest and metadata (no artifact read)."""
        try:
            verify_manifest(self._keyring, v.manifest, name=v.name, version=v.version,
                            digest=v.digest, metadata=v.metadata.to_dict())
        except GarrisonError as exc:
            return SignatureStatus(False, problem=exc.code)
        return SignatureStatus(True, tuple(str(s.get("keyid", ""))
                                           for s in v.manifest.get("signatures", [])))

    def in_stage(self, name: str, stage: str) -> list[ModelVersion]:
        with self._store.read() as tx:
            return [v for v in tx.models.list_versions(name) if v.stage == stage]

    def production(self, name: str) -> ModelVersion | None:
        found = self.in_stage(name, Stage.PRODUCTION)
        return found[-1] if found else None

    def model_names(self) -> list[str]:
        """Every registered model's name; unaudited (the gateway builds its table from it)."""
        with self._store.read() as tx:
            return tx.models.model_names()

    def versions_in(self, stages: Collection[str]) -> list[ModelVersion]:
        """Every version of every model whose stage is one of ``stages``; unaudited."""
        with self._store.read() as tx:
            return [v for v in tx.models.list_versions() if v.stage in stages]

    # -- stage transitions (garrison.registry.transitions) ---------------------------
    def approve(self, actor: Principal, name: str, version: int, reason: str = "",
                *, request_id: str = "") -> ModelVersion:
        """Approve a registered version; never by the person who registered it."""
        return self.lifecycle.approve(actor, name, version, reason, request_id=request_id)

    def reject(self, actor: Principal, name: str, version: int, reason: str = "",
               *, request_id: str = "") -> ModelVersion:
        return self.lifecycle.reject(actor, name, version, reason, request_id=request_id)

    def promote(self, actor: Principal, name: str, version: int, stage: str = "production",
                reason: str = "", *, request_id: str = "") -> ModelVersion:
        """Move an approved version to ``shadow`` or ``production``."""
        return self.lifecycle.promote(actor, name, version, stage, reason,
                                      request_id=request_id)

    def retire(self, actor: Principal, name: str, version: int, reason: str = "",
               *, request_id: str = "") -> ModelVersion:
        return self.lifecycle.retire(actor, name, version, reason, request_id=request_id)

    def rollback(self, actor: Principal, name: str, reason: str = "",
                 *, request_id: str = "") -> ModelVersion:
        """Put the previous production version back into production, after the checks."""
        return self.lifecycle.rollback(actor, name, reason, request_id=request_id)

    def ensure_servable(self, actor: Principal, name: str, version: int, *,
                        purpose: Purpose = "fallback", action: str = "configure-deployment",
                        request_id: str = "") -> ModelVersion:
        """Run the pre-transition checks on ``name:version`` (a fallback assignment)."""
        return self.lifecycle.ensure_servable(actor, name, version, purpose=purpose,
                                              action=action, request_id=request_id)

    # -- registration -------------------------------------------------------------
    def register(
        self, actor: Principal, name: str, path: Path, metadata: VersionMetadata | dict[str, Any]
        | None = None, *, reference: Path | None = None, target: str | None = None,
        drop: Sequence[str] = (), encoding: str | None = None, signature: Path | None = None,
        request_id: str = "",
    ) -> ModelVersion:
        """Register ``path``; ``reference`` data (CSV/Parquet) adds a profile, derives the
        input schema if none is given, and seals a sample for the gateway's detectors.
        ``signature`` is the registrant's OpenSSF model-signing bundle: it must verify
        against a trusted signer before anything is stored.

        ``target`` (the label) and ``drop`` name reference columns that are not model
        inputs. A version with an input schema must pass the servability check here: the
        model must take exactly the schema's features and predict the reference rows.
        """
        registered = self.registration.register(
            actor, name, path, metadata, reference=reference, target=target, drop=drop,
            encoding=encoding, signature=signature, request_id=request_id)
        if self.on_registered is not None:
            self.on_registered(actor, registered, request_id)
        return registered

    # -- lineage (only when a LineageRecorder is configured) -----------------------
    def _record_deployment(self, v: ModelVersion) -> ModelVersion:
        if self._lineage is not None:
            self._lineage.add_node(ModelVersionNode(v.name, str(v.version), v.digest))
            self._lineage.record_deployment(
                DeploymentNode(v.name, str(v.version), v.stage, parse_utc(v.stage_changed)))
        return v

    # -- integrity ----------------------------------------------------------------
    def verified_bytes(self, v: ModelVersion) -> bytes:
        """Signature, sealed blob and digest checks; raises, never returns unverified bytes."""
        verify_manifest(self._keyring, v.manifest, name=v.name, version=v.version,
                        digest=v.digest, metadata=v.metadata.to_dict())
        data = self._artifacts.get(v.name, v.version, artifact_context(v.name, v.version,
                                                                       v.digest))
        if hashlib.sha256(data).hexdigest() != v.digest:
            raise DigestMismatch("the artifact does not match its signed digest")
        return data

    def reference_bytes(self, v: ModelVersion) -> bytes | None:
        """The verified reference sample (Parquet bytes), or None if the version has none."""
        if not v.metadata.reference_sha256:
            return None
        verify_manifest(self._keyring, v.manifest, name=v.name, version=v.version,
                        digest=v.digest, metadata=v.metadata.to_dict())
        data = self._artifacts.get(v.name, v.version, reference_context(
            v.name, v.version, v.metadata.reference_sha256), kind="reference")
        if hashlib.sha256(data).hexdigest() != v.metadata.reference_sha256:
            raise DigestMismatch("the reference sample does not match its signed digest")
        return data

    def reference_frame(self, v: ModelVersion):
        """The verified reference sample (a DataFrame), or None if the version has none."""
        data = self.reference_bytes(v)
        if data is None:
            return None
        import io

        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))

    def verify(self, actor: Principal, name: str, version: int,
               *, request_id: str = "") -> dict[str, Any]:
        self._guard.require(actor, "verify-model-version", f"model:{name}:{version}",
                            request_id=request_id)
        v = self.get(name, version)

        def check() -> dict[str, Any] | None:
            artifact = self.verified_bytes(v)
            self.reference_bytes(v)  # The sealed reference sample, when there is one.
            found = self._documents.verify_openssf(v, artifact)
            if v.stage in SERVABLE_STAGES:  # Its stage must be backed by the audit trail.
                with self._store.read() as tx:
                    self.lifecycle.seals.check(tx, v)
            return found

        record = self._guard.audited(
            actor, "verify-model-version", check,
            resource=v.resource, request_id=request_id,
            ok_payload=lambda r: {"sha256": v.digest,
                                  "model_signed_by": r["signer"] if r else None})
        signer = record["signer"] if record else None
        return {"ok": True, "name": name, "version": version, "sha256": v.digest,
                "signed_by": [s.get("keyid") for s in v.manifest.get("signatures", [])],
                "model_signed_by": signer}

    def bom(self, actor: Principal, name: str, version: int, *, request_id: str = "") -> bytes:
        """The version's CycloneDX ML-BOM (JSON bytes), checked against the signed manifest."""
        self._guard.require(actor, "view-model", f"model:{name}:{version}",
                            request_id=request_id)
        return self._documents.bom(self.get(name, version))

    def model_signature(self, actor: Principal, name: str, version: int, *,
                        request_id: str = "") -> bytes:
        """Garrison's OpenSSF model-signing bundle over the artifact (``model.sig``)."""
        self._guard.require(actor, "view-model", f"model:{name}:{version}",
                            request_id=request_id)
        return self._documents.model_signature(self.get(name, version))

    def download(self, actor: Principal, name: str, version: int,
                 *, request_id: str = "") -> bytes:
        """Decrypted artifact bytes for an authorized principal; every download is audited."""
        self._guard.require(actor, "download-artifact", f"model:{name}:{version}",
                            request_id=request_id)
        v = self.get(name, version)
        data = self._guard.audited(
            actor, "download-artifact", lambda: self.verified_bytes(v), resource=v.resource,
            request_id=request_id, ok_payload=lambda b: {"sha256": v.digest, "bytes": len(b)})
        if self.on_download is not None:
            self.on_download(actor.name)
        return data

