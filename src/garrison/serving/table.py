"""Build the data plane's model table from the registry, and keep it current.

Only versions in ``production`` (primary), ``shadow`` and the deployment's fallback
version are loaded, each through the registry's verifying loader, and only when the
signed audit trail backs their stage and the model's deployment policy
(:mod:`garrison.registry.state`): state changed by SQL is refused, audited and
alerted. Each model, and each role of a model, fails alone
(``serving/availability.py``): a version that fails to load, to pass its load-time
checks or to be backed by the trail is left out with its reason, every other model
keeps serving, and the failure is tried again with exponential backoff. Each change
of a version's state is told to ``on_change`` (the gateway logs, audits, alerts and
exports it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from garrison.detection import Profile
from garrison.errors import GarrisonError, StateUnverified
from garrison.registry import ModelLoader, ModelVersion, RegistryService
from garrison.serving.availability import ModelState, ModelTable, retry_delay
from garrison.serving.compiled import choose_runtime
from garrison.serving.deployed import Deployed, Serving
from garrison.serving.deployment import DeploymentConfig
from garrison.serving.deployment_service import DeploymentService
from garrison.serving.limits import LimitPolicy, RateLimiter
from garrison.serving.oip_outputs import probe_outputs
from garrison.serving.resilience import CircuitBreaker
from garrison.serving.runtime import runtime_for
from garrison.serving.validation import InputValidator, ValidationLimits

__all__ = ["GATEWAY_DETECTORS", "TableBuilder", "drift_profile"]

#: Per-request detectors in the gateway: extreme magnitudes, the joint outlier
#: (Mahalanobis on a robust covariance) and the model's instability under small
#: perturbations (the adversarial signal). The neighbour search and isolation forest
#: cost several hundred microseconds per row; use them offline (`garrison detect`).
GATEWAY_DETECTORS = ("magnitude", "mahalanobis", "perturbation-instability")


#: The stages whose changes make the table reload.
_SERVED_STAGES = ("production", "shadow", "approved")


def drift_profile(registry: RegistryService, deployed: Deployed) -> Profile:
    """The reference profile plus the model's own outputs on the reference sample, so
    drift in predictions is caught too (falls back to inputs only)."""
    v = deployed.version
    reference = registry.reference_frame(v)
    if reference is None:
        return Profile.from_dict(v.metadata.profile)
    names = v.metadata.input_schema.names  # type: ignore[union-attr]
    labels = deployed.runtime.predict(reference[names].to_numpy(dtype=float)).labels
    reference = reference[names].assign(prediction=[str(x) for x in labels])
    return Profile.from_frame(reference, outputs=("prediction",))


class TableBuilder:
    def __init__(self, registry: RegistryService, loader: ModelLoader,
                 deployments: DeploymentService,
                 limiter_factory: Callable[[str, LimitPolicy], RateLimiter],
                 *, max_body_bytes: int, max_rows: int, defaults: LimitPolicy,
                 retry_base: float = 2.0, retry_cap: float = 300.0,
                 on_change: Callable[[ModelState, ModelState | None], None] | None = None,
                 now: Callable[[], str] = lambda: "",
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._registry = registry
        self._loader = loader
        self._deployments = deployments
        self._limiter_factory = limiter_factory
        self._limits = ValidationLimits(max_body_bytes=max_body_bytes, max_rows=max_rows)
        self._defaults = defaults
        self._cache: dict[tuple[str, int, str], Deployed] = {}
        self.signature: tuple[Any, ...] = ()
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._on_change = on_change
        self._now = now
        self._monotonic = monotonic
        #: The last state of each (model, role), kept across builds.
        self._states: dict[tuple[str, str], ModelState] = {}
        #: Failed (name, version, config) -> (attempts, monotonic time of the next try).
        self._failed: dict[tuple[str, int, str], tuple[int, float]] = {}

    def _policy(self, config: DeploymentConfig) -> LimitPolicy:
        """Requests per second and burst (one token per request)."""
        return LimitPolicy(
            rate=config.rate_limit if config.rate_limit is not None else self._defaults.rate,
            burst=config.rate_burst if config.rate_burst is not None else self._defaults.burst,
            daily_quota=None,
        )

    def _quota(self, config: DeploymentConfig) -> LimitPolicy | None:
        """Rows per caller per UTC day: every row is a query an extraction attack needs."""
        quota = (config.daily_quota if config.daily_quota is not None
                 else self._defaults.daily_quota)
        return None if quota is None else LimitPolicy(rate=None, daily_quota=quota)

    def _deploy(self, v: ModelVersion, config: DeploymentConfig) -> Deployed:
        key = (v.name, v.version, repr(config.to_dict()))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        schema = v.metadata.input_schema
        if schema is None:
            raise GarrisonError(f"{v.ref} has no input schema; it cannot be served safely")
        loaded = self._loader.load(v.name, v.version)
        deployed = Deployed(
            version=v,
            runtime=self._runtime(v, loaded.model, schema.names),
            validator=InputValidator(schema, self._limits),
            config=config,
            breaker=CircuitBreaker(config.breaker_failures, config.breaker_window,
                                   config.breaker_cooldown, name=v.ref),
            limiter=self._limiter_factory(v.name, self._policy(config)),
        )
        quota = self._quota(config)
        if quota is not None:
            deployed.quota = self._limiter_factory(f"{v.name}:rows", quota)
        if config.detection != "off" and v.metadata.reference_sha256:
            deployed.monitor = self._fit_monitor(v, deployed, config)
        deployed.outputs = probe_outputs(deployed)
        self._cache[key] = deployed
        return deployed

    def _runtime(self, v: ModelVersion, model: Any, names: list[str]) -> Any:
        """The compiled runtime when it reproduces the model on the signed reference
        sample, else the original; the choice is audited (``serving/compiled.py``)."""
        runtime = runtime_for(model, v.format, names)
        reference = None
        if v.metadata.reference_sha256:
            try:
                frame = self._registry.reference_frame(v)
                reference = None if frame is None else frame[names].to_numpy(dtype=float)
            except (KeyError, ValueError, TypeError):
                reference = None  # Not numeric: nothing compiled is checked or served.
        runtime, compilation = choose_runtime(runtime, model, names, reference)
        self._loader.record_compilation(v, compilation.to_payload())
        return runtime

    def _fit_monitor(self, v: ModelVersion, deployed: Deployed, config: DeploymentConfig) -> Any:
        """Fit the anomaly / adversarial detectors on the version's signed reference sample."""
        from garrison.detection import InputMonitor, Policy

        reference = self._registry.reference_frame(v)
        # The model-based detectors call predict_proba on noisy copies of every row: the
        # compiled runtime answers it without scikit-learn's per-call input checks.
        runtime = deployed.runtime
        model = runtime if callable(getattr(runtime, "predict_proba", None)) else runtime.model
        try:
            return InputMonitor.fit(reference, model=model,
                                    fpr=config.detection_fpr, policy=Policy(config.detection),
                                    detectors=GATEWAY_DETECTORS)
        except GarrisonError:
            # Model-based detectors need a numeric, probabilistic model; keep the rest.
            return InputMonitor.fit(reference, fpr=config.detection_fpr,
                                    policy=Policy(config.detection))

    def current_signature(self) -> tuple[Any, ...]:
        listed = tuple((v.name, v.version, v.stage)
                       for v in self._registry.versions_in(_SERVED_STAGES))
        configs = self._deployments.all()
        return listed + tuple(sorted((k, repr(c.to_dict())) for k, c in configs.items()))

    def _backed(self, v: ModelVersion, config: DeploymentConfig,
                refused: str | None = None) -> Deployed:
        """Deploy ``v`` only if the signed audit trail backs its stage, its digest and
        (``refused`` is None) the model's deployment policy."""
        if refused is not None:
            raise StateUnverified(f"the deployment policy is not backed: {refused}",
                                  reason="deployment")
        self._registry.lifecycle.seals.ensure_backed(v)
        return self._deploy(v, config)

    def retry_due(self) -> bool:
        """A failed version's next try has come (the refresh loop then rebuilds)."""
        now = self._monotonic()
        return any(at <= now for _, at in self._failed.values())

    def _try(self, v: ModelVersion, config: DeploymentConfig, role: str,
             states: dict[str, ModelState], tried: set[tuple[str, int, str]],
             refused: str | None = None) -> Deployed | None:
        """Deploy ``v`` in ``role``, or record why not; a failure waits out its backoff
        before the next try."""
        key = (v.name, v.version, repr(config.to_dict()))
        previous = self._states.get((v.name, role))
        failed = self._failed.get(key)
        if failed is not None and failed[1] > self._monotonic() and previous is not None \
                and previous.version == v.version and not previous.ready:
            tried.add(key)
            states[role] = replace(previous.again(
                failed[0], round(failed[1] - self._monotonic(), 1)), config=config)
            return None
        try:
            deployed = self._backed(v, config, refused)
        except Exception as exc:  # One version's failure, whatever it is, stays its own.
            attempts = (failed[0] if failed is not None else 0) + 1
            delay = retry_delay(attempts, self._retry_base, self._retry_cap)
            self._failed[key] = (attempts, self._monotonic() + delay)
            tried.add(key)
            code = exc.code if isinstance(exc, GarrisonError) else "model-error"
            message = exc.message if isinstance(exc, GarrisonError) else \
                f"{type(exc).__name__}: {exc}"
            state = ModelState(v.name, v.version, role, False, code, message[:500],
                               attempts=attempts, retry_in=delay, config=config)
        else:
            self._failed.pop(key, None)
            state = ModelState(v.name, v.version, role, True, config=config)
        if state.same_as(previous):  # Unchanged: keep its "since", take the new config.
            assert previous is not None
            state = replace(previous.again(state.attempts, state.retry_in), config=config)
        else:
            state = replace(state, since=self._now())
            if self._on_change is not None:
                self._on_change(state, previous)
        states[role] = state
        return deployed if state.ready else None

    def build(self) -> ModelTable:
        registry = self._registry
        signature = self.current_signature()
        entries: dict[str, Serving] = {}
        states: dict[str, dict[str, ModelState]] = {}
        tried: set[tuple[str, int, str]] = set()
        served = [(name, prod) for name in registry.model_names()
                  if (prod := registry.production(name)) is not None]
        # A policy changed outside Garrison takes its model out of service (not others).
        configs, refused = self._deployments.backed([name for name, _ in served])
        for name, prod in served:
            config = configs.get(name, DeploymentConfig())
            roles = states[name] = {}
            primary = self._try(prod, config, "primary", roles, tried, refused.get(name))
            if primary is None:
                continue  # Unavailable on its own; its shadow and fallback wait for it.
            serving = Serving(primary=primary)
            serving.versions[prod.version] = primary
            shadows = registry.in_stage(name, "shadow")
            if shadows:
                serving.shadow = self._try(shadows[-1], config, "shadow", roles, tried)
            if config.fallback.kind == "version" and config.fallback.version is not None:
                fb = registry.get(name, int(config.fallback.version))
                if fb.stage in ("approved", "production"):
                    serving.fallback = self._try(fb, config, "fallback", roles, tried)
                    if serving.fallback is not None:
                        serving.versions[fb.version] = serving.fallback
                else:
                    roles["fallback"] = ModelState(
                        name, fb.version, "fallback", False, "model-unavailable",
                        f"fallback version {fb.version} is {fb.stage}", since=self._now(),
                        config=config)
            entries[name] = serving
        # Versions and configs no longer served let go of their models, monitors and
        # failure counts; roles no longer played are forgotten.
        used = {(d.version.name, d.version.version, repr(d.config.to_dict()))
                for serving in entries.values()
                for d in (serving.primary, serving.shadow, serving.fallback) if d is not None}
        self._cache = {k: v for k, v in self._cache.items() if k in used}
        self._failed = {k: v for k, v in self._failed.items() if k in tried}
        self._states = {(name, role): state for name, roles in states.items()
                        for role, state in roles.items()}
        self.signature = signature  # Only once built: a failed build is tried again.
        return ModelTable(entries, states)
