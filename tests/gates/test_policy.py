"""The gate policy and result shapes: defaults, round trips, refusals, digests."""

from __future__ import annotations

import json
import tomllib

import pytest

from garrison.errors import InvalidInput
from garrison.gates import CheckResult, GatePolicy, GateResult


def test_naming_only_a_holdout_gives_every_check_enabled_with_defaults() -> None:
    policy = GatePolicy.from_mapping({"holdout_dataset": "churn-holdout:3"})
    assert policy.task == "classification"
    assert policy.primary_metric == "accuracy"
    for section in ("performance", "fairness", "robustness", "privacy", "leakage", "calibration"):
        assert getattr(policy, section).enabled
    regression = GatePolicy.from_mapping({"holdout_dataset": "h:1", "task": "regression"})
    assert regression.primary_metric == "rmse"
    assert not regression.higher_is_better


def test_round_trip_through_json_and_toml_keeps_the_digest() -> None:
    text = """
holdout_dataset = "churn-holdout:3"
label = "churned"
sensitive = "region"
primary_metric = "roc_auc"

[performance]
floor = 0.8

[fairness]
max_demographic_parity_difference = 0.05
"""
    policy = GatePolicy.from_mapping(tomllib.loads(text))
    assert policy.performance.floor == 0.8
    assert policy.fairness.max_demographic_parity_difference == 0.05
    again = GatePolicy.from_mapping(json.loads(json.dumps(policy.to_mapping())))
    assert again == policy
    assert again.digest() == policy.digest()
    assert len(policy.digest()) == 64


def test_defaults_spelt_out_have_the_same_digest_and_any_change_moves_it() -> None:
    short = GatePolicy.from_mapping({"holdout_dataset": "h:1"})
    spelt = GatePolicy.from_mapping(
        {"holdout_dataset": "h:1", "primary_metric": "accuracy", "calibration": {"max_ece": 0.2}}
    )
    assert short.digest() == spelt.digest()
    looser = GatePolicy.from_mapping({"holdout_dataset": "h:1", "calibration": {"max_ece": 0.3}})
    assert looser.digest() != short.digest()


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"holdout_dataset": "h:1", "treshold": 1}, "treshold"),
        ({"holdout_dataset": "h:1", "fairness": {"max_dp": 0.1}}, "fairness.max_dp"),
        ({"holdout_dataset": "h:1", "robustness": {"noise": True}}, "robustness.noise"),
        ({"holdout_dataset": "h:1", "robustness": {"noise": float("nan")}}, "robustness.noise"),
        ({"holdout_dataset": "h:1", "calibration": {"max_ece": 2}}, "calibration.max_ece"),
        ({"holdout_dataset": "h:1", "privacy": {"sample_rows": 10.5}}, "privacy.sample_rows"),
        ({"holdout_dataset": "h:1", "leakage": "strict"}, "leakage"),
        ({"holdout_dataset": "/data/holdout.csv"}, "holdout_dataset"),
        ({"holdout_dataset": "holdout"}, "holdout_dataset"),
        ({"task": "classification"}, "holdout_dataset"),
        ({"holdout_dataset": "h:1", "task": "ranking"}, "task"),
        (
            {"holdout_dataset": "h:1", "task": "regression", "primary_metric": "accuracy"},
            "primary_metric",
        ),
        ({"holdout_dataset": "h:1", "label": "y", "sensitive": "y"}, "sensitive"),
        ({"holdout_dataset": "h:1", "version": 2}, "version"),
    ],
)
def test_bad_policies_are_refused_naming_the_key(mapping: dict[str, object], key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        GatePolicy.from_mapping(mapping)
    assert caught.value.detail["key"] == key


def test_gate_result_verdict_is_derived_and_a_forged_verdict_is_refused() -> None:
    ok = CheckResult(
        "performance", True, "accuracy 0.91 >= floor 0.80", {"accuracy": 0.91}, {"floor": 0.8}
    )
    bad = CheckResult("calibration", False, "ECE 0.21 above 0.10", {"ece": 0.21}, {"max_ece": 0.1})
    result = GateResult((ok, bad), policy_digest="ab" * 32)
    assert result.passed is False
    assert result.failed == (bad,)
    stored = result.to_mapping()
    assert GateResult.from_mapping(json.loads(json.dumps(stored))) == result
    stored["passed"] = True
    with pytest.raises(InvalidInput):
        GateResult.from_mapping(stored)
    assert GateResult((), policy_digest="x").passed is False


def test_positive_label_round_trips_and_is_checked() -> None:
    for value in ("churn", 1):
        policy = GatePolicy.from_mapping({"holdout_dataset": "h:1", "positive_label": value})
        assert policy.positive_label == value
        assert GatePolicy.from_mapping(policy.to_mapping()) == policy
    plain = GatePolicy.from_mapping({"holdout_dataset": "h:1"})
    assert "positive_label" not in plain.to_mapping()  # absent: the digest is unchanged
    for bad in (True, 1.5, ["a"]):
        with pytest.raises(InvalidInput) as caught:
            GatePolicy.from_mapping({"holdout_dataset": "h:1", "positive_label": bad})
        assert caught.value.detail["key"] == "positive_label"
    with pytest.raises(InvalidInput):
        GatePolicy.from_mapping(
            {"holdout_dataset": "h:1", "task": "regression", "positive_label": 1}
        )
