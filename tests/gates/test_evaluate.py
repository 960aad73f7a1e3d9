"""evaluate(): every check reported, determinism, broken models and bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from garrison.errors import InvalidInput
from garrison.gates import GatePolicy
from garrison.gates.evaluate import evaluate
from tests.gates import candidates
from tests.gates.helpers import policy

ALL = ["performance", "fairness", "robustness", "privacy", "leakage", "calibration"]


def test_the_same_inputs_and_seed_give_the_same_result() -> None:
    case = candidates.good("synthetic-logistic")
    one = evaluate(case.candidate, case.production, case.holdout, case.policy, case.training)
    two = evaluate(case.candidate, case.production, case.holdout, case.policy, case.training)
    assert one.to_mapping() == two.to_mapping()
    assert one.policy_digest == case.policy.digest()


def test_disabled_checks_are_listed_as_skipped_and_progress_is_reported() -> None:
    case = candidates.defect("miscalibrated")
    relaxed = GatePolicy.from_mapping(
        {**case.policy.to_mapping(), "calibration": {"enabled": False}}
    )
    seen: list[tuple[str, int, int]] = []
    result = evaluate(
        case.candidate,
        case.production,
        case.holdout,
        relaxed,
        case.training,
        progress=lambda name, done, total: seen.append((name, done, total)),
    )
    assert result.passed
    assert [c.name for c in result.checks] == ALL
    calibration = result.check("calibration")
    assert calibration.skipped and "disabled" in calibration.reason
    assert seen == [(name, i, 6) for i, name in enumerate(ALL, start=1)]
    assert result.policy_digest != case.policy.digest()


class Exploding:
    classes_ = np.array([0, 1])

    def __init__(self, secret: str, after: int = 0) -> None:
        self.secret = secret
        self.after = after

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        if self.after <= 0:
            raise ValueError(f"cannot score {self.secret}")
        self.after -= 1
        return np.zeros(len(x), dtype=int) + (x.iloc[:, 0].to_numpy() > 0)


def test_a_model_that_crashes_fails_every_check_without_leaking_its_message() -> None:
    _, holdout = candidates.synthetic()
    result = evaluate(Exploding("patient 4411"), None, holdout, policy())
    assert not result.passed
    assert [c.name for c in result.checks] == ALL
    assert all("ValueError" in c.reason and "4411" not in c.reason for c in result.checks)


def test_a_model_crashing_in_one_check_does_not_hide_the_others() -> None:
    _, holdout = candidates.synthetic()
    # Answers the first scoring pass, then fails: robustness breaks, the rest still judge.
    result = evaluate(Exploding("row 7", after=2), None, holdout, policy())
    robustness = result.check("robustness")
    assert not robustness.passed and "could not run" in robustness.reason
    assert "row 7" not in robustness.reason
    assert result.check("performance").reason.startswith("accuracy")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": None}, "names no label"),
        ({"sensitive": "nope"}, "lacks a column"),
        ({"label": "missing"}, "lacks a column"),
    ],
)
def test_bad_inputs_raise_invalid_input(changes: dict[str, object], message: str) -> None:
    train, holdout = candidates.synthetic()
    model = LogisticRegression().fit(train.drop(columns="y"), train["y"])
    import dataclasses

    bad = dataclasses.replace(policy(), **changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=message):
        evaluate(model, None, holdout, bad)


def test_empty_or_unlabelled_holdouts_are_refused() -> None:
    train, holdout = candidates.synthetic()
    model = LogisticRegression().fit(train.drop(columns="y"), train["y"])
    with pytest.raises(InvalidInput, match="empty"):
        evaluate(model, None, holdout.iloc[:0], policy())
    holed = holdout.astype({"y": float})
    holed.loc[3, "y"] = np.nan
    with pytest.raises(InvalidInput, match="without a label"):
        evaluate(model, None, holed, policy())


def test_string_labels_work_end_to_end() -> None:
    train, holdout = candidates.synthetic()
    names = {0: "stay", 1: "churn"}
    train, holdout = (
        train.assign(y=train["y"].map(names)),
        holdout.assign(y=holdout["y"].map(names)),
    )
    model = LogisticRegression(max_iter=1000).fit(train.drop(columns="y"), train["y"])
    result = evaluate(model, None, holdout, policy(primary_metric="f1"), train)
    assert result.passed, result.summary


def test_labels_that_are_not_the_models_classes_are_refused() -> None:
    train, holdout = candidates.synthetic()
    model = LogisticRegression().fit(train.drop(columns="y"), train["y"])
    renamed = holdout.assign(y=holdout["y"].map({0: "stay", 1: "churn"}))
    with pytest.raises(InvalidInput, match="class"):
        evaluate(model, None, renamed, policy())
    shifted = holdout.assign(y=holdout["y"] + 5)
    with pytest.raises(InvalidInput, match="none of the holdout labels"):
        evaluate(model, None, shifted, policy())
    with pytest.raises(InvalidInput, match="two classes"):
        evaluate(model, None, holdout[holdout["y"] == 1], policy())
