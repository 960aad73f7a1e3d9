"""Denied requests into the audit trail, rate-limited per actor and reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from garrison.audit import AuditDraft
from garrison.types import Clock

__all__ = ["DenialAuditor"]


class DenialAuditor:
    """Audits denials, at most ``per_minute`` per (actor, reason); counts the rest."""

    def __init__(self, append: Callable[[AuditDraft], Any], clock: Clock,
                 per_minute: int = 10) -> None:
        self._append = append
        self._clock = clock
        self._per_minute = per_minute
        self._window: dict[tuple[str, str], list[float]] = {}
        self.suppressed = 0

    def deny(self, actor: str, action: str, resource: str, reason: str, request_id: str) -> None:
        now = self._clock.now().timestamp()
        key = (actor[:128], reason)
        entry = self._window.setdefault(key, [now, 0.0, 0.0])
        if now - entry[0] >= 60:
            entry[0], entry[1], entry[2] = now, 0.0, entry[2]
        if entry[1] >= self._per_minute:
            entry[2] += 1
            self.suppressed += 1
            return
        entry[1] += 1
        suppressed, entry[2] = int(entry[2]), 0.0
        if len(self._window) > 10_000:
            self._window.clear()
        self._append(AuditDraft(action=action, actor=actor[:128], outcome="denied",
                                resource=resource, reason=reason, request_id=request_id,
                                payload={"suppressed_since_last": suppressed}))
