"""Audit events: what happened, who did it, to what, and how it ended.

An :class:`AuditDraft` is what a service hands to the audit log; the log assigns
the position (``seq``), the time and the chain hashes and returns an
:class:`AuditRecord`. Payloads are redacted before they are stored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from garrison.audit.redact import redact

__all__ = ["OUTCOMES", "SYSTEM_ACTOR", "AuditDraft", "AuditRecord", "Outcome", "canonical_json"]

Outcome = Literal["ok", "denied", "failed"]
OUTCOMES: tuple[str, ...] = ("ok", "denied", "failed")

#: Actor name used for actions Garrison takes by itself (not on behalf of a person).
SYSTEM_ACTOR = "system"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_finite(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8, no NaN: one text per value."""
    return json.dumps(
        _finite(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    )


@dataclass(frozen=True)
class AuditDraft:
    action: str
    actor: str
    outcome: Outcome = "ok"
    resource: str = ""
    reason: str = ""
    request_id: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        if not self.action or not self.actor:
            raise ValueError("an audit event needs an action and an actor")

    def payload_json(self) -> str:
        return canonical_json(redact(self.payload))


class AuditRecord(NamedTuple):
    """A stored, chained event. ``hash`` commits to every other field and ``prev_hash``.

    A named tuple: verification walks millions of them, and building one from a
    database row is a single C call.
    """

    seq: int
    event_id: str
    created: str
    actor: str
    action: str
    resource: str
    outcome: str
    reason: str
    request_id: str
    payload: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self._asdict()
        out["payload"] = json.loads(self.payload)
        return out
