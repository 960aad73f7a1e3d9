"""What one request flows through, protocol-neutral: the loaded, verified version it reaches
(:class:`Deployed`, with its primary, shadow and fallback in :class:`Serving`), the answer it
gets (:class:`InferenceResult`), the deployment's output policy over that answer
(:func:`harden`), and the two hooks an adapter or the monitors plug in (:class:`Observe`,
:class:`InferenceInput`). ``dataplane`` runs the workflow over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from garrison.registry import ModelVersion
from garrison.serving.deployment import DeploymentConfig
from garrison.serving.limits import RateLimiter
from garrison.serving.output import HardenedOutput, OutputKind
from garrison.serving.resilience import CircuitBreaker
from garrison.serving.runtime import ModelRuntime, RuntimeOutput
from garrison.serving.validation import InputValidator, ValidatedBatch

__all__ = ["Deployed", "InferenceInput", "InferenceResult", "Observe", "Serving", "harden"]


class Observe(Protocol):
    """Hands one request's numeric rows to the monitors (extraction, drift) off the
    hot path. ``labels`` is ``None`` when the model did not answer (a fallback or a
    rejected anomalous input); ``flags`` are the input monitor's verdicts."""

    def __call__(self, caller: str, deployed: Deployed, matrix: np.ndarray,
                 labels: np.ndarray | None, flags: list[dict[str, Any]]) -> None: ...


class InferenceInput(Protocol):
    """A request in a protocol's own framing, checked against the deployment it reaches."""

    def validate(self, deployed: Deployed) -> ValidatedBatch: ...


@dataclass
class Deployed:
    """One loaded, verified model version ready to serve."""

    version: ModelVersion
    runtime: ModelRuntime
    validator: InputValidator
    config: DeploymentConfig
    breaker: CircuitBreaker
    limiter: RateLimiter
    explainer: Any = None
    monitor: Any = None
    #: Daily quota in rows (a limiter without a rate); ``None`` for no quota.
    quota: Any = None
    #: The Open Inference Protocol outputs it answers (``oip_outputs.probe_outputs``).
    outputs: tuple[Any, ...] = ()

    @property
    def names(self) -> list[str]:
        schema = self.version.metadata.input_schema
        assert schema is not None
        return schema.names


@dataclass
class Serving:
    primary: Deployed
    shadow: Deployed | None = None
    fallback: Deployed | None = None
    versions: dict[int, Deployed] = field(default_factory=dict)


@dataclass(frozen=True)
class InferenceResult:
    """One answered request. ``hardened`` is what may leave the gateway; ``output`` is
    the model's full answer, for the decision record and the shadow comparison only."""

    request_id: str
    deployed: Deployed
    batch: ValidatedBatch
    output: RuntimeOutput
    served_by: int
    fallback_reason: str = ""
    explanations: list[dict[str, Any]] | None = None
    hardened: HardenedOutput | None = None
    flags: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: float = 0.0
    #: The client's own request id, as given: echoed and recorded, never a key.
    client_request_id: str | None = None


def harden(deployed: Deployed, output: RuntimeOutput, fallback_reason: str) -> HardenedOutput:
    """The deployment's output policy over a scored answer; labels (or values) alone for
    an answer without scores or from a fallback."""
    labels = output.labels
    if output.scores is not None and not fallback_reason:
        # Scores without classes cannot be matched: apply() refuses them (ModelUnavailable).
        classes = output.classes if output.classes is not None else labels[:0]
        return deployed.config.output.apply(output.scores, classes)
    kind: OutputKind = "value" if output.scores is None and labels.dtype.kind == "f" \
        else "label"
    return HardenedOutput(kind, labels, labels[:0])
