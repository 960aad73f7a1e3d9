"""The registry workflow: register -> scan -> sign -> seal -> approve (four eyes) -> promote.

Every method takes the acting principal, checks the role table through the guard
(denials are audited), and records each change with its audit event in one
transaction. Artifacts are refused before anything is stored if the scanner does
not call them safe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from garrison.errors import (
    ArtifactRefused,
    ArtifactUnscannable,
    DigestMismatch,
    GarrisonError,
    InvalidInput,
    ModelNotServable,
)
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.lineage import DatasetNode, DeploymentNode, LineageRecorder, ModelVersionNode, RunNode
from garrison.registry.checks import ServabilityCheck, TransitionCheck, ensure_servable_format
from garrison.registry.documents import VersionDocuments
from garrison.registry.lifecycle import Stage
from garrison.registry.manifest import build_statement, sign_manifest, verify_manifest
from garrison.registry.models import (
    ModelVersion,
    Transition,
    VersionMetadata,
    validate_model_name,
)
from garrison.registry.ports import ArtifactStore, RegistryStore, RegistryTx
from garrison.registry.provenance import Provenance
from garrison.registry.reference import PreparedReference, prepare_reference
from garrison.registry.review import SignatureStatus
from garrison.registry.scratch import private_scratch
from garrison.registry.servability import Purpose, ServabilityProbe, ServabilityRequest
from garrison.registry.state import SERVABLE_STAGES, version_state
from garrison.registry.transitions import Lifecycle
from garrison.scanning import DEFAULT_POLICY, ScanPolicy, ScanReport, scan_path
from garrison.signing import Keyring, ModelSigningKey
from garrison.types import MODEL_NAME_PATTERN, Clock, parse_utc, utc_iso

__all__ = ["RegistryService", "artifact_context", "parse_ref"]

_NAME_BODY = MODEL_NAME_PATTERN.removeprefix("^").removesuffix("$")
_REF = re.compile(rf"^({_NAME_BODY})(?::(\d{{1,9}}))?$")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION``."""
    match = _REF.fullmatch(ref or "")
    if match is None:
        raise InvalidInput("expected NAME or NAME:VERSION", ref=str(ref)[:80])
    return match.group(1), int(match.group(2)) if match.group(2) else None


def reference_context(name: str, version: int, digest: str) -> str:
    return f"garrison-reference:{name}:{version}:{digest}"


def artifact_context(name: str, version: int, digest: str) -> str:
    """Binds a sealed blob to exactly one version: a blob moved elsewhere will not open."""
    return f"garrison-artifact:{name}:{version}:{digest}"


