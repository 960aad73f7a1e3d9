"""What the model expects against the input schema: names, count, order and types."""

from __future__ import annotations

import pytest

from garrison.registry.servability import (
    ModelInputs,
    ServabilityReport,
    compare_inputs,
)
from garrison.schema import InputSchema


def schema(*names: str, types: dict[str, str] | None = None) -> InputSchema:
    kinds = types or {}
    return InputSchema.from_dict({"features": [
        {"name": n, "type": kinds.get(n, "float"),
         **({"categories": ["a", "b"]} if kinds.get(n) == "category" else {})}
        for n in names]})


NAMED = ModelInputs(names=("age", "income", "debt"), count=3)


def test_a_matching_schema_passes_in_its_order() -> None:
    assert compare_inputs(NAMED, schema("age", "income", "debt"), derived=True) == (
        [], ("age", "income", "debt"))


def test_a_label_in_the_reference_is_refused_by_name() -> None:
    problems, _ = compare_inputs(NAMED, schema("age", "income", "debt", "label"), derived=True)
    assert len(problems) == 1
    assert "columns the model does not take: label" in problems[0]
    assert "--target label" in problems[0]


def test_a_renamed_column_is_refused_with_both_names() -> None:
    problems, _ = compare_inputs(NAMED, schema("AGE", "income", "debt"), derived=True)
    text = " ".join(problems)
    assert "does not take: AGE" in text and "lacks: age" in text
    assert "'AGE' differs from the model's 'age' only in case" in text


def test_an_id_column_the_model_does_not_take_is_named_with_drop() -> None:
    problems, _ = compare_inputs(NAMED, schema("id", "age", "income", "debt"), derived=True,
                                 suspects={"id": "consecutive integers, one per row"})
    assert "does not take: id" in problems[0] and "--drop id" in problems[0]


def test_a_derived_schema_is_put_into_the_models_order() -> None:
    problems, order = compare_inputs(NAMED, schema("debt", "age", "income"), derived=True)
    assert problems == [] and order == ("age", "income", "debt")


def test_an_explicit_schema_in_another_order_is_refused() -> None:
    problems, _ = compare_inputs(NAMED, schema("debt", "age", "income"), derived=False)
    assert problems == ["the input schema lists the features in another order than the model: "
                        "position 0 is 'debt' in the schema and 'age' in the model"]


def test_order_does_not_matter_for_inputs_taken_by_name() -> None:
    by_name = ModelInputs(names=("a", "b"), count=2, by_name=True)
    assert compare_inputs(by_name, schema("b", "a"), derived=False)[0] == []


def test_a_count_mismatch_names_the_likely_extra_columns() -> None:
    unnamed = ModelInputs(count=3)
    problems, _ = compare_inputs(unnamed, schema("a", "b", "c", "target"), derived=True)
    assert problems[0].startswith("the model takes 3 features but the reference has 4")
    assert "likely extra: target" in problems[0] and "--target target" in problems[0]
    problems, _ = compare_inputs(unnamed, schema("a", "b"), derived=False)
    assert problems == ["the model takes 3 features but the input schema has 2 (a, b)"]


def test_a_row_id_is_refused_when_the_model_names_nothing() -> None:
    unnamed = ModelInputs(count=3)
    columns = schema("Unnamed: 0", "a", "b")
    problems, _ = compare_inputs(unnamed, columns, derived=True,
                                 suspects={"Unnamed: 0": "a saved DataFrame index"})
    assert problems == ["the reference column 'Unnamed: 0' looks like a row id (a saved "
                        "DataFrame index); a model input it is not: --drop Unnamed: 0"]
    # Written by hand, the schema says the model takes it: no heuristic overrides that.
    assert compare_inputs(unnamed, columns, derived=False,
                          suspects={"Unnamed: 0": "a saved DataFrame index"})[0] == []


@pytest.mark.parametrize(("kind", "declared", "refused"), [
    ("numeric", "category", True), ("numeric", "string", True), ("numeric", "int", False),
    ("integer", "bool", False), ("string", "float", True), ("string", "category", False),
])
def test_declared_types_must_agree(kind: str, declared: str, refused: bool) -> None:
    every = ModelInputs(count=1, types={"*": kind})  # One tensor of all features.
    problems, _ = compare_inputs(every, schema("b", types={"b": declared}), derived=False)
    named = ModelInputs(names=("a", "b"), count=2, types={"b": kind}, by_name=True)
    named_problems, _ = compare_inputs(named, schema("a", "b", types={"b": declared}),
                                       derived=False)
    assert bool(problems) is refused and problems == named_problems
    if refused:
        assert "'b'" in problems[0]


def test_reports_survive_their_json_form() -> None:
    report = ServabilityReport(problems=("x",), order=("a",), rows=3,
                               inputs=NAMED, seconds=1.25, warnings=("w",))
    again = ServabilityReport.from_dict(report.to_dict())
    assert (again.problems, again.order, again.rows, again.inputs, again.warnings) == (
        ("x",), ("a",), 3, NAMED, ("w",))
    assert not again.ok and ServabilityReport(problems=()).ok
