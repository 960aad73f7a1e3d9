"""Pre-transition checks: what a version must pass before it may reach a serving stage.

Before approve, promote, rollback and a fallback assignment the registry runs each
:class:`TransitionCheck` in order on the exact version the transition would move; a
check raises to refuse, and every outcome is an audit event ``check-model-version``
naming the check, the purpose and the evidence (or the reason). :class:`ServabilityCheck`
is always first; further checks (release gates, ...) are appended where the services
are wired (``garrison.app``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from garrison.errors import ModelNotServable
from garrison.registry.models import ModelVersion
from garrison.registry.servability import (
    STORABLE_ONLY,
    Purpose,
    ServabilityProbe,
    ServabilityRequest,
)

__all__ = ["ServabilityCheck", "TransitionCheck", "ensure_servable_format"]


class TransitionCheck(Protocol):
    """One named check; returns evidence for the audit trail or raises to refuse.

    ``None`` means the check does not apply to this version and purpose (a release gate
    of a model without a gate policy): nothing is recorded."""

    name: str

    def __call__(self, version: ModelVersion, purpose: Purpose) -> dict[str, Any] | None: ...


def ensure_servable_format(fmt: str, what: str = "the artifact") -> None:
    """Raise :class:`ModelNotServable` for formats that can be stored but never served."""
    from garrison.registry.loader import loader_for

    if fmt.split("+", 1)[0] in STORABLE_ONLY or loader_for(fmt) is None:
        raise ModelNotServable(f"{what} is a {fmt!r} artifact: it can be stored and "
                               "downloaded but never served", format=fmt)


class ServabilityCheck:
    """The load-and-predict smoke test of the signed artifact on its sealed reference
    sample (or rows made from its input schema), run by a :class:`ServabilityProbe`."""

    name = "servable"

    def __init__(self, probe: ServabilityProbe, *, artifact: Callable[[ModelVersion], bytes],
                 sample: Callable[[ModelVersion], bytes | None],
                 policy_extension: Callable[[], tuple[str, ...]]) -> None:
        self._probe = probe
        self._artifact = artifact
        self._sample = sample
        self._policy_extension = policy_extension

    def __call__(self, version: ModelVersion, purpose: Purpose) -> dict[str, Any]:
        ensure_servable_format(version.format, version.ref)
        schema = version.metadata.input_schema
        if schema is None:
            raise ModelNotServable(
                f"{version.ref} has no input schema, so the gateway could not validate its "
                "inputs: register it again with reference data (--reference) or an explicit "
                "input_schema in its metadata")
        name = version.scan_report.get("name")
        report = self._probe.probe(ServabilityRequest(
            ref=version.ref, purpose=purpose, format=version.format,
            file_name=name if isinstance(name, str) else version.ref,
            artifact=self._artifact(version), schema=schema, sample=self._sample(version),
            derived=False, policy_extension=self._policy_extension()))
        if not report.ok:
            raise ModelNotServable(f"{version.ref} failed its smoke test: "
                                   + "; ".join(report.problems), problems=list(report.problems))
        if tuple(report.order) not in ((), tuple(schema.names)):  # pragma: no cover - explicit
            raise ModelNotServable(f"{version.ref} lists its features in another order than "
                                   "the model takes them")
        return {"sha256": version.digest, "rows": report.rows,
                "reference": "sample" if version.metadata.reference_sha256 else "schema",
                "seconds": round(report.seconds, 3), "cached": report.cached}
