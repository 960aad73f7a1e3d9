"""The release-gate part of :class:`~garrison.client.GarrisonClient` (docs/gates.md).

Answers are the admin API's JSON objects as dicts: a gate report's checks are the signed
document's own numbers, passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["GateMethods"]

#: How long a gate run may take before the client gives up (the server's own deadline,
#: GARRISON_GATE_TIMEOUT, is 1800 s by default).
GATE_RUN_TIMEOUT = 3600.0


class GateMethods:
    """Mixed into ``GarrisonClient``; uses its ``_json`` and ``_model``."""

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _model(name: str, version: int | None = None) -> str:  # pragma: no cover
        raise NotImplementedError

    def gate_policy(self, name: str) -> dict[str, Any]:
        """The model's current gate policy (``NotFound`` when it has none)."""
        return dict(self._json("GET", self._model(name) + "/gate-policy"))

    def set_gate_policy(self, name: str, policy: Mapping[str, Any]) -> dict[str, Any]:
        """Set the model's gate policy (approver role); returns the new revision."""
        return dict(self._json("PUT", self._model(name) + "/gate-policy",
                               json={"policy": dict(policy)}))

    def run_gate(self, name: str, version: int, *,
                 timeout: float = GATE_RUN_TIMEOUT) -> dict[str, Any]:
        """Run the version's release gate and return its report (passed or failed)."""
        return dict(self._json("POST", self._model(name, version) + "/gate-runs",
                               timeout=timeout))

    def gate_report(self, name: str, version: int, *, envelope: bool = False) -> dict[str, Any]:
        """The version's newest gate report (``NotFound`` if never run)."""
        return dict(self._json("GET", self._model(name, version) + "/gate-report",
                               params={"envelope": "1" if envelope else "0"}))

    def request_gate_override(self, name: str, version: int, reason: str) -> dict[str, Any]:
        """Ask to let the version through its gate (admin; a second admin must grant)."""
        return dict(self._json("POST", self._model(name, version) + "/gate-overrides",
                               json={"reason": reason}))

    def approve_gate_override(self, override_id: str) -> dict[str, Any]:
        """Grant another admin's override (``FourEyesViolation`` for one's own)."""
        return dict(self._json("POST", f"/admin/gate-overrides/{override_id}/approve"))

    def gate_overrides(self, name: str) -> list[dict[str, Any]]:
        return list(self._json("GET", self._model(name) + "/gate-overrides")["overrides"])
