"""Data minimization: which columns of the training data the model does not need.

The model's :class:`~garrison.schema.InputSchema` is the contract of what it
consumes. Any other column in the training data (except the label and columns the
caller explicitly keeps) is a minimization finding, and an unneeded column that
holds PII is the most urgent one: it can be deleted or pseudonymized at no cost
to the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from garrison.privacy.classify import ColumnFinding
from garrison.schema import InputSchema

__all__ = ["MinimizationReport", "minimization_report"]


@dataclass(frozen=True)
class MinimizationReport:
    """Columns to drop, the PII among them, and features the data lacks."""

    unneeded: tuple[str, ...]
    unneeded_pii: tuple[str, ...]
    missing_features: tuple[str, ...]
    used_pii: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.unneeded and not self.missing_features

    def to_dict(self) -> dict[str, object]:
        return {
            "unneeded": list(self.unneeded),
            "unneeded_pii": list(self.unneeded_pii),
            "missing_features": list(self.missing_features),
            "used_pii": list(self.used_pii),
            "kept": list(self.kept),
        }


def minimization_report(
    columns_in_data: Sequence[str],
    input_schema: InputSchema,
    *,
    findings: Mapping[str, ColumnFinding] | None = None,
    keep: Sequence[str] = (),
) -> MinimizationReport:
    """Compare the data's columns with what the model reads.

    ``keep`` names columns that are needed although the model does not read them
    (the label, a sample weight). ``findings`` (from a scan) lets the report say
    which unneeded columns hold PII and which PII the model does read.
    """
    findings = findings or {}
    needed = set(input_schema.names)
    kept = tuple(c for c in columns_in_data if c in set(keep))
    unneeded = tuple(c for c in columns_in_data if c not in needed and c not in set(keep))

    def is_pii(column: str) -> bool:
        finding = findings.get(column)
        return finding is not None and finding.role != "non_pii"

    present = set(columns_in_data)
    return MinimizationReport(
        unneeded=unneeded,
        unneeded_pii=tuple(c for c in unneeded if is_pii(c)),
        missing_features=tuple(n for n in input_schema.names if n not in present),
        used_pii=tuple(c for c in columns_in_data if c in needed and is_pii(c)),
        kept=kept,
    )