def refusal_reason(report: ScanReport) -> str:
    """Why the scanner refused: the first findings' rule ids, names and messages."""
    parts = []
    for finding in report.findings[:3]:
        name = f" {finding.name}" if finding.name else ""
        parts.append(f"{finding.rule_id}{name}: {finding.message}")
    more = len(report.findings) - 3
    if not parts:
        return "no finding recorded"
    return "; ".join(parts) + (f"; and {more} more finding(s)" if more > 0 else "")


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
        validate_model_name(name)
        meta = metadata if isinstance(metadata, VersionMetadata) else VersionMetadata.from_dict(
            metadata or {})
        resource = f"model:{name}"
        self._guard.require(actor, "register-model-version", resource, request_id=request_id)
        if reference is None and (target or drop):
            raise InvalidInput("--target and --drop name columns of the reference data; "
                               "give it with --reference")
        # A private scratch directory: a registration killed here leaves its plaintext
        # copy to the next registration's sweep, in a folder no one else can enter.
        with private_scratch("register") as tmp:
            # Scan, digest and seal one private copy: the registrant's path may change
            # after the scan, and an ONNX model's external data may not ride along (the
            # copy's folder holds nothing else, so any external reference is refused).
            private = Path(tmp) / "artifact" / path.name
            private.parent.mkdir(mode=0o700)
            shutil.copyfile(path, private)
            prepared = None
            if reference is None:
                # A reference digest is only ever computed here, never taken from the caller.
                meta = dataclasses.replace(meta, reference_sha256="")
            else:
                prepared = prepare_reference(reference, meta, target=target, drop=drop,
                                             encoding=encoding)
                meta = prepared.meta
            return self._register(actor, name, private, meta, prepared, signature, resource,
                                  request_id, workdir=Path(tmp))

    def _register(
        self, actor: Principal, name: str, path: Path, meta: VersionMetadata,
        prepared: PreparedReference | None, signature: Path | None, resource: str,
        request_id: str, *, workdir: Path,
    ) -> ModelVersion:
        inputs = self._lineage_inputs(actor, resource, meta, request_id)
        report = scan_path(path, self.policy)
        scan = report.to_dict()
        scan["policy_extension"] = sorted(self.policy.extra_allowed)
        if report.verdict != "safe":
            error = ArtifactUnscannable if report.verdict == "unscannable" else ArtifactRefused
            self._guard.record(
                actor, "register-model-version", outcome="failed", resource=resource,
                reason=error.code, request_id=request_id,
                payload={"sha256": report.sha256, "format": report.format,
                         "findings": [f.to_dict() for f in report.findings[:50]]},
            )
            verb = "could not scan" if error is ArtifactUnscannable else "refused"
            raise error(f"the scanner {verb} the artifact ({report.format}): "
                        f"{refusal_reason(report)}", verdict=report.verdict)
        digest = report.sha256  # Of the private copy, which nothing else can change.
        meta, sample = self._check_servable(actor, name, path, report, meta, prepared, resource,
                                            request_id, workdir)
        # Sign exactly what storage will give back: the metadata after a JSON round trip.
        meta = VersionMetadata.from_dict(json.loads(json.dumps(meta.to_dict())))
        supplied = self._supplied_signature(actor, resource, path, signature, request_id)
        signed = self.provenance.sign(path)
        datasets = [d.to_dict() for d in inputs] or [d.to_dict() for d in meta.datasets]

        def change(tx: RegistryTx) -> ModelVersion:
            now = self._now()
            tx.models.ensure_model(name, now, actor.name)
            number = tx.models.next_version(name)
            size = path.stat().st_size
            bom = self.provenance.bom(
                name=name, version=number, digest=digest, size=size, fmt=report.format,
                created=now, registrant=actor.name, metadata=meta.to_dict(), scan=scan,
                datasets=datasets, signed=signed, manifest_key_id=self._keyring.active_id or "",
                supplied=supplied)
            bom_sha = hashlib.sha256(bom).hexdigest()
            statement = build_statement(
                name=name, version=number, digest=digest, size=size, fmt=report.format,
                registrant=actor.name, created=now, scan=scan, metadata=meta.to_dict(),
                provenance={"bom_sha256": bom_sha, "model_signature": signed.record,
                            "supplied_signature": supplied})
            version = ModelVersion(
                name=name, version=number, stage=Stage.REGISTERED, format=report.format,
                framework=meta.framework, digest=digest, size=size, registrant=actor.name,
                created=now, manifest=sign_manifest(self._keyring, statement),
                scan_report=scan, metadata=meta, stage_changed=now,
            )
            self._artifacts.put(name, number, path, artifact_context(name, number, digest))
            self._documents.put(path.parent.parent, name, number, bom, signed.bundle,
                                bom_sha=bom_sha, bundle_sha=signed.record["bundle_sha256"])
            if sample is not None:
                self._artifacts.put(name, number, sample, reference_context(
                    name, number, meta.reference_sha256), kind="reference")
            try:
                tx.models.add_version(version)
                tx.models.add_transition(Transition(name, number, "", Stage.REGISTERED,
                                                    actor.name, "registered", now))
            except BaseException:
                self._artifacts.remove(name, number)
                raise
            return version

        registered = self._guard.run(
            actor, "register-model-version", resource, change, authorize=False,
            request_id=request_id,
            result_payload=lambda v: {"version": v.version, "sha256": v.digest,
                                      "format": v.format, "size": v.size,
                                      "policy_extension": scan["policy_extension"]},
            seal=lambda tx, v: [version_state(v)],
        )
        if self._lineage is not None:
            self._record_training(registered, inputs)
        if self.on_registered is not None:
            self.on_registered(actor, registered, request_id)
        return registered

    def _check_servable(
        self, actor: Principal, name: str, path: Path, scanned: ScanReport,
        meta: VersionMetadata, prepared: PreparedReference | None, resource: str,
        request_id: str, workdir: Path,
    ) -> tuple[VersionMetadata, Path | None]:
        """A version with an input schema must serve it: the model takes exactly the
        schema's features and predicts the reference rows (or rows made from the schema).
        Returns the metadata (a derived schema in the model's order) and the sample file."""
        schema = meta.input_schema
        if schema is None:
            return meta, None  # Storable, not servable: approval will say so.
        try:
            ensure_servable_format(scanned.format)
        except ModelNotServable:
            if prepared is None:
                return meta, None
            raise InvalidInput(f"a {scanned.format!r} artifact cannot be served, so it takes "
                               "no reference data; register it without --reference") from None
        sample_meta, sample_path = (prepared.sample_file(workdir) if prepared is not None
                                    else (meta, None))
        report = self.servability.probe(ServabilityRequest(
            ref=f"{name}:new", purpose="register", format=scanned.format,
            file_name=path.name, artifact=path.read_bytes(), schema=schema,
            sample=sample_path.read_bytes() if sample_path is not None else None,
            derived=prepared.derived if prepared is not None else False,
            suspects=prepared.suspects if prepared is not None else {},
            policy_extension=tuple(sorted(self.policy.extra_allowed))))
        if not report.ok:
            error = ModelNotServable("the model cannot serve this input schema: "
                                     + "; ".join(report.problems), problems=list(report.problems))
            self._guard.record(actor, "register-model-version", outcome="failed",
                               resource=resource, reason=error.code, request_id=request_id,
                               payload={"message": error.message, "sha256": scanned.sha256,
                                        "inputs": report.inputs.to_dict()})
            raise error
        if prepared is not None and report.order and list(report.order) != schema.names:
            return prepared.sample_file(workdir, report.order)
        return sample_meta, sample_path

    def _supplied_signature(self, actor: Principal, resource: str, path: Path,
                            signature: Path | None, request_id: str) -> dict[str, str] | None:
        """The registrant's verified OpenSSF signature; a refusal is audited, then raised."""
        try:
            return self.provenance.check_supplied(path, signature)
        except GarrisonError as exc:
            self._guard.record(actor, "register-model-version", outcome="failed",
                               resource=resource, reason=exc.code, request_id=request_id,
                               payload={"message": exc.message,
                                        "why": str(exc.detail.get("why", ""))})
            raise

    # -- lineage (only when a LineageRecorder is configured) -----------------------
    def _lineage_inputs(self, actor: Principal, resource: str, meta: VersionMetadata,
                        request_id: str) -> list[DatasetNode]:
        """The registered dataset versions ``meta`` names; InvalidInput if one is unknown."""
        if self._lineage is None:
            return []
        found, unknown = [], []
        for ref in meta.datasets:
            node = self._lineage.store.get_node(f"dataset:{ref.name}@{ref.version}")
            if isinstance(node, DatasetNode) and _bare(node.digest) == _bare(ref.digest):
                found.append(node)
            else:
                unknown.append(f"{ref.name}:{ref.version}")
        if unknown:
            self._guard.record(actor, "register-model-version", outcome="failed",
                               resource=resource, reason="unknown-dataset",
                               request_id=request_id, payload={"datasets": unknown})
            raise InvalidInput("the metadata names dataset versions that are not registered "
                               f"with that digest: {', '.join(unknown)}", datasets=unknown)
        return found

    def _record_training(self, v: ModelVersion, inputs: list[DatasetNode]) -> None:
        assert self._lineage is not None
        commit = v.metadata.code_commit
        when = parse_utc(v.created)
        run_id = f"train-{v.name}-{v.version}" + (f"-{commit[:12]}" if commit else "")
        self._lineage.record_training(RunNode(run_id, commit or None, when, when), inputs,
                                      [ModelVersionNode(v.name, str(v.version), v.digest)])

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


def _bare(digest: str) -> str:
    """A SHA-256 digest without its optional ``sha256:`` prefix, lowercased."""
    return digest.lower().removeprefix("sha256:")
