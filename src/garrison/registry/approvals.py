"""The approver's desk: the queue of versions waiting for a decision, and the review of
one version side by side with production, with the pre-transition checks (servability,
release gates) recorded for it so far.

Read-only: it checks the role table (a denial is audited) and reads through the
registry's public methods and the ``check_events`` reader the composition root gives it
(the ``check-model-version`` events of one version). The decisions themselves are the
registry's transitions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from garrison.audit import AuditRecord
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.registry.lifecycle import Stage
from garrison.registry.models import ModelVersion
from garrison.registry.review import CheckResult, Review, approval_blocker, build_review
from garrison.registry.service import RegistryService

__all__ = ["ApprovalDesk"]


class ApprovalDesk:
    def __init__(self, registry: RegistryService, guard: Guard, *,
                 check_events: Callable[[str], Sequence[AuditRecord]] = lambda _: (),
                 gate_checks: Callable[[ModelVersion], Sequence[CheckResult]] = lambda _: (),
                 ) -> None:
        self._registry = registry
        self._guard = guard
        self._check_events = check_events
        self._gate_checks = gate_checks

    def checks(self, v: ModelVersion) -> tuple[CheckResult, ...]:
        """The recorded checks of ``v``: the checks of its newest release-gate report
        (``gate_checks``, from the composition root) first, then the pre-transition
        checks, newest first (unaudited: called after a check)."""
        out = list(self._gate_checks(v))
        for event in self._check_events(v.resource):
            payload = json.loads(event.payload)
            detail = payload.get("message") or ", ".join(
                f"{k}: {payload[k]}" for k in sorted(payload) if k not in ("check", "purpose"))
            out.append(CheckResult(str(payload.get("check", "")), str(payload.get("purpose", "")),
                                   event.outcome, str(detail)[:300], event.actor, event.created))
        return tuple(out)

    def _review(self, actor: Principal, candidate: ModelVersion,
                production: ModelVersion | None,
                vouchers: frozenset[str] | None = None) -> Review:
        if production is not None and production.version == candidate.version:
            production = None
        if vouchers is None:
            vouchers = self._registry.lifecycle.vouchers(actor.name)
        status = self._registry.signature_status
        return build_review(
            candidate, production, candidate_signature=status(candidate),
            production_signature=None if production is None else status(production),
            blocker=approval_blocker(actor, candidate, vouchers),
            checks=self.checks(candidate))

    def review(self, actor: Principal, name: str, version: int) -> Review:
        """The version side by side with production (``view-model``).

        Both signed manifests are checked (not the artifacts: that is ``verify``, which is
        audited); ``blocker`` says why ``actor`` could not approve it, if they could not.
        """
        self._guard.require(actor, "view-model", f"model:{name}:{version}")
        return self._review(actor, self._registry.get(name, version),
                            self._registry.production(name))

    def queue(self, actor: Principal) -> tuple[list[Review], list[ModelVersion]]:
        """What waits for an approver: registered versions (each with its review) and
        approved or shadow versions newer than their model's production version.

        Needs ``approve-model-version``; a denial is audited.
        """
        self._guard.require(actor, "approve-model-version")
        versions = self._registry.versions_in(
            (Stage.REGISTERED, Stage.APPROVED, Stage.SHADOW, Stage.PRODUCTION))
        production = {v.name: v for v in versions if v.stage == Stage.PRODUCTION}
        waiting = [v for v in versions if v.stage == Stage.REGISTERED]
        promotable = [v for v in versions if v.stage in (Stage.APPROVED, Stage.SHADOW) and (
            v.name not in production or v.version > production[v.name].version)]
        vouchers = self._registry.lifecycle.vouchers(actor.name)
        return [self._review(actor, v, production.get(v.name), vouchers) for v in waiting], \
            promotable
