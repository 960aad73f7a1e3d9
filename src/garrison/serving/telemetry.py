"""What the data plane tells the metrics: requests, refusals, fallbacks, model errors."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullTelemetry", "Telemetry"]


class Telemetry(Protocol):
    def request(
        self, model: str, version: int, outcome: str, seconds: float, rows: int
    ) -> None: ...

    def rejected(self, reason: str, model: str = "", version: int = 0) -> None:
        """A refused request; ``model`` and ``version`` when the model was known."""

    def fallback(self, model: str, reason: str) -> None: ...

    def model_error(self, model: str, version: int, kind: str) -> None:
        """The model failed to answer: ``kind`` is ``exception``, ``timeout``,
        ``circuit-open`` or ``bad-output``."""


class NullTelemetry:
    def request(self, model: str, version: int, outcome: str, seconds: float, rows: int) -> None:
        return None

    def rejected(self, reason: str, model: str = "", version: int = 0) -> None:
        return None

    def fallback(self, model: str, reason: str) -> None:
        return None

    def model_error(self, model: str, version: int, kind: str) -> None:
        return None
