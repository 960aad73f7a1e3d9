"""Shadow deployments: what is recorded per mirrored request, the report, the gate.

A ``shadow`` version gets a mirrored fraction of live traffic through
:class:`~garrison.serving.mirror.ShadowMirror`, off the request path; each mirrored
request yields one :class:`ShadowObservation` (both outputs, latencies and errors,
:mod:`garrison.serving.shadow_observation`). :class:`ShadowReport` summarizes them and
:func:`ensure_shadow_gate` raises :class:`~garrison.errors.ApprovalRequired` unless
a minimum agreement was measured over a minimum number of mirrored requests
(:mod:`garrison.serving.shadow_report`). This module gathers the three.
"""

from __future__ import annotations

from garrison.serving.mirror import ShadowMirror
from garrison.serving.shadow_observation import ShadowObservation, observe_shadow
from garrison.serving.shadow_report import (
    MAX_EXAMPLES,
    LatencySummary,
    PredictionDifference,
    ShadowReport,
    ensure_shadow_gate,
)

__all__ = [
    "MAX_EXAMPLES",
    "LatencySummary",
    "PredictionDifference",
    "ShadowMirror",
    "ShadowObservation",
    "ShadowReport",
    "ensure_shadow_gate",
    "observe_shadow",
]
