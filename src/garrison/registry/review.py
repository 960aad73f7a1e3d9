"""What an approver needs to decide: a candidate version side by side with production.

:func:`build_review` compares two versions' metrics, input schemas and training data
(pure, no I/O); the registry adds the signature checks and who may approve.
:func:`ensure_approvable` holds the approval rules that do not depend on the role table
(the stage, and four eyes): the registry's ``approve`` enforces them, and a user
interface asks :func:`approval_blocker` why a button is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from garrison.authz import Subject, allowed
from garrison.errors import FourEyesViolation, GarrisonError, InvalidTransition
from garrison.registry.lifecycle import Stage
from garrison.registry.models import DatasetRef, ModelVersion
from garrison.schema import FeatureSpec, InputSchema

__all__ = [
    "DatasetChange",
    "FeatureChange",
    "MetricDelta",
    "Review",
    "SignatureStatus",
    "approval_blocker",
    "build_review",
    "ensure_approvable",
]

Change = Literal["same", "added", "removed", "changed"]


@dataclass(frozen=True)
class MetricDelta:
    name: str
    candidate: float | None
    production: float | None

    @property
    def delta(self) -> float | None:
        if self.candidate is None or self.production is None:
            return None
        return self.candidate - self.production


@dataclass(frozen=True)
class FeatureChange:
    """One input feature: how the candidate's spec differs from production's."""

    name: str
    change: Change
    candidate: str
    production: str


@dataclass(frozen=True)
class DatasetChange:
    name: str
    change: Change
    candidate: DatasetRef | None
    production: DatasetRef | None


@dataclass(frozen=True)
class SignatureStatus:
    """The signed manifest's check: ``ok``, or the error code that refused it."""

    ok: bool
    signed_by: tuple[str, ...] = ()
    problem: str = ""


@dataclass(frozen=True)
class Review:
    candidate: ModelVersion
    production: ModelVersion | None
    metrics: tuple[MetricDelta, ...]
    schema: tuple[FeatureChange, ...]
    datasets: tuple[DatasetChange, ...]
    candidate_signature: SignatureStatus
    production_signature: SignatureStatus | None
    #: Why the person asking may not approve the candidate (``None``: they may).
    blocker: str | None

    @property
    def schema_changed(self) -> bool:
        return any(f.change != "same" for f in self.schema)


def ensure_approvable(actor: Subject, v: ModelVersion) -> None:
    """The stage and four-eyes rules of an approval; raises, never returns a bool."""
    if v.stage != Stage.REGISTERED:
        raise InvalidTransition(f"only a registered version can be approved; {v.ref} is "
                                f"{v.stage}")
    if v.registrant == actor.name:
        raise FourEyesViolation("the registrant cannot approve their own version",
                                registrant=v.registrant)


def approval_blocker(actor: Subject, v: ModelVersion) -> str | None:
    """For user interfaces only: why ``actor`` could not approve ``v`` (``None``: could)."""
    if not allowed(actor, "approve-model-version", v.resource):
        return "Your roles do not include approving model versions."
    try:
        ensure_approvable(actor, v)
    except FourEyesViolation:
        return ("You registered this version. Four eyes: another approver must review and "
                "approve it.")
    except GarrisonError as exc:
        return exc.message
    return None


def _spec_text(spec: FeatureSpec | None) -> str:
    if spec is None:
        return ""
    parts: list[str] = [spec.type]
    if spec.minimum is not None or spec.maximum is not None:
        low = "" if spec.minimum is None else f"{spec.minimum:g}"
        high = "" if spec.maximum is None else f"{spec.maximum:g}"
        parts.append(f"[{low}, {high}]")
    if spec.categories:
        shown = ", ".join(spec.categories[:8])
        parts.append("{" + shown + (", ..." if len(spec.categories) > 8 else "") + "}")
    if spec.nullable:
        parts.append("nullable")
    if spec.allow_nan:
        parts.append("NaN allowed")
    return " ".join(parts)


def _schema(candidate: InputSchema | None, production: InputSchema | None
            ) -> tuple[FeatureChange, ...]:
    new = {f.name: f for f in candidate.features} if candidate else {}
    old = {f.name: f for f in production.features} if production else {}
    names = list(new) + [n for n in old if n not in new]
    out = []
    for name in names:
        a, b = new.get(name), old.get(name)
        change: Change = ("added" if b is None else "removed" if a is None
                          else "same" if _spec_text(a) == _spec_text(b) else "changed")
        out.append(FeatureChange(name, change, _spec_text(a), _spec_text(b)))
    return tuple(out)


def _datasets(candidate: tuple[DatasetRef, ...], production: tuple[DatasetRef, ...]
              ) -> tuple[DatasetChange, ...]:
    new = {d.name: d for d in candidate}
    old = {d.name: d for d in production}
    out = []
    for name in list(new) + [n for n in old if n not in new]:
        a, b = new.get(name), old.get(name)
        change: Change = ("added" if b is None else "removed" if a is None
                          else "same" if a == b else "changed")
        out.append(DatasetChange(name, change, a, b))
    return tuple(out)


def build_review(candidate: ModelVersion, production: ModelVersion | None, *,
                 candidate_signature: SignatureStatus,
                 production_signature: SignatureStatus | None,
                 blocker: str | None) -> Review:
    """Compare ``candidate`` with ``production`` (which may be missing)."""
    cm = candidate.metadata.metrics
    pm = production.metadata.metrics if production else {}
    metrics = tuple(MetricDelta(n, cm.get(n), pm.get(n))
                    for n in sorted(set(cm) | set(pm)))
    return Review(
        candidate=candidate, production=production, metrics=metrics,
        schema=_schema(candidate.metadata.input_schema,
                       production.metadata.input_schema if production else None),
        datasets=_datasets(candidate.metadata.datasets,
                           production.metadata.datasets if production else ()),
        candidate_signature=candidate_signature, production_signature=production_signature,
        blocker=blocker,
    )

