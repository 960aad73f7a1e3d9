"""Output hardening: what each mode reveals, and that the decision never changes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from garrison.errors import InvalidInput, ModelUnavailable
from garrison.serving import OutputPolicy

PROBA = np.array([[0.123456, 0.654321, 0.222223], [0.5, 0.25, 0.25], [0.1, 0.3, 0.6]])
CLASSES = ["cat", "dog", "eel"]


def test_full_returns_every_unrounded_score() -> None:
    out = OutputPolicy("full").apply(PROBA, CLASSES)
    rows = out.to_predictions()
    assert rows[0] == {
        "label": "dog",
        "scores": {"cat": 0.123456, "dog": 0.654321, "eel": 0.222223},
    }
    assert [r["label"] for r in rows] == ["dog", "cat", "eel"]


def test_rounded_rounds_every_score() -> None:
    rows = OutputPolicy("rounded", decimals=1).apply(PROBA, CLASSES).to_predictions()
    assert rows[0]["scores"] == {"cat": 0.1, "dog": 0.7, "eel": 0.2}


def test_top_k_reveals_only_k_classes_most_probable_first() -> None:
    rows = OutputPolicy("top_k", decimals=2, k=2).apply(PROBA, CLASSES).to_predictions()
    assert rows[0] == {
        "label": "dog",
        "top": [{"class": "dog", "score": 0.65}, {"class": "eel", "score": 0.22}],
    }
    # Ties keep the model's class order.
    assert rows[1]["top"] == [{"class": "cat", "score": 0.5}, {"class": "dog", "score": 0.25}]
    assert "cat" not in json.dumps(rows[0])  # the third class is not revealed


def test_label_mode_returns_no_score_at_all() -> None:
    out = OutputPolicy("label").apply(PROBA, CLASSES)
    assert out.scores is None and out.top_classes is None
    assert out.to_predictions() == [{"label": "dog"}, {"label": "cat"}, {"label": "eel"}]
    assert out.to_oip_outputs() == [
        {"name": "label", "shape": [3], "datatype": "BYTES", "data": ["dog", "cat", "eel"]}
    ]
    assert "0." not in json.dumps(out.to_oip_outputs())


def test_rounding_never_changes_the_decision() -> None:
    proba = np.array([[0.4951, 0.4949, 0.01]])  # rounded, classes 0 and 1 may tie
    for decimals in (0, 1, 2):
        out = OutputPolicy("rounded", decimals=decimals).apply(proba, [0, 1, 2])
        assert out.labels.tolist() == [0]


def test_oip_outputs_for_scores_and_top_k() -> None:
    full = OutputPolicy("rounded", decimals=3).apply(PROBA[:1], [10, 20, 30]).to_oip_outputs()
    assert full == [
        {"name": "label", "shape": [1], "datatype": "INT64", "data": [20]},
        {"name": "classes", "shape": [3], "datatype": "INT64", "data": [10, 20, 30]},
        {
            "name": "probabilities",
            "shape": [1, 3],
            "datatype": "FP64",
            "data": [0.123, 0.654, 0.222],
        },
    ]
    top = OutputPolicy("top_k", k=5).apply(PROBA, CLASSES).to_oip_outputs()
    assert top[1]["name"] == "top_k_classes" and top[1]["shape"] == [3, 3]  # k capped at C
    assert top[1]["data"][:3] == ["dog", "eel", "cat"]
    assert top[2]["name"] == "top_k_scores" and top[2]["data"][:3] == [0.65, 0.22, 0.12]


def test_vectorized_on_a_large_batch() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=10_000)
    out = OutputPolicy("top_k", k=2).apply(proba, ["a", "b", "c", "d"])
    assert out.scores is not None and out.scores.shape == (10_000, 2)
    assert (out.scores[:, 0] >= out.scores[:, 1]).all()
    assert (out.labels == np.array(["a", "b", "c", "d"])[proba.argmax(axis=1)]).all()


@pytest.mark.parametrize(
    ("proba", "classes"),
    [
        (np.ones((2, 3)) / 3, ["a", "b"]),
        (np.ones(3) / 3, ["a", "b", "c"]),
        (np.array([[np.nan, 0.5, 0.5]]), ["a", "b", "c"]),
    ],
)
def test_mismatched_or_non_finite_model_output_is_refused(
    proba: np.ndarray, classes: list[str]
) -> None:
    with pytest.raises(ModelUnavailable):
        OutputPolicy().apply(proba, classes)


@pytest.mark.parametrize(
    "data",
    [
        {"mode": "everything"},
        {"decimals": -1},
        {"decimals": 13},
        {"k": 0},
        {"mode": "full", "x": 1},
    ],
)
def test_policy_validation(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        OutputPolicy.from_dict(data)


def test_policy_round_trip() -> None:
    policy = OutputPolicy("top_k", decimals=3, k=2)
    assert OutputPolicy.from_dict(policy.to_dict()) == policy
