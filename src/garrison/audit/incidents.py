"""Incidents: tampering that Garrison found, handled and recorded in the chain itself.

An incident is not a break of the chain: the chain verifies, and one of its own
events says what was found. ``audit verify`` keeps failing (reason ``quarantined``)
until an admin acknowledges each incident with an ``acknowledge-audit-incident``
event, so a forged record moved aside by some unrelated append never disappears
from view. Both events are in the signed chain, so neither can be forged or removed
without breaking it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from garrison.audit.events import AuditRecord

__all__ = ["ACKNOWLEDGE_ACTION", "QUARANTINE_ACTION", "Incident", "incidents_from"]

#: Records found past the signed head and moved out of the chain (Garrison itself).
QUARANTINE_ACTION = "quarantine-audit-events"
#: An admin has looked at an incident (``resource`` is ``incident:<id>``).
ACKNOWLEDGE_ACTION = "acknowledge-audit-incident"


@dataclass(frozen=True)
class Incident:
    """One recorded incident; ``id`` is what ``garrison audit acknowledge`` takes."""

    id: str
    kind: str
    position: int
    count: int
    recorded_at: int
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    records: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_by is not None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "position": self.position,
                "count": self.count, "recorded_at": self.recorded_at,
                "acknowledged": self.acknowledged, "acknowledged_by": self.acknowledged_by,
                "acknowledged_at": self.acknowledged_at, "records": list(self.records)}

    def describe(self) -> str:
        return (f"{self.count} forged record(s) found past the signed head at position "
                f"{self.position} were moved to quarantine by event {self.recorded_at}")


def incidents_from(events: Iterable[AuditRecord]) -> list[Incident]:
    """Incidents and their acknowledgments, from the quarantine and acknowledgment
    events of a verified chain (any order)."""
    found: dict[str, Incident] = {}
    acks: dict[str, AuditRecord] = {}
    for e in events:
        if e.action == QUARANTINE_ACTION and e.outcome == "ok":
            payload = json.loads(e.payload)
            incident_id = f"quarantine:{e.seq}"
            found[incident_id] = Incident(
                id=incident_id, kind="quarantined", position=int(payload.get("first", 0)),
                count=int(payload.get("count", 0)), recorded_at=e.seq,
                records=tuple(payload.get("records") or ()))
        elif e.action == ACKNOWLEDGE_ACTION and e.outcome == "ok":
            acks.setdefault(e.resource.removeprefix("incident:"), e)
    out = []
    for incident_id, incident in sorted(found.items(), key=lambda kv: kv[1].recorded_at):
        ack = acks.get(incident_id)
        if ack is not None and ack.seq > incident.recorded_at:
            incident = Incident(**{**incident.__dict__, "acknowledged_by": ack.actor,
                                   "acknowledged_at": ack.seq})
        out.append(incident)
    return out
