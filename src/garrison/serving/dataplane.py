"""The inference workflow, protocol-neutral: the REST adapter parses, calls, renders.

``DataPlane.infer`` runs, in order: authorization (role table and the deployment's
caller list; denials audited, rate-limited), per-caller rate limit and daily quota,
strict input validation, load shedding, the model call off the event loop with a
deadline and a circuit breaker, fallback on timeout / error / open breaker, output
hardening, optional explanation, then the decision record and the shadow mirror
off the hot path. The result carries the hardened output (``InferenceResult.hardened``):
an adapter serializes it and never sees more of the scores than the deployment allows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from garrison.authz import Subject, require
from garrison.errors import (
    Forbidden,
    GarrisonError,
    ModelNotFound,
    ModelUnavailable,
    RateLimited,
    SchemaViolation,
)
from garrison.serving.availability import ModelTable
from garrison.serving.decisions import DecisionRecord, unanswered_record
from garrison.serving.denials import DenialAuditor
from garrison.serving.deployed import (
    Deployed,
    InferenceInput,
    InferenceResult,
    Observe,
    Serving,
    harden,
)
from garrison.serving.deployment import DeploymentConfig
from garrison.serving.limits import ConcurrencyLimiter
from garrison.serving.model_errors import ModelErrorLog
from garrison.serving.resilience import call_with_deadline
from garrison.serving.runtime import RuntimeOutput
from garrison.serving.telemetry import NullTelemetry, Telemetry
from garrison.serving.validation import ValidatedBatch
from garrison.types import Clock, utc_iso

__all__ = [
    "DataPlane", "DenialAuditor", "Deployed", "InferenceInput", "InferenceResult", "ModelTable",
    "Observe", "Telemetry", "harden",
]


#: Largest batch a bounded-cost runtime scores on the event loop itself.
_INLINE_ROWS = 64


def _anomalous(flags: list[dict[str, Any]]) -> SchemaViolation:
    first = flags[0]
    return SchemaViolation("the input looks anomalous or adversarial",
                           field=str(first["reasons"][0] if first["reasons"] else "input"),
                           row=first["row"], problem="anomalous-input")


class DataPlane:
    def __init__(
        self,
        table: ModelTable,
        *,
        executor: Any,
        concurrency: ConcurrencyLimiter,
        denials: DenialAuditor,
        decisions: Callable[[DecisionRecord], None],
        clock: Clock,
        timeout: float = 2.0,
        telemetry: Telemetry | None = None,
        shadow: Callable[[InferenceResult, Serving], None] | None = None,
        explain_rows: int = 32,
        observe: Observe | None = None,
    ) -> None:
        self._observe = observe
        self.table = table
        self._executor = executor
        self._concurrency = concurrency
        self._denials = denials
        self._decisions = decisions
        self._clock = clock
        self._timeout = timeout
        self.telemetry = telemetry or NullTelemetry()
        self._shadow = shadow
        self._explain_rows = explain_rows
        self._errors = ModelErrorLog(self, clock)

    def model_error(self, model: str, version: int, kind: str) -> None:
        self.telemetry.model_error(model, version, kind)

    # -- guards -------------------------------------------------------------------
    def authorize(self, principal: Subject, name: str, deployed: Deployed,
                  request_id: str) -> None:
        self._authorize(principal, name, deployed.version.version, deployed.config, request_id)

    def _authorize(self, principal: Subject, name: str, version: int,
                   config: DeploymentConfig, request_id: str) -> None:
        resource = f"model:{name}:{version}"
        try:
            require(principal, "invoke-model", resource)
            if not config.admits(principal.name):
                raise Forbidden("forbidden", why="not-in-deployment-callers")
        except Forbidden as exc:
            self.telemetry.rejected("forbidden", name, version)
            self._denials.deny(principal.name, "invoke-model", resource,
                               str(exc.detail.get("why", "forbidden")), request_id)
            raise

    def resolve(self, principal: Subject, name: str, version: int | None,
                request_id: str) -> tuple[Serving, Deployed]:
        """What serves ``name`` (``version``) for ``principal``, authorized.

        A caller who may not invoke the model gets the answer an unknown name gets
        (``ModelNotFound``, the same message and detail), so model names cannot be
        enumerated; the denial is audited with its real reason. A version is looked up
        only once the caller may use the model. A model whose production version could
        not be loaded answers an opaque 503 to the callers allowed to call it (the reason
        is in the log, the audit trail and its readiness).
        """
        down = self.table.unavailable(name)
        if down is not None and down.config is not None:
            try:
                self._authorize(principal, name, down.version, down.config, request_id)
            except Forbidden:
                raise ModelNotFound("no such model is being served", name=name) from None
            self.telemetry.rejected("model-unavailable", name, down.version)
            raise ModelUnavailable("the model is unavailable", reason="not-loaded")
        serving, deployed = self.table.get(name, None)
        try:
            self.authorize(principal, name, deployed, request_id)
            if version is not None and version != deployed.version.version:
                serving, deployed = self.table.get(name, version)
                self.authorize(principal, name, deployed, request_id)
        except Forbidden:
            raise ModelNotFound("no such model is being served", name=name) from None
        return serving, deployed

    def readiness(self, principal: Subject, name: str, version: int | None,
                  request_id: str) -> tuple[bool, str]:
        """``(ready, code)`` of one model for a caller allowed to call it; ``code`` names
        why not (an error code, never the detail)."""
        try:
            self.resolve(principal, name, version, request_id)
        except ModelUnavailable:
            down = self.table.unavailable(name)
            return False, down.code if down is not None else "model-unavailable"
        return True, ""

    async def limit(self, principal: Subject, deployed: Deployed) -> None:
        """The request's first row against the caller's rate limit, before anything of it
        is read (429 when refused): a flood of unreadable requests is throttled too."""
        decision = await deployed.limiter.ahit(principal.name)
        if not decision.allowed:
            self._refused(decision.reason or "rate", deployed)
            decision.raise_if_denied()

    async def charge_rows(self, principal: Subject, deployed: Deployed, rows: int) -> None:
        """The request's other rows against the caller's rate limit, and all of them
        against the daily quota: the bucket and the quota are costed in rows, because
        every row (or encrypted sample) is a query a model-extraction attack needs,
        whatever the protocol carried it. A request of more rows than the burst could
        never pass: it is refused (429) with the time a full bucket takes."""
        policy = deployed.limiter.policy_for(principal.name)
        if rows > 1 and policy.rate is not None:
            if rows > policy.burst:
                self._refused("rate", deployed)
                raise RateLimited(
                    f"a request may score at most {policy.burst} rows under this caller's "
                    "rate limit; split it", retry_after=policy.burst / policy.rate,
                    reason="rate", problem="rows-above-burst", limit=policy.burst)
            decision = await deployed.limiter.ahit(principal.name, rows - 1)
            if not decision.allowed:
                self._refused(decision.reason or "rate", deployed)
                decision.raise_if_denied()
        if deployed.quota is not None:
            used = await deployed.quota.ahit(principal.name, rows)
            if not used.allowed:
                self.telemetry.rejected("quota", deployed.version.name,
                                        deployed.version.version)
                used.raise_if_denied()

    def _refused(self, reason: str, deployed: Deployed) -> None:
        self.telemetry.rejected(reason, deployed.version.name, deployed.version.version)

    # -- the call -----------------------------------------------------------------
    async def _call(self, deployed: Deployed, X: Any) -> RuntimeOutput:
        runtime = deployed.runtime
        if getattr(runtime, "inline", False) and len(X) <= getattr(runtime, "inline_rows",
                                                                    _INLINE_ROWS):
            # Bounded-cost runtimes (a dot product) run on the loop: a thread hop would
            # cost more than the call. The breaker still sees every outcome.
            breaker = deployed.breaker
            breaker.before_call()
            try:
                out = runtime.predict(X)
            except Exception as exc:
                breaker.record_error(exc)
                raise
            breaker.record_success()
            return out
        timeout = deployed.config.timeout or self._timeout
        return await call_with_deadline(deployed.runtime.predict, X, timeout=timeout,
                                        executor=self._executor, breaker=deployed.breaker)

    async def _with_fallback(self, serving: Serving, deployed: Deployed, X: Any, n: int,
                             rid: str) -> tuple[RuntimeOutput, int, str]:
        try:
            return await self._call(deployed, X), deployed.version.version, ""
        except Exception as exc:  # Any model failure falls back; the code says which kind.
            reason = exc.code if isinstance(exc, GarrisonError) else "model-error"
            retry = getattr(exc, "retry_after", None)
            self._errors.report(deployed.version.name, deployed.version.version, exc, rid)
        return await self._fallback(serving, deployed, X, n, reason, rid, retry)

    async def _fallback(self, serving: Serving, deployed: Deployed, X: Any, n: int,
                        reason: str, rid: str, retry: float | None = None,
                        ) -> tuple[RuntimeOutput, int, str]:
        """Answer from the deployment's fallback (another version, then a constant); with
        none, a 503 that keeps the failure's Retry-After (an open breaker, say)."""
        policy = deployed.config.fallback
        if policy.kind == "version" and serving.fallback is not None:
            fb = serving.fallback.version
            try:
                out = await self._call(serving.fallback, X)
                self.telemetry.fallback(deployed.version.name, reason)
                return out, fb.version, reason
            except Exception as exc:
                self._errors.report(fb.name, fb.version, exc, rid)
                reason = f"{reason};fallback-{getattr(exc, 'code', 'model-error')}"
        if policy.kind == "constant":
            self.telemetry.fallback(deployed.version.name, reason)
            return RuntimeOutput(np.full(n, policy.constant)), 0, reason  # its own dtype
        raise ModelUnavailable("the model is unavailable", retry_after=retry, reason=reason)

    async def infer(
        self, principal: Subject, name: str, body: bytes | InferenceInput, *,
        version: int | None = None, explain: bool = False, request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> InferenceResult:
        """``body``: JSON, or an :class:`InferenceInput` parsed once the caller is authorized."""
        started = time.perf_counter()
        rid = request_id or os.urandom(16).hex()
        serving, deployed = self.resolve(principal, name, version, rid)
        await self.limit(principal, deployed)
        try:
            batch = (deployed.validator.validate_json(body) if isinstance(body, bytes)
                     else body.validate(deployed))
        except GarrisonError as exc:
            self.telemetry.rejected(exc.code, name, deployed.version.version)
            raise
        await self.charge_rows(principal, deployed, batch.n_rows)
        X = batch.matrix if batch.matrix is not None else batch.as_columns()
        async with self._concurrency.slot():
            flags = await self._detect(deployed, batch)
            if flags and deployed.config.detection == "reject":
                self._watch(principal, deployed, batch, None, flags)
                # Counted only when refused.
                self.telemetry.rejected("anomalous-input", name, deployed.version.version)
                raise _anomalous(flags)
            try:
                if flags and deployed.config.detection == "fallback":
                    output, served_by, reason = await self._fallback(
                        serving, deployed, X, batch.n_rows, "anomalous-input", rid)
                else:
                    output, served_by, reason = await self._with_fallback(
                        serving, deployed, X, batch.n_rows, rid)
            except ModelUnavailable as exc:
                self._unanswered(principal, deployed, batch, rid, started, exc,
                                 client_request_id)
                raise
            explanations = None
            # Contributions carry the exact score (and, for a linear model, its weights):
            # a deployment that hardens its output never explains.
            if explain and deployed.config.explains and not reason:
                explanations = await self._explain(deployed, batch)
        hardened = harden(deployed, output, reason)
        elapsed = time.perf_counter() - started
        result = InferenceResult(rid, deployed, batch, output, served_by, reason, explanations,
                                 hardened, flags=flags, elapsed_ms=elapsed * 1000,
                                 client_request_id=client_request_id)
        self.telemetry.request(name, served_by, "fallback" if reason else "ok", elapsed,
                               batch.n_rows)
        self._record(principal, result, elapsed)
        self._watch(principal, deployed, batch, None if reason else output.labels, flags)
        if self._shadow is not None and serving.shadow is not None and not reason:
            self._shadow(result, serving)
        return result

    def _watch(self, principal: Subject, deployed: Deployed, batch: ValidatedBatch,
               labels: np.ndarray | None, flags: list[dict[str, Any]]) -> None:
        if self._observe is not None and batch.matrix is not None:
            self._observe(principal.name, deployed, batch.matrix, labels, flags)

    async def _detect(self, deployed: Deployed, batch: ValidatedBatch) -> list[dict[str, Any]]:
        """Per-row anomaly / adversarial verdicts under the deployment's policy."""
        monitor = deployed.monitor
        policy = deployed.config.detection
        if monitor is None or policy == "off":
            return []
        rows = batch.matrix
        if rows is None:
            if batch.columns is None:
                return []
            # Category or text features: one object array in schema order (the monitor
            # hands the model its category values through the model's own pipeline).
            rows = np.empty((batch.n_rows, len(batch.names)), dtype=object)
            for j, name in enumerate(batch.names):
                rows[:, j] = batch.columns[name]
        if batch.n_rows <= _INLINE_ROWS:
            flags: list[dict[str, Any]] = monitor.flags(rows)
            return flags
        # A large batch must not stall every other request on the event loop.
        return await call_with_deadline(monitor.flags, rows,
                                        timeout=max(self._timeout, 5.0),
                                        executor=self._executor)

    async def _explain(self, deployed: Deployed, batch: ValidatedBatch) -> list[dict[str, Any]]:
        from garrison.explain import explainer_for  # Imported on first use only.

        if batch.matrix is None:
            from garrison.errors import UnsupportedModel

            raise UnsupportedModel("explanations need numeric features")
        if batch.n_rows > self._explain_rows:
            from garrison.errors import PayloadTooLarge

            raise PayloadTooLarge(f"explain at most {self._explain_rows} rows per request")

        def run() -> list[dict[str, Any]]:
            if deployed.explainer is None:
                deployed.explainer = explainer_for(deployed.runtime.model, deployed.names)
            return [e.to_dict() for e in deployed.explainer.explain(batch.matrix)]

        return await call_with_deadline(run, timeout=max(self._timeout, 5.0),
                                        executor=self._executor)

    def _unanswered(self, principal: Subject, deployed: Deployed, batch: ValidatedBatch,
                    rid: str, started: float, exc: ModelUnavailable,
                    client_request_id: str | None) -> None:
        """A request the model failed and no fallback answered: counted and recorded."""
        elapsed = time.perf_counter() - started
        v = deployed.version
        self.telemetry.request(v.name, v.version, "error", elapsed, 0)  # Nothing scored.
        self._decisions(unanswered_record(
            rid, utc_iso(self._clock.now()), principal.name, v.name, v.version, batch,
            deployed.config.record_inputs, str(exc.detail.get("reason", exc.code)),
            int(elapsed * 1000), client_request_id))

    def _record(self, principal: Subject, result: InferenceResult, elapsed: float) -> None:
        """Queue the decision record; arrays are converted (and inputs pseudonymized) on
        the writer thread (``decisions.settle``), never on the event loop."""
        d = result.deployed
        policy = d.config.record_inputs
        self._decisions(DecisionRecord(
            request_id=result.request_id, created=utc_iso(self._clock.now()),
            caller=principal.name, model=d.version.name, version=result.served_by,
            rows=result.batch.n_rows, outputs=result.output.labels,  # type: ignore[arg-type]
            input_policy=policy, fallback=result.fallback_reason,
            inputs=result.batch.matrix if policy != "none" else None,  # type: ignore[arg-type]
            flags=result.flags, explanation=result.explanations,
            latency_ms=int(elapsed * 1000), client_request_id=result.client_request_id,
        ))
