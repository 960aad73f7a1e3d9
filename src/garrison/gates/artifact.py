"""The artifact re-check of a gate run: signature, scan verdict and servability.

Registration checked all three once; a gate run checks them again on the stored
artifact, with the scanner policy and smoke test of today, so that a version approved
long after it was registered is approved on today's evidence. The result is the
``artifact`` check of the gate report; a version that fails it is not evaluated (its
bytes are never handed to a loader).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from garrison.errors import GarrisonError
from garrison.gates.results import CheckResult
from garrison.registry import ModelVersion, RegistryService
from garrison.scanning import scan_path
from garrison.signing import write_private_file

__all__ = ["artifact_check"]


def _scan(registry: RegistryService, v: ModelVersion, data: bytes) -> tuple[str, int]:
    """Scan the verified bytes again under the current policy: (verdict, findings)."""
    name = v.scan_report.get("name")
    file_name = Path(name).name if isinstance(name, str) and name else f"artifact-{v.version}"
    with tempfile.TemporaryDirectory(prefix="garrison-gate-scan-") as tmp:
        path = Path(tmp) / file_name
        write_private_file(path, data)
        report = scan_path(path, registry.policy)
    return report.verdict, len(report.findings)


def artifact_check(registry: RegistryService, v: ModelVersion) -> tuple[CheckResult, bytes | None]:
    """``(check, verified bytes)``; the bytes are ``None`` when a re-check failed."""
    metrics: dict[str, Any] = {"sha256": v.digest, "format": v.format}
    try:
        data = registry.verified_bytes(v)
    except GarrisonError as exc:
        metrics["signature"] = exc.code
        return CheckResult("artifact", False, f"the signed artifact does not verify: "
                           f"{exc.message}", metrics), None
    metrics["signature"] = "valid"
    verdict, findings = _scan(registry, v, data)
    metrics.update(scan_verdict=verdict, scan_findings=findings)
    if verdict != "safe":
        return CheckResult("artifact", False, f"the scanner now calls the artifact {verdict} "
                           f"({findings} finding(s)) under the current policy", metrics), None
    try:
        evidence = registry.checks[0](v, "approve") or {}
    except GarrisonError as exc:
        metrics["servable"] = 0
        return CheckResult("artifact", False, exc.message, metrics), None
    metrics.update(servable=1, smoke_rows=int(evidence.get("rows", 0)))
    return CheckResult("artifact", True, "signature valid, scan safe, servable", metrics), data
