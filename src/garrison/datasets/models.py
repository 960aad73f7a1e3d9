"""Dataset registry value objects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from garrison.errors import InvalidInput
from garrison.lineage import DatasetNode

__all__ = ["DatasetVersion", "parse_dataset_ref", "validate_dataset_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_REF = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?::(\d{1,9}))?$")


def validate_dataset_name(name: str) -> str:
    """1-128 characters of letters, digits, ``_``, ``.`` and ``-`` (no ``:``, ``@`` or ``/``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            "dataset names are 1-128 characters of letters, digits, '_', '.' and '-'",
            name=str(name)[:80],
        )
    return name


def parse_dataset_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION``."""
    match = _REF.fullmatch(ref or "")
    if match is None:
        raise InvalidInput("expected NAME or NAME:VERSION", ref=str(ref)[:80])
    return match.group(1), int(match.group(2)) if match.group(2) else None


@dataclass(frozen=True)
class DatasetVersion:
    """One registered version of a dataset: what the file was and what the checks found.

    ``digest`` is the hex SHA-256 of the file's bytes and ``schema_digest`` that of its
    ``(column, type)`` list. ``scan_report`` is the privacy scan (``ScanReport.to_dict``),
    ``poison_report`` the poisoning check (``PoisonReport.to_dict``) when a target
    column was given.
    """

    name: str
    version: int
    digest: str
    format: str
    size: int
    rows: int
    columns: tuple[tuple[str, str], ...]
    schema_digest: str
    source: str
    registrant: str
    created: str
    scan_report: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    poison_report: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def resource(self) -> str:
        return f"dataset:{self.name}:{self.version}"

    @property
    def pii_columns(self) -> tuple[str, ...]:
        """Columns the privacy scan called direct identifiers."""
        summary = self.scan_report.get("summary") or {}
        return tuple(summary.get("direct_identifier") or ())

    @property
    def suspicious_rows(self) -> int | None:
        """Rows the poisoning check flagged (None: not checked)."""
        if self.poison_report is None:
            return None
        return int(self.poison_report.get("rows_flagged", 0))

    def model_reference(self) -> dict[str, str]:
        """The ``datasets`` entry of a model version's metadata that points here."""
        return {"name": self.name, "version": str(self.version), "digest": self.digest}

    def lineage_node(self) -> DatasetNode:
        return DatasetNode(
            self.name,
            str(self.version),
            self.digest,
            rows=self.rows,
            schema_digest=self.schema_digest,
            columns=self.columns,
        )

    def to_dict(self, *, reports: bool = False) -> dict[str, Any]:
        """The JSON form; ``reports`` adds the full scan and poison reports."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "format": self.format,
            "size": self.size,
            "rows": self.rows,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
            "schema_digest": self.schema_digest,
            "source": self.source,
            "registrant": self.registrant,
            "created": self.created,
            "target": self.target,
            "pii_columns": list(self.pii_columns),
            "suspicious_rows": self.suspicious_rows,
            "model_reference": self.model_reference(),
        }
        if reports:
            out["scan_report"] = self.scan_report
            out["poison_report"] = self.poison_report
        return out
