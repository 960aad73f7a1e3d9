"""The model-name rule lives once in the vocabulary layer; the registry re-exports it."""

from __future__ import annotations

import pytest

import garrison.registry
import garrison.types
from garrison.errors import InvalidInput
from garrison.registry import parse_ref, validate_model_name
from garrison.registry.models import MODEL_NAME_PATTERN


def test_registry_reexports_the_vocabulary_rule() -> None:
    assert validate_model_name is garrison.types.validate_model_name
    assert garrison.registry.models.validate_model_name is garrison.types.validate_model_name
    assert MODEL_NAME_PATTERN == garrison.types.MODEL_NAME_PATTERN == r"^[a-z0-9][a-z0-9_-]{0,63}$"


@pytest.mark.parametrize("name", ["fraud", "a", "0", "a-b_c", "a" * 64])
def test_good_names(name: str) -> None:
    assert validate_model_name(name) == name
    assert parse_ref(name) == (name, None)
    assert parse_ref(f"{name}:3") == (name, 3)


@pytest.mark.parametrize("name", ["", "Fraud", "-a", "_a", "a b", "a" * 65, "fraud\n", "é"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_model_name(name)
    with pytest.raises(InvalidInput):
        parse_ref(f"{name}:1")


def test_a_name_must_be_text() -> None:
    with pytest.raises(InvalidInput):
        validate_model_name(7)  # type: ignore[arg-type]
