"""Storage contracts of the serving workflows (implemented in ``garrison.storage``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from garrison.governance.ports import AuditWriter
from garrison.governance.seals import SealRepository
from garrison.serving.decisions import DecisionRecord
from garrison.serving.deployment import DeploymentConfig

if TYPE_CHECKING:
    from garrison.serving.decision_service import DecisionsReport
    from garrison.serving.shadow import ShadowObservation

__all__ = [
    "DecisionStore",
    "DeploymentRepository",
    "DeploymentStore",
    "DeploymentTx",
    "ModelNames",
    "ShadowStore",
]


class DeploymentRepository(Protocol):
    """Deployment configs inside one open transaction."""

    def get(self, name: str) -> DeploymentConfig:
        """The stored config, or the secure default when none is stored."""

    def all(self) -> dict[str, DeploymentConfig]: ...

    def put(self, name: str, config: DeploymentConfig, actor: str, when: str) -> None: ...


class ModelNames(Protocol):
    def model_names(self) -> list[str]: ...


class DeploymentTx(Protocol):
    @property
    def models(self) -> ModelNames: ...

    @property
    def deployments(self) -> DeploymentRepository: ...

    @property
    def audit(self) -> AuditWriter: ...

    @property
    def seals(self) -> SealRepository: ...


class DeploymentStore(Protocol):
    def write(self) -> AbstractContextManager[DeploymentTx]: ...

    def read(self) -> AbstractContextManager[DeploymentTx]: ...


class ShadowStore(Protocol):
    """Mirrored-traffic observations, written in batches."""

    def add_many(self, observations: Sequence[ShadowObservation]) -> int: ...

    def observations(self, model: str, shadow_version: int | None = None,
                     since: str | None = None, limit: int = 100_000,
                     ) -> list[ShadowObservation]: ...

    def shadow_versions(self, model: str) -> list[int]: ...


class DecisionStore(Protocol):
    """Decision records, each batch anchored by one audit event, and the numbering of
    each gateway worker's decision log."""

    def add_many(self, records: Sequence[DecisionRecord], *, writer: str | None = None,
                 reserved: int | None = None, used: int | None = None) -> None: ...

    def open_writer(self, writer: str, reserved: int, detail: dict[str, Any]) -> None: ...

    def reserve(self, writer: str, reserved: int, used: int = 0) -> None: ...

    def record_drops(self, writer: str, records: Sequence[DecisionRecord], reason: str,
                     message: str) -> None: ...

    def close_writer(self, writer: str, last: int) -> None: ...

    def get(self, request_id: str) -> DecisionRecord:
        """Raise ``DecisionNotFound``."""

    def verify(self, request_id: str) -> dict[str, Any]:
        """Check one record's batch against its anchor; raise ``IntegrityFailure``."""

    def verify_all(self, *, since: str | None = None,
                   now: str | None = None) -> DecisionsReport: ...
