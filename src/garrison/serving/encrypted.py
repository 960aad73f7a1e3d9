"""Encrypted inference in the data plane: the same guards, no plaintext anywhere.

A deployment's linear model is compiled for CKKS on first use. Clients fetch the
parameters, register a public evaluation context (owned by the caller; the server
never holds a secret key), and send ciphertexts. Authorization, caller lists, rate
limits and quotas are the plaintext endpoint's; the decision record holds no
inputs and no outputs, only the sample count.
"""

from __future__ import annotations

import time
from typing import Any

from garrison.authz import Subject
from garrison.errors import UnsupportedModel
from garrison.he import ContextCache, EncryptedRequest, EncryptedScorer, HEParams, compile_model
from garrison.serving.dataplane import DataPlane, Deployed
from garrison.serving.decisions import DecisionRecord
from garrison.serving.resilience import call_with_deadline
from garrison.types import utc_iso

__all__ = ["EncryptedPlane"]


class EncryptedPlane:
    def __init__(self, plane: DataPlane, *, cache: ContextCache | None = None,
                 timeout: float = 30.0) -> None:
        self._plane = plane
        self._cache = cache or ContextCache()
        self._timeout = timeout
        self._scorers: dict[tuple[str, int], EncryptedScorer] = {}

    def _scorer(self, deployed: Deployed) -> EncryptedScorer:
        key = (deployed.version.name, deployed.version.version)
        scorer = self._scorers.get(key)
        if scorer is None:
            try:
                model = compile_model(deployed.runtime.model)
            except UnsupportedModel:
                raise
            except Exception as exc:
                raise UnsupportedModel("this model cannot be served encrypted") from exc
            scorer = EncryptedScorer(model, HEParams.for_model(model), cache=self._cache)
            self._scorers[key] = scorer
        return scorer

    async def _admit(self, principal: Subject, name: str, rid: str) -> Deployed:
        _, deployed = self._plane.resolve(principal, name, None, rid)
        await self._plane.limit(principal, deployed)
        return deployed

    async def params(self, principal: Subject, name: str, rid: str) -> dict[str, Any]:
        deployed = await self._admit(principal, name, rid)
        scorer = await call_with_deadline(self._scorer, deployed, timeout=self._timeout,
                                          executor=self._plane._executor)
        return {"model": name, "version": deployed.version.version,
                "params": scorer.params.to_dict(), "fingerprint": scorer.fingerprint}

    async def register(self, principal: Subject, name: str, body: bytes, rid: str) -> str:
        deployed = await self._admit(principal, name, rid)

        def run() -> str:
            return self._scorer(deployed).register_json(body, owner=principal.name)

        return await call_with_deadline(run, timeout=self._timeout,
                                        executor=self._plane._executor)

    async def infer(self, principal: Subject, name: str, body: bytes, rid: str) -> bytes:
        started = time.perf_counter()
        deployed = await self._admit(principal, name, rid)
        scorer = await call_with_deadline(self._scorer, deployed, timeout=self._timeout,
                                          executor=self._plane._executor)  # may compile
        request = EncryptedRequest.from_json(body, max_bytes=scorer.limits.max_request_bytes)
        await self._plane.charge_rows(principal, deployed, request.n_samples)

        def run() -> bytes:
            return scorer.handle(request, owner=principal.name).to_json()

        async with self._plane._concurrency.slot():
            out = await call_with_deadline(run, timeout=self._timeout,
                                           executor=self._plane._executor)
        elapsed = time.perf_counter() - started
        self._plane.telemetry.request(name, deployed.version.version, "encrypted", elapsed,
                                      request.n_samples)
        self._plane._decisions(DecisionRecord(
            request_id=rid, created=utc_iso(self._plane._clock.now()),
            caller=principal.name, model=name, version=deployed.version.version,
            rows=request.n_samples, outputs=[], input_policy="none",
            flags=["encrypted"], latency_ms=int(elapsed * 1000)))
        return out
