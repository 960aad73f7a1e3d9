"""Which model versions serve in this gateway, and why the others do not.

One model that cannot serve never takes another down: the model table keeps a
:class:`ModelState` per model and role (``primary``, ``shadow``, ``fallback``). A
primary that failed to load or to pass its load-time checks leaves its model
*unavailable* (callers allowed to call it get an opaque 503, its readiness is false
with the reason's code) while every other model keeps serving. A failed load is tried
again with exponential backoff (:func:`retry_delay`), not on every refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from garrison.errors import ModelNotFound, ModelVersionNotFound

if TYPE_CHECKING:
    from garrison.serving.deployed import Deployed, Serving
    from garrison.serving.deployment import DeploymentConfig

__all__ = ["ModelState", "ModelTable", "retry_delay"]

#: The roles a version plays for its model.
ROLES = ("primary", "shadow", "fallback")


def retry_delay(attempts: int, base: float, cap: float = 300.0) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``base``, doubled
    after each failure, at most ``cap``."""
    return float(min(cap, base * 2 ** max(0, min(attempts - 1, 30))))


@dataclass(frozen=True)
class ModelState:
    """One version in one role: serving (``ready``), or not and why.

    ``code`` is the error code (what a caller may see); ``message`` the full reason
    (logs, the audit trail, ``garrison deploy show``; never a response body).
    """

    name: str
    version: int
    role: str
    ready: bool
    code: str = ""
    message: str = ""
    since: str = ""
    attempts: int = 0
    #: Seconds until the next try (a failed state only).
    retry_in: float | None = None
    config: DeploymentConfig | None = field(default=None, compare=False, repr=False)

    def same_as(self, other: ModelState | None) -> bool:
        """The same outcome for the same version (the attempt count aside)."""
        return other is not None and (self.version, self.ready, self.code, self.message) == \
            (other.version, other.ready, other.code, other.message)

    def again(self, attempts: int, retry_in: float | None) -> ModelState:
        return replace(self, attempts=attempts, retry_in=retry_in)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.name, "version": self.version, "role": self.role,
                               "ready": self.ready}
        if not self.ready:
            out.update(code=self.code, reason=self.message, attempts=self.attempts,
                       retry_in=self.retry_in)
        if self.since:
            out["since"] = self.since
        return out


class ModelTable:
    """Name -> what serves it. Replaced atomically when the registry changes.

    ``states`` holds, per model, the state of each role; a model whose primary is not
    ready has no entry and is reported by :meth:`unavailable`.
    """

    def __init__(self, entries: dict[str, Serving] | None = None,
                 states: dict[str, dict[str, ModelState]] | None = None) -> None:
        self.entries: dict[str, Serving] = entries or {}
        self.states: dict[str, dict[str, ModelState]] = states or {}

    def unavailable(self, name: str) -> ModelState | None:
        """The failed primary state of a model that does not serve, else ``None``."""
        if name in self.entries:
            return None
        state = self.states.get(name, {}).get("primary")
        return state if state is not None and not state.ready else None

    def problems(self) -> dict[str, list[ModelState]]:
        """Every failed state, by model (a failed shadow or fallback included)."""
        out: dict[str, list[ModelState]] = {}
        for name, roles in self.states.items():
            failed = [s for s in roles.values() if not s.ready]
            if failed:
                out[name] = failed
        return out

    def get(self, name: str, version: int | None) -> tuple[Serving, Deployed]:
        serving = self.entries.get(name)
        if serving is None:
            raise ModelNotFound("no such model is being served", name=name)
        if version is None or version == serving.primary.version.version:
            return serving, serving.primary
        deployed = serving.versions.get(version)
        if deployed is None:
            raise ModelVersionNotFound("that version is not being served", name=name,
                                       version=version)
        return serving, deployed
