"""The release-gate workflow: a signed policy per model, signed gate reports, and reads.

``set_policy`` (approver role) stores a model's gate policy as a signed, numbered record
with its audit event in one transaction; the holdout set must be a registered dataset
version, and the label and sensitive columns must exist in it. ``run`` re-checks the
artifact (signature, scan verdict, servability), evaluates the version against the
policy in a sandboxed child process (:mod:`garrison.gates.sandbox`) and stores a signed
in-toto gate report (:mod:`garrison.gates.report`) with its ``run-gate`` event.

Every read verifies: a policy or report must carry a valid signature over exactly the
row it is in, and be the one the newest audit event of its kind names, so an edited,
swapped or deleted row is refused (:class:`~garrison.errors.IntegrityFailure`) and
raised as a tamper alarm. Overrides and enforcement live in
:mod:`garrison.gates.overrides` and :mod:`garrison.gates.enforce`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from garrison import __version__
from garrison.audit import AuditDraft, AuditQuery
from garrison.datasets import DatasetVersion
from garrison.errors import (
    Conflict,
    DigestMismatch,
    GarrisonError,
    IntegrityFailure,
    InvalidInput,
    ModelNotFound,
    NotFound,
)
from garrison.gates.artifact import artifact_check
from garrison.gates.policy import GatePolicy
from garrison.gates.ports import GateStore, GateTx
from garrison.gates.records import GateReport, PolicyRecord, PolicyRow, ReportRow
from garrison.gates.report import (
    POLICY_PAYLOAD_TYPE,
    build_report_statement,
    envelope_sha256,
    sign_document,
    sign_report,
    verify_document,
    verify_report,
)
from garrison.gates.results import CheckResult, GateResult
from garrison.gates.sandbox import DataBlob, GateRequest, GateRunOutcome, Progress
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.registry import ModelVersion, RegistryService
from garrison.registry.models import validate_model_name
from garrison.signing import Keyring
from garrison.types import Clock, bare_digest, utc_iso

__all__ = ["GateRunner", "GateService", "gate_at_registration"]

log = logging.getLogger("garrison.gates")


class GateRunner(Protocol):
    def run(self, request: GateRequest, progress: Progress | None = None) -> GateRunOutcome: ...


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise NotFound(f"the dataset file {Path(path).name!r} cannot be read at its "
                       "registered location") from exc


class GateService:
    def __init__(
        self, store: GateStore, registry: RegistryService, keyring: Keyring, guard: Guard,
        clock: Clock, *, datasets: Callable[[str, int], DatasetVersion], runner: GateRunner,
        read_file: Callable[[str], bytes] = _read_file,
        on_tamper: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._store = store
        self.registry = registry
        self._keyring = keyring
        self._guard = guard
        self._clock = clock
        self._datasets = datasets
        self.runner = runner
        self._read_file = read_file
        #: Told of a stored gate record that fails verification (raises a high alert).
        self.on_tamper = on_tamper

    def _now(self) -> str:
        return utc_iso(self._clock.now())

    def _failing(self, actor: Principal, action: str, resource: str, request_id: str,
                 exc: GarrisonError) -> None:
        self._guard.record_failure(actor, action, exc, resource=resource,
                                   request_id=request_id)

    # -- policy ---------------------------------------------------------------------
    def _holdout(self, policy: GatePolicy) -> DatasetVersion:
        name, _, number = policy.holdout_dataset.partition(":")
        return self._datasets(name, int(number))

    def _resolved(self, policy: GatePolicy) -> tuple[GatePolicy, DatasetVersion]:
        """The policy with its label named, checked against the registered holdout set."""
        holdout = self._holdout(policy)
        label = policy.label or holdout.target
        if not label:
            raise InvalidInput(f"name the label column: the holdout dataset "
                               f"{holdout.ref} was registered without a target", key="label")
        columns = {name for name, _ in holdout.columns}
        for key, column in (("label", label), ("sensitive", policy.sensitive)):
            if column is not None and column not in columns:
                raise InvalidInput(f"the holdout dataset {holdout.ref} has no column "
                                   f"{column!r} (the policy's {key})", key=key)
        return dataclasses.replace(policy, label=label), holdout

    def set_policy(self, actor: Principal, name: str, policy: GatePolicy | Mapping[str, Any],
                   *, request_id: str = "") -> PolicyRecord:
        """Store ``policy`` as the model's current gate policy (signed, audited)."""
        validate_model_name(name)
        resource = f"model:{name}"
        self._guard.require(actor, "set-gate-policy", resource, request_id=request_id)
        try:
            parsed = policy if isinstance(policy, GatePolicy) else GatePolicy.from_mapping(policy)
            if name not in self.registry.model_names():
                raise ModelNotFound(f"no model named {name!r}; register a version first")
            resolved, holdout = self._resolved(parsed)
            # Verified outside the write (a tamper alarm writes an alert of its own). A
            # policy that fails verification is replaced: that is how an approver recovers.
            try:
                previous = self.current_policy(name)
            except IntegrityFailure:
                previous = None
            with self._store.write() as tx:
                latest = tx.gates.latest_policy(name)
                if previous is not None and (latest is None
                                             or latest.revision != previous.revision):
                    raise Conflict(f"the gate policy of {name} changed meanwhile; try again")
                revision = (latest.revision if latest is not None else 0) + 1
                body: dict[str, Any] = {
                        "model": name, "revision": revision,
                        "digest": resolved.digest(), "policy": resolved.to_mapping(),
                        "holdout": {"name": holdout.name, "version": holdout.version,
                                    "sha256": holdout.digest},
                        "set_by": actor.name, "created": self._now()}
                row = PolicyRow(model=name, revision=revision, digest=resolved.digest(),
                                set_by=actor.name, created=body["created"],
                                envelope=sign_document(self._keyring, POLICY_PAYLOAD_TYPE, body))
                tx.gates.add_policy(row)
                tx.audit.append(AuditDraft(
                    action="set-gate-policy", actor=actor.name, resource=resource,
                    request_id=request_id,
                    payload={"revision": row.revision, "digest": row.digest,
                             "previous_digest": previous.digest if previous else None,
                             "holdout": body["holdout"]}))
                return PolicyRecord(name, row.revision, resolved, row.digest, actor.name,
                                    row.created, holdout.digest)
        except GarrisonError as exc:
            self._failing(actor, "set-gate-policy", resource, request_id, exc)
            raise

    def policy(self, actor: Principal, name: str, *, request_id: str = "") -> PolicyRecord | None:
        """The model's current, verified gate policy (``None``: it has none)."""
        self._guard.require(actor, "view-gate", f"model:{name}", request_id=request_id)
        return self.current_policy(name)

    def current_policy(self, name: str) -> PolicyRecord | None:
        """Unaudited read of the verified current policy (enforcement, registration)."""
        with self._store.read() as tx:
            return self._verified_policy(tx, name)

    def _tampered(self, kind: str, resource: str, exc: GarrisonError) -> None:
        if self.on_tamper is not None:
            self.on_tamper(kind, {"resource": resource, "reason": exc.code,
                                  "message": exc.message})

    def _verified_policy(self, tx: GateTx, name: str) -> PolicyRecord | None:
        row = tx.gates.latest_policy(name)
        events = tx.audit_events(AuditQuery(action="set-gate-policy", outcome="ok",
                                            resource=f"model:{name}", newest_first=True,
                                            limit=1))
        if row is None and not events:
            return None
        try:
            if row is None:
                raise IntegrityFailure(f"the gate policy of {name} was deleted: the audit "
                                       "trail records one")
            body = verify_document(self._keyring, row.envelope, POLICY_PAYLOAD_TYPE,
                                   {"model": name, "revision": row.revision})
            policy = GatePolicy.from_mapping(body.get("policy") or {})
            if policy.digest() != body.get("digest"):
                raise IntegrityFailure(f"the gate policy of {name} does not match its digest")
            if not events or _payload(events[0]).get("digest") != body["digest"] or \
                    _payload(events[0]).get("revision") != row.revision:
                raise IntegrityFailure(f"the stored gate policy of {name} is not the one the "
                                       "audit trail last records")
        except GarrisonError as exc:
            self._tampered("gate-policy-tampered", f"model:{name}", exc)
            raise IntegrityFailure(f"the gate policy of {name} failed verification: "
                                   f"{exc.message}", reason=exc.code) from exc
        return PolicyRecord(name, row.revision, policy, str(body["digest"]),
                            str(body.get("set_by", "")), str(body.get("created", "")),
                            str((body.get("holdout") or {}).get("sha256", "")))

    # -- reports --------------------------------------------------------------------
    def report(self, actor: Principal, name: str, version: int, *,
               request_id: str = "") -> GateReport | None:
        """The newest verified gate report of ``name:version`` (``None``: never run)."""
        self._guard.require(actor, "view-gate", f"model:{name}:{version}",
                            request_id=request_id)
        return self.latest_report(self.registry.get(name, version))

    def latest_report(self, v: ModelVersion) -> GateReport | None:
        """Unaudited: the newest verified report of ``v``, marked current or not."""
        with self._store.read() as tx:
            report = self._verified_report(tx, v)
            policy = self._verified_policy(tx, v.name)
        if report is None:
            return None
        current = policy is not None and policy.digest == report.policy_digest
        return dataclasses.replace(report, current=current)

    def _verified_report(self, tx: GateTx, v: ModelVersion) -> GateReport | None:
        row = tx.gates.latest_report(v.name, v.version)
        events = tx.audit_events(AuditQuery(action="run-gate", outcome="ok",
                                            resource=v.resource, newest_first=True, limit=1))
        if row is None and not events:
            return None
        try:
            if row is None:
                raise IntegrityFailure(f"the gate report of {v.ref} was deleted: the audit "
                                       "trail records one")
            predicate = verify_report(self._keyring, row.envelope, name=v.name,
                                      version=v.version, digest=v.digest)
            sha = envelope_sha256(row.envelope)
            if not events or _payload(events[0]).get("report_sha256") != sha:
                raise IntegrityFailure(f"the stored gate report of {v.ref} is not the one the "
                                       "audit trail last records")
        except GarrisonError as exc:
            self._tampered("gate-report-tampered", v.resource, exc)
            raise IntegrityFailure(f"the gate report of {v.ref} failed verification: "
                                   f"{exc.message}", reason=exc.code) from exc
        return GateReport(v.name, v.version, v.digest, sha, predicate, row.envelope)

    # -- running --------------------------------------------------------------------
    def run(self, actor: Principal, name: str, version: int, *,
            progress: Progress | None = None, request_id: str = "") -> GateReport:
        """Run the release gate of ``name:version`` under the model's current policy and
        store the signed report (passed or failed); returns it."""
        resource = f"model:{name}:{version}"
        self._guard.require(actor, "run-gate", resource, request_id=request_id)
        try:
            v = self.registry.get(name, version)
            record = self.current_policy(name)
            if record is None:
                raise NotFound(f"{name} has no gate policy: set one with "
                               "`garrison gate policy set`")
            return self._run(actor, v, record, progress, request_id)
        except GarrisonError as exc:
            self._failing(actor, "run-gate", resource, request_id, exc)
            raise

    def _data(self, ds: DatasetVersion, what: str) -> DataBlob:
        data = self._read_file(ds.source)
        if hashlib.sha256(data).hexdigest() != bare_digest(ds.digest):
            raise DigestMismatch(f"the {what} dataset {ds.ref} changed since it was "
                                 "registered: its file no longer has the registered digest")
        return DataBlob("parquet" if ds.format == "parquet" else "csv", data)

    def _training(self, v: ModelVersion) -> tuple[list[DataBlob], list[dict[str, Any]]]:
        """The version's training datasets from its signed metadata, where their files
        still have the registered digests; each is listed with whether it was used."""
        blobs, listed = [], []
        for ref in v.metadata.datasets:
            entry: dict[str, Any] = {"name": ref.name, "version": ref.version,
                                     "sha256": ref.digest, "used": False}
            try:
                ds = self._datasets(ref.name, int(ref.version))
                if bare_digest(ds.digest) != bare_digest(ref.digest):
                    raise DigestMismatch("the registered dataset has another digest")
                blobs.append(self._data(ds, "training"))
                entry["used"] = True
            except (GarrisonError, ValueError) as exc:
                entry["why"] = getattr(exc, "message", str(exc))[:200]
            listed.append(entry)
        return blobs, listed

    def _run(self, actor: Principal, v: ModelVersion, record: PolicyRecord,
             progress: Progress | None, request_id: str) -> GateReport:
        started = time.perf_counter()
        if progress is not None:
            progress(0.0, "re-checking the artifact")
        artifact, candidate = artifact_check(self.registry, v)
        policy = record.policy
        holdout = self._holdout(policy)
        if bare_digest(holdout.digest) != bare_digest(record.holdout_sha256):
            raise DigestMismatch(f"the holdout dataset {holdout.ref} is recorded with another "
                                 "digest than the one signed into the gate policy")
        production = self.registry.production(v.name)
        if production is not None and production.version == v.version:
            production = None
        training, training_listed = self._training(v)
        checks: list[CheckResult] = [artifact]
        if candidate is None:
            outcome = GateRunOutcome(None, "the artifact failed its re-check")
        else:
            outcome = self.runner.run(GateRequest(
                policy=policy.to_mapping(), candidate=candidate, candidate_format=v.format,
                candidate_features=_features(v), holdout=self._data(holdout, "holdout"),
                production=(self.registry.verified_bytes(production)
                            if production is not None else None),
                production_format=production.format if production is not None else "",
                production_features=_features(production) if production is not None else (),
                training=tuple(training),
                policy_extension=tuple(sorted(self.registry.policy.extra_allowed))),
                progress)
        if outcome.result is not None:
            checks.extend(GateResult.from_mapping(outcome.result).checks)
        elif candidate is not None:
            checks.append(CheckResult("evaluation", False, outcome.problem))
        result = GateResult(tuple(checks), policy_digest=record.digest)
        predicate: dict[str, Any] = {
            "model": v.name, "version": v.version, "created": self._now(),
            "run_by": actor.name, "policy_digest": record.digest,
            "policy_revision": record.revision, "policy": policy.to_mapping(),
            "holdout": {"name": holdout.name, "version": holdout.version,
                        "sha256": holdout.digest, "rows": holdout.rows},
            "training": training_listed,
            "production": (None if production is None else
                           {"version": production.version, "sha256": production.digest}),
            "passed": result.passed, "checks": [c.to_mapping() for c in result.checks],
            "seconds": round(time.perf_counter() - started, 3),
            "garrison_version": __version__,
        }
        envelope = sign_report(self._keyring, build_report_statement(
            name=v.name, version=v.version, digest=v.digest, predicate=predicate))
        sha = envelope_sha256(envelope)
        with self._store.write() as tx:
            tx.gates.add_report(ReportRow(model=v.name, version=v.version,
                                          created=predicate["created"],
                                          passed=bool(result.passed),
                                          policy_digest=record.digest, envelope=envelope))
            tx.audit.append(AuditDraft(
                action="run-gate", actor=actor.name, resource=v.resource,
                request_id=request_id,
                payload={"report_sha256": sha, "passed": result.passed,
                         "policy_digest": record.digest, "sha256": v.digest,
                         "failed": [c.name for c in result.failed]}))
        return GateReport(v.name, v.version, v.digest, sha, predicate, envelope)


def gate_at_registration(gates: GateService
                         ) -> Callable[[Principal, ModelVersion, str], None]:
    """The registry's ``on_registered`` hook: run the gate of a new version whose model
    has a policy. A gate that cannot run is audited (``run-gate`` failed) and logged; it
    never undoes the registration, and approval stays refused until a gate passes."""

    def run(actor: Principal, v: ModelVersion, request_id: str) -> None:
        try:
            if gates.current_policy(v.name) is None:
                return
            gates.run(actor, v.name, v.version, request_id=request_id)
        except GarrisonError as exc:
            log.warning("the release gate of %s did not run at registration: %s", v.ref,
                        exc.code)

    return run


def _features(v: ModelVersion) -> tuple[str, ...]:
    schema = v.metadata.input_schema
    return tuple(schema.names) if schema is not None else ()



def _payload(record: Any) -> dict[str, Any]:
    import json

    try:
        data = json.loads(record.payload)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
