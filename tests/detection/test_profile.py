"""Reference profile: types, statistics, JSON round trip and the derived schema."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from garrison.detection import QUANTILE_LEVELS, Profile
from garrison.errors import InvalidInput
from garrison.schema import InputSchema


@pytest.fixture
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 2000
    frame = pd.DataFrame({
        "amount": rng.lognormal(3, 1, n),
        "age": rng.integers(18, 90, n),
        "children": rng.integers(0, 4, n),
        "member": rng.uniform(size=n) < 0.3,
        "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        "note": [f"free text {i}" for i in range(n)],
    })
    frame.loc[rng.uniform(size=n) < 0.1, "amount"] = np.nan
    return frame


def test_types_and_statistics(mixed: pd.DataFrame) -> None:
    profile = Profile.from_frame(mixed)
    types = {f.name: f.type for f in profile.features}
    assert types == {"amount": "float", "age": "int", "children": "int", "member": "bool",
                     "colour": "category", "note": "string"}
    amount = profile["amount"]
    assert 0.07 < amount.missing_rate < 0.13
    present = mixed["amount"].dropna()
    assert amount.quantile(0.5) == pytest.approx(present.median())
    assert amount.minimum == pytest.approx(present.min())
    assert len(amount.quantiles) == len(QUANTILE_LEVELS)
    assert sum(amount.counts) == len(present)
    assert profile["colour"].categories["red"] > profile["colour"].categories["blue"]
    assert profile["children"].is_discrete and not profile["age"].is_discrete
    assert set(profile["member"].categories) == {"true", "false"}
    # Correlation structure covers the float and int columns only.
    assert set(profile.correlation_features) == {"amount", "age", "children"}
    assert np.allclose(np.diag(profile.correlation), 1.0)


def test_round_trip_is_json_safe(mixed: pd.DataFrame) -> None:
    profile = Profile.from_frame(mixed, outputs=["member"])
    text = json.dumps(profile.to_dict(), allow_nan=False)
    again = Profile.from_dict(json.loads(text))
    assert again == profile
    assert "free text 1" not in text


def test_from_dict_rejects_foreign_documents(mixed: pd.DataFrame) -> None:
    data = Profile.from_frame(mixed).to_dict()
    with pytest.raises(InvalidInput):
        Profile.from_dict({**data, "format": "other"})
    with pytest.raises(InvalidInput):
        Profile.from_dict({**data, "version": 99})
    with pytest.raises(InvalidInput):
        Profile.from_dict({**data, "features": [{"name": "x"}]})


def test_input_schema_ranges_categories_nullability(mixed: pd.DataFrame) -> None:
    profile = Profile.from_frame(mixed, outputs=["member"])
    schema = profile.input_schema(margin=0.1)
    assert isinstance(schema, InputSchema)
    assert "member" not in schema  # Outputs are not inputs.
    age = schema["age"]
    assert age.type == "int" and age.minimum == 10 and age.maximum == 97
    assert age.minimum <= 18 - 0.1 * 71 and age.maximum >= 89 + 0.1 * 71
    assert schema["colour"].categories == ("blue", "green", "red")
    assert schema["amount"].nullable and not schema["age"].nullable
    assert schema["note"].type == "string"
    tight = profile.input_schema(margin=0.0)
    assert tight["age"].minimum == 18 and tight["age"].maximum == 89
    assert InputSchema.from_dict(schema.to_dict()) == schema


def test_rejects_empty_and_unknown() -> None:
    with pytest.raises(InvalidInput):
        Profile.from_frame(pd.DataFrame())
    with pytest.raises(InvalidInput):
        Profile.from_frame(pd.DataFrame({"a": [1.0]}), types={"b": "float"})
    with pytest.raises(InvalidInput):
        Profile.from_frame(pd.DataFrame({"a": [1.0]}), types={"a": "complex"})
