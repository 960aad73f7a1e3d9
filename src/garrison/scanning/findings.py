"""Findings and the scan report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from garrison.scanning.rules import RULES, Severity

__all__ = ["EXIT_CODES", "REPORT_SCHEMA_VERSION", "Finding", "ScanReport", "Verdict", "verdict_of"]

Verdict = Literal["safe", "refused", "unscannable"]

#: The CLI's exit status for each verdict.
EXIT_CODES: dict[str, int] = {"safe": 0, "refused": 1, "unscannable": 2}

#: Bumped whenever a key of :meth:`ScanReport.to_dict` changes meaning.
REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Finding:
    """One observation about the artifact.

    ``member`` is the path inside containers (nested levels joined with ``!``), ``offset``
    the byte offset inside that member (or the file), ``name`` the offending name: a
    global ``module.name``, a member path, an operator domain, a tensor name.
    """

    rule_id: str
    severity: Severity
    message: str
    member: str | None = None
    offset: int | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "message": self.message,
            "location": {"member": self.member, "offset": self.offset},
            "name": self.name,
        }


def verdict_of(findings: tuple[Finding, ...] | list[Finding]) -> Verdict:
    """Refused beats unscannable beats safe (see :mod:`garrison.scanning.rules`)."""
    effects = {RULES[f.rule_id].effect for f in findings}
    if "refuse" in effects:
        return "refused"
    if "unscannable" in effects:
        return "unscannable"
    return "safe"


@dataclass(frozen=True)
class ScanReport:
    """The outcome of scanning one artifact. ``verdict`` is the only field to act on."""

    name: str
    format: str
    verdict: Verdict
    sha256: str
    size: int
    bytes_scanned: int
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    findings_truncated: bool = False

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def safe(self) -> bool:
        """For display only; guards call :func:`garrison.scanning.ensure_safe`."""
        return self.verdict == "safe"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "name": self.name,
            "format": self.format,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "sha256": self.sha256,
            "size": self.size,
            "bytes_scanned": self.bytes_scanned,
            "findings": [f.to_dict() for f in self.findings],
            "findings_truncated": self.findings_truncated,
        }
