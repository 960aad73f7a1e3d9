"""Issue 19: sensitive attributes, more quasi-identifiers, SSNs without a telling header.

Generated columns under obfuscated headers (the values decide), each next to a
look-alike that must be left alone. Before, blood types, religion, race, marital status,
states and sexual orientation were ``non_pii``, and a US SSN column with most values
written as bare nine digits was missed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from garrison.privacy import scan_frame
from tests.privacy.helpers import CLOCK

N = 400


def _ssn(rng: np.random.Generator) -> str:
    while True:
        area, group, serial = rng.integers(1, 900), rng.integers(1, 100), rng.integers(1, 10000)
        if area != 666:
            return f"{area:03d}-{group:02d}-{serial:04d}"


def _column(kind: str, rng: np.random.Generator) -> list[str]:
    pick = lambda values, p=None: list(rng.choice(values, N, p=p))  # noqa: E731
    if kind == "blood":
        return pick(["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"],
                    [0.34, 0.06, 0.09, 0.02, 0.03, 0.01, 0.38, 0.07])
    if kind == "blood_words":
        return pick(["A positive", "O negative", "B positive", "AB positive", "O positive"])
    if kind == "religion":
        return pick(["Christian", "Muslim", "Jewish", "Hindu", "Buddhist", "Atheist", "None",
                     "Sikh", "Other"])
    if kind == "orientation":
        return pick(["Heterosexual", "Gay", "Lesbian", "Bisexual", "Prefer not to say"],
                    [0.85, 0.05, 0.03, 0.05, 0.02])
    if kind == "race":
        return pick(["White", "Black or African American", "Asian",
                     "American Indian or Alaska Native", "Two or more races", "Other"])
    if kind == "race_census":
        return pick(["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"])
    if kind == "marital":
        return pick(["Married", "Single", "Divorced", "Widowed", "Separated"])
    if kind == "marital_census":
        return pick(["Married-civ-spouse", "Never-married", "Divorced", "Widowed",
                     "Separated", "Married-spouse-absent"])
    if kind == "state_code":
        return pick(["CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "AZ"])
    if kind == "state_name":
        return pick(["California", "Texas", "New York", "Florida", "Ohio", "New Jersey"])
    if kind == "ssn_half_bare":
        return [s.replace("-", "") if i % 2 else s for i, s in enumerate(
            _ssn(rng) for _ in range(N))]
    if kind == "ssn_mostly_bare":
        return [s if i % 5 == 0 else s.replace("-", "") for i, s in enumerate(
            _ssn(rng) for _ in range(N))]
    # Look-alikes.
    if kind == "grades":
        return pick(["A", "B", "C", "D", "F"])
    if kind == "ab_test":
        return pick(["A", "B", "AB"])
    if kind == "room_type":
        return pick(["single", "double", "twin", "suite"])
    if kind == "countries":
        return pick(["US", "GB", "DE", "FR", "CA", "IN", "JP", "CN"])
    if kind == "order_numbers":
        return [str(n) for n in rng.integers(100_000_000, 999_999_999, N)]
    if kind == "colors":
        return pick(["white", "black", "red", "blue", "green"])
    if kind == "yes_no":
        return pick(["yes", "no"])
    raise AssertionError(kind)


FOUND = [
    ("blood", "sensitive", "blood_type"),
    ("blood_words", "sensitive", "blood_type"),
    ("religion", "sensitive", "religion"),
    ("orientation", "sensitive", "sexual_orientation"),
    ("race", "quasi_identifier", "race"),
    ("race_census", "quasi_identifier", "race"),
    ("marital", "quasi_identifier", "marital_status"),
    ("marital_census", "quasi_identifier", "marital_status"),
    ("state_code", "quasi_identifier", "state"),
    ("state_name", "quasi_identifier", "state"),
    ("ssn_half_bare", "direct_identifier", "us_ssn"),
    ("ssn_mostly_bare", "direct_identifier", "us_ssn"),
]
LEFT_ALONE = ["grades", "ab_test", "room_type", "countries", "order_numbers", "colors",
              "yes_no"]


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(19)
    kinds = [k for k, _, _ in FOUND] + LEFT_ALONE
    frame = pd.DataFrame({f"c{i:02d}": _column(k, rng) for i, k in enumerate(kinds)})
    frame.attrs["kinds"] = kinds
    return scan_frame(frame, clock=CLOCK, risk=False), kinds


@pytest.mark.parametrize(("kind", "role", "pii_type"), FOUND)
def test_each_attribute_is_found_by_value(report, kind: str, role: str, pii_type: str) -> None:
    scan, kinds = report
    column = scan.column(f"c{kinds.index(kind):02d}")
    assert column.role == role, (kind, column.to_dict())
    assert pii_type in column.types


@pytest.mark.parametrize("kind", LEFT_ALONE)
def test_lookalikes_are_left_alone(report, kind: str) -> None:
    scan, kinds = report
    column = scan.column(f"c{kinds.index(kind):02d}")
    assert column.role == "non_pii", (kind, column.to_dict())


def test_header_decides_where_values_cannot() -> None:
    rng = np.random.default_rng(5)
    yes_no = _column("yes_no", rng)
    races = _column("race", rng)
    frame = pd.DataFrame({
        "union_member": yes_no, "c01": yes_no, "ethnicity": races,
        "annual_bonus": [str(v) for v in rng.integers(1_000, 40_000, N)],
    })
    scan = scan_frame(frame, clock=CLOCK, risk=False)
    assert scan.column("union_member").types == {"union_membership"}
    assert scan.column("union_member").role == "sensitive"
    assert scan.column("c01").role == "non_pii"
    assert scan.column("ethnicity").role == "sensitive"
    assert "ethnicity" in scan.column("ethnicity").types
    assert scan.column("annual_bonus").types == {"salary"}


def test_new_quasi_identifiers_enter_the_k_anonymity_check() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "c00": _column("state_code", rng), "c01": _column("marital", rng),
        "c02": _column("race", rng), "c03": _column("religion", rng),
    })
    scan = scan_frame(frame, clock=CLOCK)
    assert scan.risk is not None
    assert set(scan.risk.quasi_identifiers) == {"c00", "c01", "c02"}
    assert scan.risk.sensitive == "c03"
