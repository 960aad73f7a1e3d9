"""The dataset registry workflow, and reading lineage from datasets to deployments.

``register`` records a dataset version: the streaming SHA-256 of the file, its format,
size, row count and schema, the privacy scan and (with a target column) the poisoning
check. The version row, its lineage node and the ``register-dataset`` audit event
commit in one transaction, so a dataset is in the registry exactly when its lineage
node exists (the model registry relies on that to refuse unknown datasets).
Registering the same bytes under the same name again returns the existing version.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from garrison import __version__
from garrison.audit import AuditDraft
from garrison.datasets.describe import FileDescription, describe_file, file_sha256
from garrison.datasets.models import DatasetVersion, validate_dataset_name
from garrison.datasets.ports import DatasetStore, DatasetTx
from garrison.errors import Conflict, DigestMismatch, InvalidInput
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.lineage import (
    LineageGraph,
    LineageRecorder,
    LineageStore,
    load_lineage,
    to_openlineage_events,
)
from garrison.privacy import scan_file
from garrison.privacy.scan import DEFAULT_SAMPLE_SIZE
from garrison.types import Clock, utc_iso

if TYPE_CHECKING:
    from garrison.detection.poisoning import PoisonCheckConfig

__all__ = ["DEFAULT_NAMESPACE", "MAX_POISON_FINDINGS", "PRODUCER", "DatasetService"]

#: The OpenLineage ``producer`` URI of events Garrison exports.
PRODUCER = f"urn:garrison:{__version__}"
DEFAULT_NAMESPACE = "garrison"
#: Findings of the poisoning check kept in the stored report (the count is always exact).
MAX_POISON_FINDINGS = 100
_ATTEMPTS = 5


class DatasetService:
    def __init__(
        self,
        store: DatasetStore,
        lineage: LineageStore,
        guard: Guard,
        clock: Clock,
        *,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
        seed: int = 0,
        poison_config: PoisonCheckConfig | None = None,
    ) -> None:
        self._store = store
        self._lineage = lineage
        self._guard = guard
        self._clock = clock
        self.sample_size = sample_size
        self.seed = seed
        self.poison_config = poison_config

    # -- registration -------------------------------------------------------------
    def register(
        self,
        actor: Principal,
        path: str | Path,
        name: str,
        *,
        target: str | None = None,
        quasi: Sequence[str] | None = None,
        request_id: str = "",
    ) -> DatasetVersion:
        """Record ``path`` as the next version of dataset ``name`` (or return the same bytes'
        existing version). Raises InvalidInput (unreadable file, unknown column),
        DigestMismatch (the file changed meanwhile) or Forbidden."""
        validate_dataset_name(name)
        resource = f"dataset:{name}"
        self._guard.require(actor, "register-dataset", resource, request_id=request_id)
        source = Path(path)
        # The work records its own ok event, in the transaction that stores the version.
        return self._guard.audited(
            actor, "register-dataset",
            lambda: self._register(actor, source, name, target, quasi, request_id),
            resource=resource, request_id=request_id,
        )

    def _register(
        self, actor: Principal, path: Path, name: str, target: str | None,
        quasi: Sequence[str] | None, request_id: str,
    ) -> DatasetVersion:
        digest = file_sha256(path)
        with self._store.read() as tx:
            existing = tx.datasets.find(name, digest)
        if existing is not None:
            return self._record_unchanged(actor, existing, request_id)
        # Hashed once here and once after the scans (to prove the bytes did not change),
        # never a third time inside describe_file.
        facts = describe_file(path, sha256=digest)
        names = {column for column, _ in facts.columns}
        unknown = ({target} - {None}) | set(quasi or ())
        if unknown - names:
            raise InvalidInput(f"no such column(s): {sorted(str(c) for c in unknown - names)}")
        scan = scan_file(
            path, clock=self._clock, quasi=list(quasi) if quasi else None,
            sample_size=self.sample_size, seed=self.seed,
        ).to_dict()
        poison = self._poison_report(path, target) if target is not None else None
        if file_sha256(path) != digest:
            raise DigestMismatch("the file changed while it was being registered")

        with self._store.write() as tx:
            for attempt in range(_ATTEMPTS):
                found = tx.datasets.find(name, digest)
                if found is not None:  # Another writer registered the same bytes meanwhile.
                    tx.audit.append(self._event(actor, found, request_id, unchanged=True))
                    return found
                version = self._new_version(tx, actor, path, name, facts, scan, target, poison)
                try:
                    tx.datasets.add(version)
                    break
                except Conflict:
                    # A concurrent writer took this number (PostgreSQL); count again.
                    if attempt == _ATTEMPTS - 1:
                        raise
            LineageRecorder(tx.lineage).add_node(version.lineage_node())
            tx.audit.append(self._event(actor, version, request_id))
            return version

    def _new_version(
        self, tx: DatasetTx, actor: Principal, path: Path, name: str, facts: FileDescription,
        scan: dict[str, Any], target: str | None, poison: dict[str, Any] | None,
    ) -> DatasetVersion:
        return DatasetVersion(
            name=name, version=tx.datasets.next_version(name), digest=facts.sha256,
            format=facts.format, size=facts.size, rows=facts.rows, columns=facts.columns,
            schema_digest=facts.schema_digest, source=str(path.resolve()),
            registrant=actor.name, created=utc_iso(self._clock.now()), scan_report=scan,
            target=target, poison_report=poison,
        )

    def _poison_report(self, path: Path, target: str) -> dict[str, Any]:
        # Imported here: the poisoning checks pull in scikit-learn and run only on request.
        from garrison.detection.columns import row_id_columns
        from garrison.detection.poisoning import PoisonCheckConfig, poison_check, read_table

        config = self.poison_config or PoisonCheckConfig()
        frame = read_table(path)
        # A row id is not a feature: a model can learn which id ranges were relabelled in
        # one batch and so hide the flips from the label checks (the CLI does the same).
        ids = [name for name in row_id_columns(frame) if name != str(target)]
        report = poison_check(frame.drop(columns=ids), target, config=config,
                              random_state=self.seed)
        payload = report.to_dict(max_findings=MAX_POISON_FINDINGS)
        payload["left_out_columns"] = ids
        return payload

    def _event(self, actor: Principal, v: DatasetVersion, request_id: str, *,
               unchanged: bool = False) -> AuditDraft:
        payload: dict[str, Any] = {
            "version": v.version, "sha256": v.digest, "rows": v.rows, "format": v.format,
            "size": v.size, "schema_digest": v.schema_digest, "pii_columns": list(v.pii_columns),
        }
        if v.poison_report is not None:
            payload["poison"] = {"target": v.target, "rows_flagged": v.suspicious_rows}
        if unchanged:
            payload["unchanged"] = True
        return AuditDraft(action="register-dataset", actor=actor.name, resource=v.resource,
                          request_id=request_id, payload=payload)

    def _record_unchanged(self, actor: Principal, v: DatasetVersion,
                          request_id: str) -> DatasetVersion:
        with self._store.write() as tx:
            tx.audit.append(self._event(actor, v, request_id, unchanged=True))
        return v

    # -- reading ------------------------------------------------------------------
    def get(self, actor: Principal, name: str, version: int | None = None) -> DatasetVersion:
        """One version (the newest when ``version`` is None); DatasetNotFound if absent."""
        self._guard.require(actor, "view-lineage", f"dataset:{name}")
        with self._store.read() as tx:
            return tx.datasets.get(name, version)

    # -- lineage ------------------------------------------------------------------
    def lineage(self, actor: Principal, model: str, version: str | int | None = None
                ) -> LineageGraph:
        """Datasets -> runs -> model version(s) -> deployments of ``model``."""
        self._guard.require(actor, "view-lineage", f"model:{model}")
        return load_lineage(self._lineage, model, None if version is None else str(version))

    def openlineage_events(
        self, actor: Principal, model: str, version: str | int | None = None, *,
        namespace: str = DEFAULT_NAMESPACE, producer: str = PRODUCER,
        repo_url: str | None = None,
    ) -> list[dict[str, Any]]:
        """The lineage of ``model`` as OpenLineage RunEvent dicts (START/COMPLETE per run)."""
        if not namespace.strip():
            raise InvalidInput("the OpenLineage namespace must not be empty")
        graph = self.lineage(actor, model, version)
        return to_openlineage_events(graph, namespace, producer, repo_url=repo_url)

    # Defined last: inside the class body the name ``list`` then still means the builtin.
    def list(self, actor: Principal, name: str | None = None) -> list[DatasetVersion]:
        self._guard.require(actor, "view-lineage", f"dataset:{name}" if name else "")
        with self._store.read() as tx:
            return tx.datasets.list(name)
