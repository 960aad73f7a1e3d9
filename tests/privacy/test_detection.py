"""PII discovery judged from values: every type found, every look-alike left alone."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from garrison.errors import AlreadyExists, InvalidInput, NotFound
from garrison.privacy import (
    BUILTIN_DETECTOR_IDS,
    PIIDetector,
    ScanReport,
    get_detector,
    register_detector,
    registered_detectors,
    scan_frame,
    unregister_detector,
)

from .datagen import COLUMNS, LABELS, column_f1, column_values, labelled_table
from .helpers import CLOCK

PII_KINDS = [(f"c{i:02d}", kind) for i, (kind, types) in enumerate(COLUMNS) if types]
LOOKALIKES = [(f"c{i:02d}", kind) for i, (kind, types) in enumerate(COLUMNS) if not types]


@pytest.fixture(scope="module")
def report() -> ScanReport:
    return scan_frame(labelled_table(400, seed=11), clock=CLOCK, risk=False)


def _found(report: ScanReport, column: str) -> set[str]:
    finding = report.column(column)
    return finding.types | {t for t, s in finding.text_contains.items() if s >= 0.02}


@pytest.mark.parametrize(("column", "kind"), PII_KINDS)
def test_each_pii_type_is_found_by_value(report: ScanReport, column: str, kind: str) -> None:
    assert _found(report, column) == set(LABELS[column]), kind
    assert report.column(column).role != "non_pii"


@pytest.mark.parametrize(("column", "kind"), LOOKALIKES)
def test_lookalikes_are_left_alone(report: ScanReport, column: str, kind: str) -> None:
    finding = report.column(column)
    assert finding.role == "non_pii", (kind, finding.to_dict())
    assert not _found(report, column)


@pytest.mark.parametrize(
    ("kind", "detector", "reason"),
    [
        ("order_number", "phone", "valid telephone"),
        ("version", "ipv4", "version"),
        ("event_date", "date_of_birth", "event dates"),
    ],
)
def test_lookalikes_are_rejected_by_a_column_check(
    report: ScanReport, kind: str, detector: str, reason: str
) -> None:
    column = f"c{[k for k, _ in COLUMNS].index(kind):02d}"
    notes = report.column(column).notes
    assert any(n.startswith(detector) and reason in n for n in notes), notes


def test_roles() -> None:
    frame = labelled_table(300, seed=3)
    report = scan_frame(frame, clock=CLOCK, risk=False)
    roles = {c.name: c.role for c in report.columns}
    assert roles["c10"] == "quasi_identifier"  # date of birth
    assert {roles[c] for c in ("c14", "c15", "c16", "c17")} == {"quasi_identifier"}
    assert roles["c01"] == "direct_identifier"
    assert roles["c29"] == "direct_identifier"  # free text holding e-mails and phones


def test_column_level_precision_recall_on_a_mixed_table() -> None:
    frame = labelled_table(1000, seed=2024)
    report = scan_frame(frame, clock=CLOCK, risk=False)
    predicted = {c.name: _found(report, c.name) for c in report.columns}
    scores = column_f1(predicted)
    print(
        f"\ncolumn-level precision {scores['precision']:.3f} recall {scores['recall']:.3f} "
        f"F1 {scores['f1']:.3f} (tp {scores['tp']}, fp {scores['fp']}, fn {scores['fn']})"
    )
    assert len(frame.columns) == 30
    assert scores["f1"] >= 0.9


def test_free_text_reports_the_share_of_cells() -> None:
    values = column_values("notes", 1000, seed=5)
    truth = sum("@" in v for v in values) / len(values)
    report = scan_frame(pd.DataFrame({"c00": values}), clock=CLOCK, risk=False)
    finding = report.column("c00")
    assert finding.free_text
    assert finding.text_contains["email"] == pytest.approx(truth, abs=0.03)


def test_the_header_alone_does_not_make_a_column_pii() -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon"] * 40
    report = scan_frame(pd.DataFrame({"email": words, "ssn": words}), clock=CLOCK, risk=False)
    assert not report.column("email").types
    assert not report.column("ssn").types


def test_a_header_hint_is_needed_for_weak_value_evidence() -> None:
    ages = [str(18 + (i * 7) % 70) for i in range(300)]
    report = scan_frame(pd.DataFrame({"c03": ages, "age": ages}), clock=CLOCK, risk=False)
    assert report.column("age").types == {"age"}
    assert report.column("age").pii_types[0].evidence == ("values", "name")
    assert not report.column("c03").types


@pytest.mark.parametrize("symbol", ["$", "€", "£", ""])
def test_salaries_are_found_whatever_the_currency_symbol(symbol: str) -> None:
    amounts = [f"{symbol}{30_000 + 137 * i:,}" for i in range(300)]
    report = scan_frame(pd.DataFrame({"salary": amounts}), clock=CLOCK, risk=False)
    assert report.column("salary").types == {"salary"}, amounts[:3]
    assert report.column("salary").pii_types[0].evidence == ("values", "name")


def test_birth_dates_are_judged_against_the_clock() -> None:
    dates = column_values("dob", 300, seed=1)
    import datetime as dt

    from garrison.types import FixedClock

    past = FixedClock(dt.datetime(1950, 1, 1, tzinfo=dt.UTC))
    report = scan_frame(pd.DataFrame({"c00": dates}), clock=past, risk=False)
    assert not report.column("c00").types
    assert "future" in report.column("c00").notes[0]


def test_the_report_never_contains_cell_values() -> None:
    frame = labelled_table(200, seed=9)
    dumped = json.dumps(scan_frame(frame, clock=CLOCK).to_dict())
    for column in ("c00", "c01", "c04", "c05", "c06"):
        for value in frame[column].head(50):
            assert value not in dumped


def test_every_builtin_detector_is_registered_with_metadata() -> None:
    ids = [d.id for d in registered_detectors()]
    assert set(BUILTIN_DETECTOR_IDS) <= set(ids)
    for detector_id in BUILTIN_DETECTOR_IDS:
        meta = get_detector(detector_id).to_dict()
        assert meta["id"] == detector_id
        assert meta["pii_type"] and meta["description"] and meta["validator"]


def test_a_third_party_detector_goes_through_the_same_registry() -> None:
    detector = PIIDetector(
        "employee_id",
        "employee_id",
        "direct_identifier",
        "Employee badge number",
        "EMP- prefix + 6 digits",
        r"EMP-[0-9]{6}",
        lambda x: not x.endswith("000000"),
    )
    register_detector(detector)
    try:
        with pytest.raises(AlreadyExists):
            register_detector(detector)
        values = [f"EMP-{i:06d}" for i in range(1, 201)]
        report = scan_frame(pd.DataFrame({"c00": values}), clock=CLOCK, risk=False)
        assert report.column("c00").types == {"employee_id"}
        assert "employee_id" in report.to_dict()["detectors"]
    finally:
        unregister_detector("employee_id")
    with pytest.raises(NotFound):
        get_detector("employee_id")


@pytest.mark.parametrize("bad", [{"detector_id": "Bad Id"}, {"role": "secret"}, {"threshold": 0.0}])
def test_detector_metadata_is_validated(bad: dict[str, object]) -> None:
    args: dict[str, object] = {
        "detector_id": "ok_id",
        "role": "direct_identifier",
        "threshold": 0.5,
    }
    args.update(bad)
    with pytest.raises(InvalidInput):
        PIIDetector(
            str(args["detector_id"]),
            "x",
            args["role"],
            "d",
            "v",
            r"x",  # type: ignore[arg-type]
            lambda x: True,
            threshold=float(args["threshold"]),  # type: ignore[arg-type]
        )


def test_validation_is_sampled_but_can_be_exhaustive() -> None:
    frame = pd.DataFrame({"c00": column_values("card", 3000, seed=4)})
    sampled = scan_frame(frame, clock=CLOCK, risk=False, max_validations=200)
    full = scan_frame(frame, clock=CLOCK, risk=False, max_validations=None)
    share_sampled = sampled.column("c00").pii_types[0].share
    share_full = full.column("c00").pii_types[0].share
    assert share_full == pytest.approx(1.0)
    assert share_sampled == pytest.approx(share_full, abs=0.05)


def test_every_builtin_detector_is_documented() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "privacy.md").read_text("utf-8")
    for detector_id in BUILTIN_DETECTOR_IDS:
        assert f"| `{detector_id}` |" in docs, detector_id
