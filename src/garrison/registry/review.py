"""What an approver needs to decide: a candidate version side by side with production.

:func:`build_review` compares two versions' metrics, input schemas and training data
(pure, no I/O); the registry adds the signature checks and who may approve.
:func:`ensure_approvable` holds the approval rules that do not depend on the role table
(the stage, and four eyes): the registry's ``approve`` enforces them, and a user
interface asks :func:`approval_blocker` why a button is missing.

Four eyes means two people, so an approval counts only if the registrant could not have
been the approver. :func:`approver_vouchers` reads, from the signed audit trail, who
could act as an approver: whoever created the approver's account, granted it a role
that approves (``approver``, ``admin``) or created one of its API keys (and so held
its secret), and, in turn, whoever could act as those. The registrant must not be
among them: an admin cannot create an approver account (or a key for an existing
approver) and approve their own model with it, not even through a second account of
their own making. Principals made by the installation itself (``system``, at ``init``)
count for nobody.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from garrison.audit import AuditQuery, AuditRecord
from garrison.authz import Subject, allowed
from garrison.errors import FourEyesViolation, GarrisonError, InvalidTransition
from garrison.registry.lifecycle import Stage
from garrison.registry.models import DatasetRef, ModelVersion
from garrison.schema import FeatureSpec, InputSchema

__all__ = [
    "CheckResult",
    "DatasetChange",
    "FeatureChange",
    "MetricDelta",
    "Review",
    "SignatureStatus",
    "approval_blocker",
    "approver_vouchers",
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
class CheckResult:
    """One recorded pre-transition check of the version (servability, release gates...)."""

    check: str
    purpose: str
    outcome: str
    detail: str
    actor: str
    created: str


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
    #: The candidate's recorded checks, newest first (none until a transition ran them).
    checks: tuple[CheckResult, ...] = ()

    @property
    def schema_changed(self) -> bool:
        return any(f.change != "same" for f in self.schema)


#: Roles whose holder may approve a model version.
APPROVING_ROLES = frozenset({"approver", "admin"})
#: Audited actions by which one principal gets the means to act as another.
_VOUCHING = ("create-principal", "grant-role", "create-api-key")
History = Callable[[AuditQuery], Sequence[AuditRecord]]


def approver_vouchers(history: History, approver: str) -> frozenset[str]:
    """Everyone who could have acted as ``approver`` (see the module docstring), read
    from the audit trail's successful ``create-principal``, ``grant-role`` (of a role
    that approves) and ``create-api-key`` events, followed transitively."""
    found: set[str] = set()
    todo = [approver]
    done: set[str] = set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        for action in _VOUCHING:
            for event in history(AuditQuery(action=action, resource=f"principal:{name}",
                                            outcome="ok", limit=None)):
                if event.actor in ("system", name):
                    continue  # ``init``'s own admin; a principal's own key.
                if action == "grant-role" and json.loads(event.payload or "{}").get(
                        "role") not in APPROVING_ROLES:
                    continue
                found.add(event.actor)
                todo.append(event.actor)
    return frozenset(found)


def ensure_approvable(actor: Subject, v: ModelVersion,
                      vouchers: frozenset[str] = frozenset()) -> None:
    """The stage and four-eyes rules of an approval; raises, never returns a bool.

    ``vouchers`` are the principals who could act as ``actor`` (:func:`approver_vouchers`):
    the registrant must not be ``actor`` nor one of them.
    """
    if v.stage != Stage.REGISTERED:
        raise InvalidTransition(f"only a registered version can be approved; {v.ref} is "
                                f"{v.stage}")
    if v.registrant == actor.name:
        raise FourEyesViolation("the registrant cannot approve their own version",
                                registrant=v.registrant)
    if v.registrant in vouchers:
        raise FourEyesViolation(
            "the registrant created this approver's account, role or key: four eyes needs "
            "an approver the registrant could not act as", registrant=v.registrant,
            why="approver-vouched-by-registrant")


def approval_blocker(actor: Subject, v: ModelVersion,
                     vouchers: frozenset[str] = frozenset()) -> str | None:
    """For user interfaces only: why ``actor`` could not approve ``v`` (``None``: could)."""
    if not allowed(actor, "approve-model-version", v.resource):
        return "Your roles do not include approving model versions."
    try:
        ensure_approvable(actor, v, vouchers)
    except FourEyesViolation as exc:
        if exc.detail.get("why") == "approver-vouched-by-registrant":
            return ("The person who registered this version created your account, your "
                    "approver role or one of your keys. Four eyes: an approver they could "
                    "not act as must approve it.")
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
                 blocker: str | None, checks: tuple[CheckResult, ...] = ()) -> Review:
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
        blocker=blocker, checks=checks,
    )

