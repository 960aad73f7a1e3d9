"""Shadow traffic: a sampled share of answered requests, replayed on the shadow version.

:class:`ShadowTraffic` is the data plane's ``shadow`` hook. For a request the primary
answered, it decides by the deployment's ``shadow_fraction`` (a keyed hash of the
request id, so the choice cannot be steered by a caller) whether to mirror it, and
hands :class:`~garrison.serving.mirror.ShadowMirror` a factory that runs the shadow
version off the request path and builds the :class:`ShadowObservation`. Each batch
goes to ``record`` (the shadow service), and its agreement to ``on_agreement``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from garrison.serving.deployed import InferenceResult, Serving
from garrison.serving.shadow import ShadowMirror, ShadowObservation, ShadowReport, observe_shadow
from garrison.types import Clock, utc_iso

__all__ = ["ShadowTraffic"]


class ShadowTraffic:
    def __init__(self, record: Callable[[Sequence[ShadowObservation]], object], clock: Clock, *,
                 on_agreement: Callable[[str, float], None] | None = None,
                 key: bytes | None = None) -> None:
        self._record = record
        self._clock = clock
        self._on_agreement = on_agreement
        #: The mirror's own sampling is off (fraction 1.0): each deployment's fraction
        #: is applied per request in ``__call__``.
        self.mirror: ShadowMirror[ShadowObservation] = ShadowMirror(
            1.0, self._sink, key=key if key is not None else os.urandom(16))

    def _sink(self, batch: list[ShadowObservation]) -> None:
        self._record(batch)
        report = ShadowReport.from_observations(batch)
        if report.agreement is not None and self._on_agreement is not None:
            self._on_agreement(batch[0].model, report.agreement)

    def __call__(self, result: InferenceResult, serving: Serving) -> None:
        """Mirror a sampled share of traffic to the shadow version, off the request path."""
        primary, candidate = result.deployed, serving.shadow
        if candidate is None or not self.mirror.should_mirror(
                result.request_id, primary.config.shadow_fraction):
            return
        X = result.batch.matrix if result.batch.matrix is not None else \
            result.batch.as_columns()
        created = utc_iso(self._clock.now())
        latency = float(result.elapsed_ms)

        def run_shadow() -> tuple[Any, Any]:
            out = candidate.runtime.predict(X)
            return out.labels, out.scores  # observe_shadow makes them plain values

        self.mirror.submit(lambda: observe_shadow(
            request_id=result.request_id, model=primary.version.name,
            primary_version=result.served_by, shadow_version=candidate.version.version,
            created=created, primary_labels=result.output.labels,
            primary_scores=result.output.scores, primary_latency_ms=latency,
            run_shadow=run_shadow))

    def close(self) -> None:
        self.mirror.close()
