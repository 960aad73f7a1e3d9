"""``scan``: PII discovery, re-identification risk and minimization in one report.

A scan streams the data once to draw a reservoir sample of up to ``sample_size``
non-null values per column and classifies each column from its sample. The risk
figures are then computed exactly on the full data for the quasi-identifiers
found (or given), and a generalization plan reaching ``target_k`` is suggested.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from garrison.errors import InvalidInput
from garrison.privacy import builtin as _builtin  # noqa: F401 (registers the built-ins)
from garrison.privacy.anonymize import DEFAULT_MAX_SUPPRESSION, plan_anonymization
from garrison.privacy.classify import ColumnFinding, classify_column
from garrison.privacy.detectors import DetectionContext, Role, registered_detectors
from garrison.privacy.minimize import MinimizationReport, minimization_report
from garrison.privacy.money import tie_money_to_people
from garrison.privacy.risk import RiskReport, assess_file_risk, assess_risk
from garrison.privacy.tabular import (
    DEFAULT_CHUNK_ROWS,
    Reservoir,
    detect_format,
    iter_chunks,
    list_columns,
    read_columns,
)
from garrison.schema import InputSchema
from garrison.types import Clock, SystemClock, utc_iso

__all__ = [
    "DEFAULT_MAX_VALIDATIONS",
    "DEFAULT_SAMPLE_SIZE",
    "DEFAULT_TARGET_K",
    "REPORT_VERSION",
    "ScanReport",
    "scan_file",
    "scan_frame",
]

DEFAULT_SAMPLE_SIZE = 10_000
DEFAULT_MAX_VALIDATIONS = 2_000
DEFAULT_TARGET_K = 5
REPORT_VERSION = 1


@dataclass(frozen=True)
class ScanReport:
    """The result of one scan; ``to_dict`` is the documented JSON shape."""

    source: str
    format: str
    rows: int
    sample_size: int
    scanned_at: str
    columns: tuple[ColumnFinding, ...]
    risk: RiskReport | None = None
    minimization: MinimizationReport | None = None

    def column(self, name: str) -> ColumnFinding:
        for finding in self.columns:
            if finding.name == name:
                return finding
        raise InvalidInput(f"no column {name!r} in the scan")

    def by_role(self, role: Role) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == role)

    @property
    def quasi_identifiers(self) -> tuple[str, ...]:
        return tuple(
            c.name for c in self.columns if c.role == "quasi_identifier" and not c.free_text
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "report_version": REPORT_VERSION,
            "source": self.source,
            "format": self.format,
            "rows": self.rows,
            "sample_size": self.sample_size,
            "scanned_at": self.scanned_at,
            "detectors": [d.id for d in registered_detectors()],
            "summary": {
                role: list(self.by_role(role))
                for role in ("direct_identifier", "quasi_identifier", "sensitive", "non_pii")
            },
            "columns": [c.to_dict() for c in self.columns],
            "risk": self.risk.to_dict() if self.risk else None,
            "minimization": self.minimization.to_dict() if self.minimization else None,
        }


@dataclass(frozen=True)
class _Options:
    quasi: tuple[str, ...] | None
    sensitive: str | None
    target_k: int
    max_suppression: float
    schema: InputSchema | None
    keep: tuple[str, ...]
    risk: bool


def _classify_all(reservoir: Reservoir, ctx: DetectionContext) -> tuple[ColumnFinding, ...]:
    return tuple(
        classify_column(name, reservoir.sample(name), ctx, non_null=reservoir.non_null[name])
        for name in reservoir.columns()
    )


def _finish(
    source: str,
    fmt: str,
    reservoir: Reservoir,
    ctx: DetectionContext,
    clock: Clock,
    sample_size: int,
    options: _Options,
    risk_of: Callable[[list[str], str | None], RiskReport],
    qi_frame_of: Callable[[list[str]], pd.DataFrame],
) -> ScanReport:
    columns = tie_money_to_people(_classify_all(reservoir, ctx), reservoir.sample)
    names = [c.name for c in columns]
    unknown = set(options.quasi or ()) | ({options.sensitive} - {None})
    unknown -= set(names)
    if unknown:
        raise InvalidInput(f"no such column(s): {sorted(str(u) for u in unknown)}")
    quasi = (
        options.quasi
        if options.quasi is not None
        else tuple(c.name for c in columns if c.role == "quasi_identifier" and not c.free_text)
    )
    sensitive = options.sensitive
    if sensitive is None:
        found = [c.name for c in columns if c.role == "sensitive" and c.name not in quasi]
        sensitive = found[0] if found else None
    risk = None
    if options.risk and quasi and reservoir.rows:
        risk = risk_of(list(quasi), sensitive)
        try:
            plan = plan_anonymization(
                qi_frame_of(list(quasi)),
                quasi,
                options.target_k,
                max_suppression=options.max_suppression,
            )
            suggestion: dict[str, object] | None = plan.to_dict()
        except InvalidInput as exc:
            suggestion = {"error": exc.message}
        risk = dataclasses.replace(risk, suggestion=suggestion)
    minimization = None
    if options.schema is not None:
        minimization = minimization_report(
            names, options.schema, findings={c.name: c for c in columns}, keep=options.keep
        )
    return ScanReport(
        source=source,
        format=fmt,
        rows=reservoir.rows,
        sample_size=sample_size,
        scanned_at=utc_iso(clock.now()),
        columns=columns,
        risk=risk,
        minimization=minimization,
    )


def _context(clock: Clock, seed: int, max_validations: int | None) -> DetectionContext:
    return DetectionContext(
        today=clock.now().date(), rng=np.random.default_rng(seed), max_validations=max_validations
    )


def scan_frame(
    frame: pd.DataFrame,
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    clock: Clock | None = None,
    seed: int = 0,
    max_validations: int | None = DEFAULT_MAX_VALIDATIONS,
    quasi: Sequence[str] | None = None,
    sensitive: str | None = None,
    target_k: int = DEFAULT_TARGET_K,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    schema: InputSchema | None = None,
    keep: Sequence[str] = (),
    risk: bool = True,
) -> ScanReport:
    """Scan an in-memory table (see :func:`scan_file` for the parameters)."""
    clock = clock or SystemClock()
    reservoir = Reservoir(sample_size, np.random.default_rng(seed))
    reservoir.add(frame)
    options = _Options(
        tuple(quasi) if quasi is not None else None,
        sensitive,
        target_k,
        max_suppression,
        schema,
        tuple(keep),
        risk,
    )
    return _finish(
        "<frame>",
        "frame",
        reservoir,
        _context(clock, seed, max_validations),
        clock,
        sample_size,
        options,
        lambda q, s: assess_risk(frame, q, sensitive=s),
        lambda q: frame[q],
    )


def scan_file(
    path: str | Path,
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    clock: Clock | None = None,
    seed: int = 0,
    max_validations: int | None = DEFAULT_MAX_VALIDATIONS,
    quasi: Sequence[str] | None = None,
    sensitive: str | None = None,
    target_k: int = DEFAULT_TARGET_K,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    schema: InputSchema | None = None,
    keep: Sequence[str] = (),
    risk: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ScanReport:
    """Scan a CSV or Parquet file without loading it whole.

    ``sample_size`` values per column are classified (reservoir sample); the exact
    validators run on at most ``max_validations`` candidates per detector and
    column (``None``: all). ``quasi`` overrides the quasi-identifiers found and
    ``sensitive`` the column used for l-diversity. ``schema`` adds the
    minimization report (``keep`` lists the label and other needed columns).
    ``clock`` dates the report and anchors the age check of birth dates.
    """
    clock = clock or SystemClock()
    fmt = detect_format(path)
    reservoir = Reservoir(sample_size, np.random.default_rng(seed))
    for chunk in iter_chunks(path, chunk_rows=chunk_rows):
        reservoir.add(chunk)
    if not reservoir.columns():  # A Parquet file without rows yields no batch at all.
        reservoir.add(pd.DataFrame({c: pd.Series([], dtype="str") for c in list_columns(path)}))
    options = _Options(
        tuple(quasi) if quasi is not None else None,
        sensitive,
        target_k,
        max_suppression,
        schema,
        tuple(keep),
        risk,
    )
    return _finish(
        Path(path).name,
        fmt,
        reservoir,
        _context(clock, seed, max_validations),
        clock,
        sample_size,
        options,
        lambda q, s: assess_file_risk(path, q, sensitive=s, chunk_rows=chunk_rows),
        lambda q: read_columns(path, q, chunk_rows=chunk_rows),
    )
