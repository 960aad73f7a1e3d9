"""Per-model serving policy: who may call, limits, output hardening, fallback, shadow.

Stored as JSON with the model (``garrison deploy configure``); every field has a
secure default. ``callers`` is deny-by-default: an empty list lets nobody in, ``["*"]``
admits every principal whose role allows ``invoke-model``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from garrison.errors import InvalidInput
from garrison.serving.output import OutputPolicy
from garrison.serving.resilience import FallbackPolicy

__all__ = ["DeploymentConfig", "InputRecordPolicy"]

InputRecordPolicy = Literal["none", "pseudonymized", "full"]


@dataclass(frozen=True)
class DeploymentConfig:
    callers: tuple[str, ...] = ()
    output: OutputPolicy = field(default_factory=OutputPolicy)
    fallback: FallbackPolicy = field(default_factory=FallbackPolicy)
    rate_limit: float | None = None
    rate_burst: int | None = None
    daily_quota: int | None = None
    timeout: float | None = None
    breaker_failures: int = 5
    breaker_window: float = 30.0
    breaker_cooldown: float = 10.0
    record_inputs: InputRecordPolicy = "none"
    explain: bool = True
    shadow_fraction: float = 0.0
    shadow_min_agreement: float | None = None
    shadow_min_requests: int = 100
    #: What to do with inputs the detectors call anomalous or adversarial.
    detection: Literal["off", "log", "flag", "reject", "fallback"] = "flag"
    detection_fpr: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 <= self.shadow_fraction <= 1.0:
            raise InvalidInput("shadow_fraction must be between 0 and 1")
        if self.record_inputs not in ("none", "pseudonymized", "full"):
            raise InvalidInput("record_inputs must be none, pseudonymized or full")
        if self.timeout is not None and not 0 < self.timeout <= 300:
            raise InvalidInput("timeout must be in (0, 300] seconds")
        if self.breaker_failures < 1:
            raise InvalidInput("breaker_failures must be at least 1")
        if self.detection not in ("off", "log", "flag", "reject", "fallback"):
            raise InvalidInput("detection must be off, log, flag, reject or fallback")
        if not 0.0001 <= self.detection_fpr <= 0.5:
            raise InvalidInput("detection_fpr must be between 0.0001 and 0.5")
        if self.shadow_min_agreement is not None and not 0 <= self.shadow_min_agreement <= 1:
            raise InvalidInput("shadow_min_agreement must be between 0 and 1")

    @property
    def explains(self) -> bool:
        """Explanations are given only with full outputs: they would undo the hardening."""
        return self.explain and self.output.mode == "full"

    def admits(self, principal_name: str) -> bool:
        return "*" in self.callers or principal_name in self.callers

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "output":
                value = {"mode": value.mode, "decimals": value.decimals, "k": value.k}
            elif f.name == "fallback":
                value = value.to_dict()
            elif f.name == "callers":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentConfig:
        if not isinstance(data, dict):
            raise InvalidInput("deployment config must be an object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"unknown deployment settings: {sorted(unknown)}")
        kwargs = dict(data)
        try:
            if "output" in kwargs:
                kwargs["output"] = OutputPolicy(**kwargs["output"])
            if "fallback" in kwargs:
                kwargs["fallback"] = FallbackPolicy.from_dict(kwargs["fallback"])
            if "callers" in kwargs:
                kwargs["callers"] = tuple(str(c) for c in kwargs["callers"])
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"invalid deployment config: {exc}") from exc

    def updated(self, **changes: Any) -> DeploymentConfig:
        return DeploymentConfig.from_dict({**self.to_dict(), **changes}) if changes else replace(
            self)
