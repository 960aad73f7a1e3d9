"""Registration: a new version's intake, from the registrant's file to a sealed, signed version.

register -> private copy -> scan -> servability check (when it has an input schema) ->
supplied OpenSSF signature check -> sign (manifest, model signature, ML-BOM) -> seal the
artifact and its reference sample -> store the version and its audit event in one
transaction. Artifacts are refused before anything is stored if the scanner does not call
them safe, and every refusal is audited.

:class:`Registration` is a part of :class:`~garrison.registry.service.RegistryService`
(``registry.registration``; the service's ``register`` forwards to it): it changes for
what a version must pass to be admitted, the service for reading versions back and
checking their integrity, :class:`~garrison.registry.transitions.Lifecycle` for stage rules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from garrison.errors import (
    ArtifactRefused,
    ArtifactUnscannable,
    GarrisonError,
    InvalidInput,
    ModelNotServable,
)
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.lineage import DatasetNode, LineageRecorder, ModelVersionNode, RunNode
from garrison.registry.checks import ensure_servable_format
from garrison.registry.documents import VersionDocuments
from garrison.registry.lifecycle import Stage
from garrison.registry.manifest import build_statement, sign_manifest
from garrison.registry.models import (
    ModelVersion,
    Transition,
    VersionMetadata,
    validate_model_name,
)
from garrison.registry.ports import ArtifactStore, RegistryTx
from garrison.registry.provenance import Provenance
from garrison.registry.reference import PreparedReference, prepare_reference
from garrison.registry.scratch import private_scratch
from garrison.registry.servability import ServabilityProbe, ServabilityRequest
from garrison.registry.state import version_state
from garrison.scanning import ScanPolicy, ScanReport, scan_path
from garrison.signing import Keyring
from garrison.types import bare_digest, parse_utc

__all__ = ["Registration", "artifact_context", "reference_context", "refusal_reason"]


def reference_context(name: str, version: int, digest: str) -> str:
    """Binds a sealed reference sample to exactly one version, as ``artifact_context`` does."""
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


class Registration:
    """Admits new versions; built by :class:`~garrison.registry.service.RegistryService`.

    ``policy`` and ``servability`` are read at each registration, so a change to the
    service's ``policy`` or ``servability`` applies to the next one.
    """

    def __init__(
        self, artifacts: ArtifactStore, keyring: Keyring, guard: Guard, now: Callable[[], str],
        *, provenance: Provenance, documents: VersionDocuments,
        policy: Callable[[], ScanPolicy], servability: Callable[[], ServabilityProbe],
        lineage: LineageRecorder | None = None,
    ) -> None:
        self._artifacts = artifacts
        self._keyring = keyring
        self._guard = guard
        self._now = now
        self._provenance = provenance
        self._documents = documents
        self._policy = policy
        self._servability = servability
        self._lineage = lineage

    def register(
        self, actor: Principal, name: str, path: Path, metadata: VersionMetadata | dict[str, Any]
        | None = None, *, reference: Path | None = None, target: str | None = None,
        drop: Sequence[str] = (), encoding: str | None = None, signature: Path | None = None,
        request_id: str = "",
    ) -> ModelVersion:
        """Register ``path`` (see :meth:`RegistryService.register`)."""
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
        policy = self._policy()
        report = scan_path(path, policy)
        scan = report.to_dict()
        scan["policy_extension"] = sorted(policy.extra_allowed)
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
        signed = self._provenance.sign(path)
        datasets = [d.to_dict() for d in inputs] or [d.to_dict() for d in meta.datasets]

        def change(tx: RegistryTx) -> ModelVersion:
            now = self._now()
            tx.models.ensure_model(name, now, actor.name)
            number = tx.models.next_version(name)
            size = path.stat().st_size
            bom = self._provenance.bom(
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
        report = self._servability().probe(ServabilityRequest(
            ref=f"{name}:new", purpose="register", format=scanned.format,
            file_name=path.name, artifact=path.read_bytes(), schema=schema,
            sample=sample_path.read_bytes() if sample_path is not None else None,
            derived=prepared.derived if prepared is not None else False,
            suspects=prepared.suspects if prepared is not None else {},
            policy_extension=tuple(sorted(self._policy().extra_allowed))))
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
            return self._provenance.check_supplied(path, signature)
        except GarrisonError as exc:
            self._guard.record(actor, "register-model-version", outcome="failed",
                               resource=resource, reason=exc.code, request_id=request_id,
                               payload={"message": exc.message,
                                        "why": str(exc.detail.get("why", ""))})
            raise

    def _lineage_inputs(self, actor: Principal, resource: str, meta: VersionMetadata,
                        request_id: str) -> list[DatasetNode]:
        """The registered dataset versions ``meta`` names; InvalidInput if one is unknown."""
        if self._lineage is None:
            return []
        found, unknown = [], []
        for ref in meta.datasets:
            node = self._lineage.store.get_node(f"dataset:{ref.name}@{ref.version}")
            if isinstance(node, DatasetNode) \
                    and bare_digest(node.digest) == bare_digest(ref.digest):
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

