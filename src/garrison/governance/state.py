"""Reconcile governance state with the signed audit trail: ``garrison audit state``.

Each workflow that owns power-granting state (accounts: principals and API keys; the
registry: model stages; deployments: serving policies) offers a :class:`StateSource`.
:meth:`StateAudit.reconcile` asks every source for the state the trail does not back
and reports it; :meth:`StateAudit.adopt` seals the state of an installation made
before state seals existed, exactly once (``garrison db upgrade``, or the first start
with the signing keys), and only over an audit chain that verifies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from garrison.audit import VerifyReport
from garrison.errors import GarrisonError
from garrison.governance.guard import Guard
from garrison.governance.ports import UnitOfWork
from garrison.governance.seals import SealedState, StateFinding
from garrison.identity import Principal

__all__ = ["ADOPT_ACTION", "StateAudit", "StateReport", "StateSource"]

log = logging.getLogger(__name__)

ADOPT_ACTION = "seal-governance-state"


class StateSource(Protocol):
    def unbacked(self) -> list[StateFinding]:
        """The state the trail does not back (nothing is recorded)."""

    def sealable_state(self) -> list[SealedState]:
        """All current state, as it would be sealed on adoption."""


@dataclass(frozen=True)
class StateReport:
    checked: tuple[str, ...]
    findings: tuple[StateFinding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": list(self.checked),
                "findings": [f.to_dict() for f in self.findings]}


class StateAudit:
    def __init__(self, store: UnitOfWork, guard: Guard,
                 sources: dict[str, StateSource],
                 verify_chain: Callable[[], VerifyReport]) -> None:
        self._store = store
        self._guard = guard
        self._sources = sources
        self._verify_chain = verify_chain

    def reconcile(self, actor: Principal, *, request_id: str = "") -> StateReport:
        """Every piece of state the trail does not back; the outcome is audited."""
        self._guard.require(actor, "verify-governance-state", request_id=request_id)
        findings = [f for source in self._sources.values() for f in source.unbacked()]
        report = StateReport(tuple(self._sources), tuple(findings))
        self._guard.record(
            actor, "verify-governance-state", outcome="ok" if report.ok else "failed",
            reason="" if report.ok else "state-unverified", request_id=request_id,
            payload={"findings": len(findings),
                     "first": [f"{f.kind}:{f.key}:{f.reason}" for f in findings[:20]]})
        return report

    def adopted(self) -> bool:
        return self._store.latest_seq([ADOPT_ACTION]) > 0

    def adopt(self, *, fresh: bool = False) -> int | None:
        """Seal all current state once; returns how many pieces, or ``None`` when the
        installation already adopted seals (or its chain does not verify: then nothing
        is sealed, every unsealed row stays refused, and the reason is logged).

        ``fresh`` marks a new installation (``garrison init``): its state is sealed as
        it is created, and the event only records that there is nothing to adopt.
        """
        if self.adopted():
            return None
        if not fresh:
            try:
                self._verify_chain()
            except GarrisonError as exc:
                log.error("state seals not adopted: the audit chain does not verify (%s)",
                          exc.message)
                return None
        states: list[SealedState] = [] if fresh else [
            s for source in self._sources.values() for s in source.sealable_state()]

        def change(tx: Any) -> int:
            return len(states)

        return self._guard.run("system", ADOPT_ACTION, "state", change, authorize=False,
                               payload={"new_installation": fresh},
                               result_payload=lambda n: {"sealed": n},
                               seal=lambda tx, n: states)

