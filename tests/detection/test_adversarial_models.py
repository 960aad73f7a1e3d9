"""Issue 19: minimal-perturbation attacks on the models people deploy are caught.

A decision-only L2 attack (``attacks.MinimalAttack``, HopSkipJump-style, in range,
rounded to each column's precision) against a random forest on numeric data and a
gradient-boosted pipeline over numeric and category columns. Before, the model-based
detectors refused any model with a category input, and 11 of 80 such attacks were
caught at 5% of normal rows flagged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from garrison.detection import InputMonitor
from garrison.detection.encoding import CategoryCodes, FrameModel
from tests.detection.attacks import AttackCase, mixed_case, numeric_case


@pytest.fixture(scope="module")
def mixed() -> AttackCase:
    return mixed_case(attacks=60, seed=1, rows=3200)


@pytest.fixture(scope="module")
def forest() -> AttackCase:
    return numeric_case(attacks=60, seed=1)


def _rates(monitor: InputMonitor, case: AttackCase) -> tuple[float, float]:
    caught = np.mean([v.anomalous for v in monitor.score_frame(case.adversarial)])
    # Normal rows flagged by the calibrated detectors (rules are facts, not calibrated).
    normal = np.mean([any(r.flagged for r in v.results if r.method != "rules")
                      for v in monitor.score_frame(case.normal)])
    return float(caught), float(normal)


def test_attack_is_minimal_in_range_and_rounded(mixed: AttackCase) -> None:
    case = mixed
    assert len(case.adversarial) >= 45
    assert (case.model.predict(case.adversarial) != case.model.predict(case.sources)).all()
    numeric = ["income", "age", "debt_ratio", "credit_lines", "months_employed", "balance"]
    for name in numeric:
        assert case.adversarial[name].between(case.reference[name].min(),
                                              case.reference[name].max()).all()
    assert (case.adversarial["debt_ratio"] == case.adversarial["debt_ratio"].round(3)).all()
    assert (case.adversarial[["home", "purpose", "region"]]
            == case.sources[["home", "purpose", "region"]]).all().all()
    confidence = case.model.predict_proba(case.adversarial).max(axis=1)
    assert np.median(confidence) < 0.6  # Just past the boundary, as a minimal attack lands.


def test_mixed_pipeline_attacks_are_caught(mixed: AttackCase) -> None:
    monitor = InputMonitor.fit(mixed.reference, model=mixed.model, fpr=0.05, rng=0)
    assert {"perturbation-instability", "neighbour-disagreement"} <= set(monitor.detectors)
    caught, normal = _rates(monitor, mixed)
    print(f"\nmixed pipeline: caught {caught:.0%} of {len(mixed.adversarial)}; "
          f"normal rows flagged {normal:.1%} (target 5%)")
    assert caught >= 0.8
    assert normal <= 0.09


def test_numeric_forest_attacks_are_caught(forest: AttackCase) -> None:
    monitor = InputMonitor.fit(forest.reference, model=forest.model, fpr=0.05, rng=0)
    caught, normal = _rates(monitor, forest)
    print(f"\nrandom forest: caught {caught:.0%} of {len(forest.adversarial)}; "
          f"normal rows flagged {normal:.1%} (target 5%)")
    assert caught >= 0.9
    assert normal <= 0.12  # 114 fresh rows: one row is 0.9%.


def test_frame_model_asks_the_pipeline_with_the_original_values(mixed: AttackCase) -> None:
    monitor = InputMonitor.fit(mixed.reference, model=mixed.model, fpr=0.05,
                               detectors=["perturbation-instability"])
    codes = CategoryCodes(monitor.input_schema, monitor.profile, mixed.reference)
    assert codes.names == ["home", "purpose", "region"]
    rows = mixed.normal.iloc[:50]
    _, numeric = monitor.checker.check_frame(rows)
    wide = np.hstack([numeric, codes.frame(rows)])
    view = FrameModel(mixed.model, monitor.numeric_names, codes, monitor.input_schema.names)
    np.testing.assert_allclose(view.predict_proba(wide), mixed.model.predict_proba(rows))
    # The per-request path and the batch path agree, and category strings are accepted.
    one = monitor.score_row(rows.iloc[0].to_dict())
    assert one.results[0].method == "perturbation-instability"
    # An unseen category is a rule violation; the detectors still score the row.
    odd = {**rows.iloc[0].to_dict(), "purpose": "yacht"}
    verdict = monitor.score_row(odd)
    assert "unseen-category:purpose" in verdict.reasons
    assert any(r.method == "perturbation-instability" for r in verdict.results)
    batch = monitor.score_batch(pd.DataFrame([odd])[monitor.input_schema.names].to_numpy(
        dtype=object))
    assert "unseen-category:purpose" in batch[0].reasons


def test_noise_leaves_categories_alone(mixed: AttackCase) -> None:
    seen: list[pd.DataFrame] = []

    class Spy:
        feature_names_in_ = mixed.model.feature_names_in_

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            seen.append(frame)
            return np.asarray(mixed.model.predict_proba(frame))

    monitor = InputMonitor.fit(mixed.reference, model=Spy(), fpr=0.05,
                               detectors=["perturbation-instability"])
    seen.clear()
    monitor.score_frame(mixed.normal.iloc[:5])
    asked = pd.concat(seen)
    assert len(asked) == 5 * 17  # The rows and 16 noisy copies each, in one call.
    for name in ("home", "purpose", "region"):
        assert set(asked[name]) <= set(mixed.normal[name].iloc[:5])
    assert asked["income"].nunique() > 5  # The numbers did move.


def test_confidence_profile_ranks_attacks_above_normal_rows(mixed: AttackCase) -> None:
    monitor = InputMonitor.fit(mixed.reference, model=mixed.model, fpr=0.05,
                               detectors=["confidence-profile"])
    caught, normal = _rates(monitor, mixed)
    assert caught >= 0.5 and normal <= 0.09


def test_string_inputs_still_refuse_model_detectors(mixed: AttackCase) -> None:
    from garrison.errors import UnsupportedModel

    reference = mixed.reference.assign(note=[f"free text {i}" for i in range(len(mixed.reference))])
    with pytest.raises(UnsupportedModel, match="numeric or a category"):
        InputMonitor.fit(reference, model=mixed.model, fpr=0.05,
                         detectors=["perturbation-instability"])


def test_weighted_union_gives_a_heavier_detector_more_of_the_budget() -> None:
    from garrison.detection import calibrate_union
    from garrison.errors import InvalidInput

    rng = np.random.default_rng(0)
    scores = {"a": rng.normal(size=4000), "b": rng.normal(size=4000)}
    equal = calibrate_union(scores, 0.05)
    assert equal == calibrate_union(scores, 0.05, {"a": 2.0, "b": 2.0})
    heavy = calibrate_union(scores, 0.05, {"a": 3.0, "b": 1.0})
    alone = {n: float(np.mean(scores[n] > heavy[n])) for n in scores}
    union = np.mean((scores["a"] > heavy["a"]) | (scores["b"] > heavy["b"]))
    assert union <= 0.05 and union == pytest.approx(0.05, abs=0.002)
    assert alone["a"] == pytest.approx(3 * alone["b"], rel=0.15)
    with pytest.raises(InvalidInput):
        calibrate_union(scores, 0.05, {"a": 0.0})


def test_small_reference_is_calibrated_on_every_row() -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(n_samples=3400, n_features=6, random_state=3)
    model = LogisticRegression().fit(x[:1000], y[:1000])
    names = [f"f{i}" for i in range(6)]
    reference = pd.DataFrame(x[1000:1400], columns=names)
    fresh = x[1400:]
    rates = []
    for seed in range(4):
        monitor = InputMonitor.fit(reference, model=model, fpr=0.05, rng=seed)
        # Out-of-fold scores of all 400 rows: the flagged share is a multiple of 1/400.
        assert monitor.holdout_rate is not None
        assert round(monitor.holdout_rate * 400, 6) == round(monitor.holdout_rate * 400)
        rates.append(np.mean([v.anomalous for v in monitor.score_batch(fresh)]))
    print(f"\n400-row reference, 5% target: fresh-row rates {np.round(rates, 3)}")
    assert 0.02 <= float(np.mean(rates)) <= 0.08
