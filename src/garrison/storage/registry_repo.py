"""SQL repository of models, versions and stage transitions."""

from __future__ import annotations

import json

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from garrison.errors import Conflict, ModelVersionNotFound
from garrison.registry.models import ModelVersion, Transition, VersionMetadata
from garrison.storage.tables import model_transitions, model_versions, models

__all__ = ["SQLModelRepository"]


def _version(row: object) -> ModelVersion:
    r = row._mapping  # type: ignore[attr-defined]
    return ModelVersion(
        name=r["name"], version=int(r["version"]), stage=r["stage"], format=r["format"],
        framework=r["framework"], digest=r["digest"], size=int(r["size"]),
        registrant=r["registrant"], created=r["created"], manifest=json.loads(r["manifest"]),
        scan_report=json.loads(r["scan_report"]),
        metadata=VersionMetadata.from_dict(json.loads(r["metadata"])),
        stage_changed=r["stage_changed"],
    )


class SQLModelRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def ensure_model(self, name: str, created: str, created_by: str) -> None:
        row = self._conn.execute(
            select(models.c.name).where(models.c.name == name).with_for_update()
        ).first()
        if row is None:
            try:
                with self._conn.begin_nested():
                    self._conn.execute(insert(models).values(
                        name=name, created=created, created_by=created_by, description=""))
            except IntegrityError:
                pass  # Another writer created it first; lock it below.
            self._conn.execute(select(models.c.name).where(models.c.name == name)
                               .with_for_update()).first()

    def next_version(self, name: str) -> int:
        current = self._conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.name == name)
        ).scalar()
        return int(current or 0) + 1

    def add_version(self, v: ModelVersion) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(model_versions).values(
                    name=v.name, version=v.version, stage=v.stage, format=v.format,
                    framework=v.framework, digest=v.digest, size=v.size,
                    registrant=v.registrant, created=v.created,
                    manifest=json.dumps(v.manifest, sort_keys=True),
                    scan_report=json.dumps(v.scan_report, sort_keys=True),
                    metadata=json.dumps(v.metadata.to_dict(), sort_keys=True),
                    stage_changed=v.stage_changed,
                ))
        except IntegrityError as exc:
            raise Conflict(f"{v.ref} already exists") from exc

    def get_version(self, name: str, version: int) -> ModelVersion:
        row = self._conn.execute(select(model_versions).where(
            model_versions.c.name == name, model_versions.c.version == version)).first()
        if row is None:
            raise ModelVersionNotFound(f"no model version {name}:{version}", name=name,
                                       version=version)
        return _version(row)

    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        stmt = select(model_versions).order_by(model_versions.c.name, model_versions.c.version)
        if name is not None:
            stmt = stmt.where(model_versions.c.name == name)
        return [_version(r) for r in self._conn.execute(stmt)]

    def model_names(self) -> list[str]:
        return [r[0] for r in self._conn.execute(select(models.c.name).order_by(models.c.name))]

    def set_stage(self, name: str, version: int, stage: str, when: str) -> None:
        self._conn.execute(update(model_versions).where(
            model_versions.c.name == name, model_versions.c.version == version
        ).values(stage=stage, stage_changed=when))

    def add_transition(self, t: Transition) -> None:
        self._conn.execute(insert(model_transitions).values(**t.to_dict()))

    def transitions(self, name: str) -> list[Transition]:
        rows = self._conn.execute(select(model_transitions).where(
            model_transitions.c.name == name).order_by(model_transitions.c.id))
        return [Transition(r.name, int(r.version), r.from_stage, r.to_stage, r.actor, r.reason,
                           r.created) for r in rows]
