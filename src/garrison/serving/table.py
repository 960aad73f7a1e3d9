"""Build the data plane's model table from the registry, and keep it current.

Only versions in ``production`` (primary), ``shadow`` and the deployment's fallback
version are loaded, each through the registry's verifying loader. A version that
fails verification is not served and keeps the gateway not-ready; the reason is in
the audit trail (the loader records it) and in ``problems``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from garrison.detection import Profile
from garrison.errors import GarrisonError
from garrison.registry import ModelLoader, ModelVersion, RegistryService
from garrison.serving.compiled import choose_runtime
from garrison.serving.dataplane import Deployed, ModelTable, Serving
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
                 *, max_body_bytes: int, max_rows: int, defaults: LimitPolicy) -> None:
        self._registry = registry
        self._loader = loader
        self._deployments = deployments
        self._limiter_factory = limiter_factory
        self._limits = ValidationLimits(max_body_bytes=max_body_bytes, max_rows=max_rows)
        self._defaults = defaults
        self._cache: dict[tuple[str, int, str], Deployed] = {}
        self.problems: dict[str, str] = {}
        self.signature: tuple[Any, ...] = ()

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

    def build(self) -> ModelTable:
        registry = self._registry
        configs = self._deployments.all()
        entries: dict[str, Serving] = {}
        problems: dict[str, str] = {}
        self.signature = self.current_signature()
        for name in registry.model_names():
            prod = registry.production(name)
            if prod is None:
                continue
            config = configs.get(name, DeploymentConfig())
            try:
                serving = Serving(primary=self._deploy(prod, config))
                serving.versions[prod.version] = serving.primary
                shadows = registry.in_stage(name, "shadow")
                if shadows:
                    serving.shadow = self._deploy(shadows[-1], config)
                if config.fallback.kind == "version" and config.fallback.version is not None:
                    fb = registry.get(name, int(config.fallback.version))
                    if fb.stage in ("approved", "production"):
                        serving.fallback = self._deploy(fb, config)
                        serving.versions[fb.version] = serving.fallback
                    else:
                        problems[name] = f"fallback version {fb.version} is {fb.stage}"
                entries[name] = serving
            except GarrisonError as exc:
                problems[name] = f"{exc.code}: {exc.message}"
        self.problems = problems
        # Versions and configs no longer served let go of their models and monitors.
        used = {(d.version.name, d.version.version, repr(d.config.to_dict()))
                for serving in entries.values()
                for d in (serving.primary, serving.shadow, serving.fallback) if d is not None}
        self._cache = {k: v for k, v in self._cache.items() if k in used}
        return ModelTable(entries)
