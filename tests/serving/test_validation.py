"""Input validation: happy paths in both request shapes, and every refusal."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from garrison.errors import InvalidInput, PayloadTooLarge, SchemaViolation
from garrison.schema import FeatureSpec, InputSchema
from garrison.serving import InputValidator, ValidationLimits, json_depth_exceeds

NUMERIC = InputSchema(
    (
        FeatureSpec("age", "int", minimum=0, maximum=120),
        FeatureSpec("income", "float", minimum=0, maximum=1e6),
        FeatureSpec("score", "float"),
        FeatureSpec("member", "bool"),
        FeatureSpec("ratio", "float", minimum=0, maximum=1, nullable=True),
    )
)
MIXED = InputSchema(
    (
        FeatureSpec("age", "int", minimum=0, maximum=120),
        FeatureSpec("country", "category", categories=("FR", "DE", "US")),
        FeatureSpec("note", "string", nullable=True),
        FeatureSpec("noise", "float", allow_nan=True),
    )
)
ROW = {"age": 41, "income": 52_000.5, "score": -1.25, "member": True, "ratio": 0.5}
EXPECTED = [41.0, 52_000.5, -1.25, 1.0, 0.5]


class SlowValidator(InputValidator):
    """The reference per-value path only: the oracle for the vectorized fast path."""

    def __init__(self, schema: InputSchema) -> None:
        super().__init__(schema)
        self._fastpath = None


@pytest.fixture(params=[InputValidator, SlowValidator], ids=["fast", "slow"])
def numeric(request: pytest.FixtureRequest) -> InputValidator:
    return request.param(NUMERIC)


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def refused(validator: InputValidator, payload: Any) -> SchemaViolation:
    with pytest.raises(SchemaViolation) as info:
        validator.validate_json(body(payload) if not isinstance(payload, bytes) else payload)
    return info.value


# ----- happy paths ------------------------------------------------------------------


def test_instances_become_a_float64_matrix_in_schema_order(numeric: InputValidator) -> None:
    shuffled = dict(reversed(list(ROW.items())))
    second = {**ROW, "age": 7, "member": False, "ratio": None}
    batch = numeric.validate_json(body({"instances": [shuffled, second]}))
    assert batch.names == ("age", "income", "score", "member", "ratio")
    assert batch.matrix is not None and batch.matrix.dtype == np.float64
    assert batch.matrix.flags["C_CONTIGUOUS"] and batch.matrix.shape == (2, 5)
    assert batch.matrix[0].tolist() == EXPECTED
    assert batch.matrix[1, :4].tolist() == [7.0, 52_000.5, -1.25, 0.0]
    assert math.isnan(batch.matrix[1, 4])
    assert batch.columns is None and batch.n_rows == 2 and batch.protocol == "instances"


@pytest.mark.parametrize("nested", [False, True])
def test_oip_single_tensor_flat_or_nested(numeric: InputValidator, nested: bool) -> None:
    rows = [EXPECTED, [3, 10, 0, 0, 1]]
    data = rows if nested else [v for r in rows for v in r]
    payload = {
        "id": "req-1",
        "parameters": {"content_type": "np"},
        "inputs": [{"name": "x", "shape": [2, 5], "datatype": "FP64", "data": data}],
    }
    batch = numeric.validate_json(body(payload))
    assert batch.matrix is not None and batch.matrix.tolist() == [EXPECTED, [3, 10, 0, 0, 1]]
    assert batch.matrix.flags["C_CONTIGUOUS"]
    assert (batch.protocol, batch.request_id, batch.parameters) == (
        "v2",
        "req-1",
        {"content_type": "np"},
    )


def test_oip_one_tensor_per_feature_with_own_datatypes(numeric: InputValidator) -> None:
    inputs = [
        {"name": "member", "shape": [2], "datatype": "BOOL", "data": [True, False]},
        {"name": "age", "shape": [2, 1], "datatype": "INT32", "data": [[41], [7]]},
        {"name": "income", "shape": [2], "datatype": "FP32", "data": [52_000.5, 1]},
        {"name": "score", "shape": [2], "datatype": "FP64", "data": [-1.25, 2]},
        {"name": "ratio", "shape": [2], "datatype": "FP64", "data": [0.5, 1]},
    ]
    batch = numeric.validate_json(body({"inputs": inputs}))
    assert batch.matrix is not None
    assert batch.matrix.tolist() == [EXPECTED, [7, 1, 2, 0, 1]]
    assert batch.matrix.flags["C_CONTIGUOUS"]


def test_bool_feature_takes_0_or_1_in_a_numeric_tensor(numeric: InputValidator) -> None:
    ok = {"inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP64", "data": [1, 2, 3, 1, 0]}]}
    assert numeric.validate(ok).matrix.tolist() == [[1, 2, 3, 1, 0]]  # type: ignore[union-attr]
    bad = {"inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP64", "data": [1, 2, 3, 2, 0]}]}
    assert refused(numeric, bad).detail == {"field": "member", "row": 0, "problem": "wrong-type"}


def test_mixed_schema_returns_columns_with_strings_kept() -> None:
    validator = InputValidator(MIXED)
    rows = [
        {"age": 3, "country": "FR", "note": "hello", "noise": 0.5},
        {"age": 4, "country": "US", "note": None, "noise": float("nan")},
    ]
    batch = validator.validate_json(json.dumps({"instances": rows}).encode())
    assert batch.matrix is None and batch.columns is not None
    assert batch.columns["country"].dtype == object
    assert batch.columns["country"].tolist() == ["FR", "US"]
    assert batch.columns["note"].tolist() == ["hello", None]
    assert batch.columns["age"].dtype == np.float64 and batch.columns["age"].tolist() == [3, 4]
    assert math.isnan(batch.columns["noise"][1])
    oip = {
        "inputs": [
            {"name": "age", "shape": [1], "datatype": "INT64", "data": [3]},
            {"name": "country", "shape": [1], "datatype": "BYTES", "data": ["DE"]},
            {"name": "note", "shape": [1], "datatype": "BYTES", "data": ["x"]},
            {"name": "noise", "shape": [1], "datatype": "FP64", "data": [1.5]},
        ]
    }
    assert validator.validate(oip).as_columns()["country"].tolist() == ["DE"]


def test_as_columns_views_the_matrix(numeric: InputValidator) -> None:
    batch = numeric.validate({"instances": [ROW]})
    assert batch.as_columns()["income"].tolist() == [52_000.5]


# ----- refusals: friendly shape --------------------------------------------------------

SECRET = "123-45-6789"


def with_(**changes: Any) -> dict[str, Any]:
    row = {**ROW, **changes}
    return {"instances": [ROW, ROW, {k: v for k, v in row.items() if v is not ...}]}


REFUSALS = [
    (with_(ssn=SECRET), "ssn", "unknown-field"),
    (with_(age=...), "age", "missing-field"),
    (with_(age=..., ssn=1), "ssn", "unknown-field"),
    (with_(income=True), "income", "wrong-type"),
    (with_(member=1), "member", "wrong-type"),
    (with_(income="52000"), "income", "wrong-type"),
    (with_(income=SECRET), "income", "wrong-type"),
    (with_(income="NaN"), "income", "not-finite"),
    (with_(income=" -Infinity "), "income", "not-finite"),
    (with_(score=[1.0]), "score", "wrong-type"),
    (with_(score={"v": 1}), "score", "wrong-type"),
    (with_(age=121), "age", "above-maximum"),
    (with_(age=-1), "age", "below-minimum"),
    (with_(income=1e6 + 0.01), "income", "above-maximum"),
    (with_(age=3.5), "age", "not-an-integer"),
    (with_(age=None), "age", "null-not-allowed"),
    (with_(score=10**400), "score", "above-maximum"),
    (with_(score=-(10**400)), "score", "below-minimum"),
]


@pytest.mark.parametrize(("payload", "fld", "problem"), REFUSALS)
def test_refusals_name_field_row_and_problem(
    numeric: InputValidator, payload: dict[str, Any], fld: str, problem: str
) -> None:
    exc = refused(numeric, payload)
    assert exc.detail == {"field": fld, "row": 2, "problem": problem}
    assert exc.code == "schema-violation"
    assert SECRET not in str(exc) and "52000" not in str(exc)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_literals_are_refused(numeric: InputValidator, literal: str) -> None:
    raw = body({"instances": [ROW]}).replace(b"-1.25", literal.encode())
    assert refused(numeric, raw).detail["problem"] == "not-finite"


def test_nan_allowed_only_where_declared() -> None:
    validator = InputValidator(MIXED)
    raw = b'{"instances": [{"age": 1, "country": "FR", "note": null, "noise": NaN}]}'
    assert math.isnan(validator.validate_json(raw).columns["noise"][0])  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "fld", "problem"),
    [
        ({"country": "XX"}, "country", "unknown-category"),
        ({"country": 1}, "country", "wrong-type"),
        ({"country": None}, "country", "null-not-allowed"),
        ({"note": "x" * 1025}, "note", "string-too-long"),
        ({"note": 5}, "note", "wrong-type"),
        ({"age": "3"}, "age", "wrong-type"),
    ],
)
def test_category_and_string_refusals(changes: dict[str, Any], fld: str, problem: str) -> None:
    row = {"age": 3, "country": "FR", "note": "n", "noise": 0.0, **changes}
    exc = refused(InputValidator(MIXED), {"instances": [row]})
    assert exc.detail == {"field": fld, "row": 0, "problem": problem}


@pytest.mark.parametrize(
    ("payload", "fld", "problem"),
    [
        ([ROW], "$", "not-an-object"),
        ({"rows": [ROW]}, "$", "unknown-request-shape"),
        ({"instances": [ROW], "debug": True}, "debug", "unknown-field"),
        ({"instances": {"0": ROW}}, "instances", "not-a-list"),
        ({"instances": [ROW, [1, 2]]}, "instances", "not-an-object"),
        ({"instances": []}, "$", "empty-batch"),
    ],
)
def test_structural_refusals(numeric: InputValidator, payload: Any, fld: str, problem: str) -> None:
    exc = refused(numeric, payload)
    assert exc.detail["field"] == fld and exc.detail["problem"] == problem


# ----- refusals: Open Inference Protocol v2 --------------------------------------------


def tensor(**changes: Any) -> dict[str, Any]:
    t = {"name": "x", "shape": [1, 5], "datatype": "FP64", "data": EXPECTED}
    t.update(changes)
    return {k: v for k, v in t.items() if v is not ...}


OIP_REFUSALS = [
    ({"inputs": [tensor()], "outputs": []}, "outputs", "unknown-field"),
    ({"inputs": [tensor(extra=1)]}, "extra", "unknown-field"),
    ({"inputs": [tensor(data=...)]}, "inputs[0].data", "missing-field"),
    ({"inputs": [tensor(datatype="FP128")]}, "inputs[0].datatype", "bad-datatype"),
    ({"inputs": [tensor(shape=[1, 4])]}, "inputs[0].shape", "shape-mismatch"),
    ({"inputs": [tensor(shape=[1, 5, 1])]}, "inputs[0].shape", "bad-shape"),
    ({"inputs": [tensor(shape=[1, -5])]}, "inputs[0].shape", "bad-shape"),
    ({"inputs": [tensor(shape=[True, 5])]}, "inputs[0].shape", "bad-shape"),
    ({"inputs": [tensor(shape=[2, 5])]}, "inputs[0].data", "shape-mismatch"),
    ({"inputs": [tensor(data=[EXPECTED[:4]])]}, "inputs[0].data", "shape-mismatch"),
    ({"inputs": [tensor(name="")]}, "inputs[0].name", "wrong-type"),
    ({"inputs": [tensor(parameters={"binary_data": True})]}, "binary_data", "unknown-parameter"),
    ({"inputs": [tensor()], "parameters": {"debug": 1}}, "debug", "unknown-parameter"),
    ({"inputs": [tensor()], "parameters": {"content_type": []}}, "content_type", "wrong-type"),
    ({"inputs": [tensor()], "id": 5}, "id", "wrong-type"),
    ({"inputs": [tensor()], "id": "x" * 129}, "id", "string-too-long"),
    ({"inputs": []}, "inputs", "empty"),
    ({"inputs": [tensor(data=[41, 1, 1, "1", 0])]}, "member", "datatype-mismatch"),
    ({"inputs": [tensor(data=[41, 1, "Infinity", 1, 0])]}, "score", "not-finite"),
    ({"inputs": [tensor(data=[41, 1, [1], 1, 0])]}, "score", "datatype-mismatch"),
    (
        {"inputs": [tensor(data=[41, 1, 1e39, 1, 0], datatype="FP32")]},
        "score",
        "out-of-datatype-range",
    ),
    (
        {"inputs": [tensor(data=[41, 1, 2**31, 1, 0], datatype="INT32")]},
        "score",
        "out-of-datatype-range",
    ),
    ({"inputs": [tensor(data=[41, 1, 1.5, 1, 0], datatype="INT64")]}, "score", "datatype-mismatch"),
    ({"inputs": [tensor(data=[True] * 5, datatype="BOOL")]}, "age", "wrong-type"),
    ({"inputs": [tensor(data=["41", "1", "1", "1", "0"], datatype="BYTES")]}, "age", "wrong-type"),
    ({"inputs": [tensor(data=[41.5, 1, 1, 1, 0])]}, "age", "not-an-integer"),
]


@pytest.mark.parametrize(("payload", "fld", "problem"), OIP_REFUSALS)
def test_oip_refusals(numeric: InputValidator, payload: Any, fld: str, problem: str) -> None:
    exc = refused(numeric, payload)
    assert exc.detail["field"] == fld and exc.detail["problem"] == problem


def per_feature(**overrides: dict[str, Any]) -> dict[str, Any]:
    inputs = [
        {"name": n, "shape": [1], "datatype": "FP64", "data": [v]}
        for n, v in zip(NUMERIC.names, EXPECTED, strict=True)
    ]
    inputs[3]["datatype"], inputs[3]["data"] = "BOOL", [True]
    for t in inputs:
        t.update(overrides.get(t["name"], {}))
    return {"inputs": inputs}


@pytest.mark.parametrize(
    ("payload", "fld", "problem"),
    [
        ({"inputs": per_feature()["inputs"][:4]}, "ratio", "missing-field"),
        (
            {"inputs": per_feature()["inputs"] + [per_feature()["inputs"][0]]},
            "age",
            "duplicate-input",
        ),
        (per_feature(age={"name": "ssn"}), "ssn", "unknown-field"),
        (per_feature(age={"shape": [2], "data": [1, 2]}), "income", "shape-mismatch"),
        (per_feature(income={"shape": [1, 2]}), "inputs[1].shape", "shape-mismatch"),
        (per_feature(income={"data": [1, 2]}), "income", "shape-mismatch"),
        (per_feature(age={"data": [200]}), "age", "above-maximum"),
        (per_feature(income={"datatype": "BOOL", "data": [True]}), "income", "wrong-type"),
    ],
)
def test_oip_per_feature_refusals(
    numeric: InputValidator, payload: Any, fld: str, problem: str
) -> None:
    exc = refused(numeric, payload)
    assert exc.detail["field"] == fld and exc.detail["problem"] == problem


# ----- limits -----------------------------------------------------------------------


def test_too_many_rows_is_payload_too_large_in_both_shapes() -> None:
    validator = InputValidator(NUMERIC, ValidationLimits(max_rows=3))
    with pytest.raises(PayloadTooLarge) as info:
        validator.validate({"instances": [ROW] * 4})
    assert info.value.detail["problem"] == "too-many-rows"
    # The shape alone is enough: the data is never walked.
    with pytest.raises(PayloadTooLarge):
        validator.validate({"inputs": [tensor(shape=[10**12, 5], data=[])]})
    assert validator.validate({"instances": [ROW] * 3}).n_rows == 3


def test_body_size_depth_duplicates_and_malformed_json() -> None:
    validator = InputValidator(NUMERIC, ValidationLimits(max_body_bytes=2_000, max_depth=6))
    with pytest.raises(PayloadTooLarge):
        validator.validate_json(b" " * 2_001)
    with pytest.raises(InvalidInput) as info:
        validator.validate_json(b"[" * 900 + b"]" * 900)
    assert info.value.detail["problem"] == "too-deep"
    deep = InputValidator(NUMERIC, ValidationLimits(max_body_bytes=10**7, max_depth=8))
    with pytest.raises(InvalidInput):
        deep.validate_json(b"[" * 200_000 + b"]" * 200_000)
    dup = b'{"instances": [{"age": 1, "age": 99, "income": 1, "score": 1, "member": true}]}'
    with pytest.raises(InvalidInput) as info:
        validator.validate_json(dup)
    assert info.value.detail["problem"] == "duplicate-key"
    with pytest.raises(InvalidInput):  # Unbalanced: refused, as too deep or as malformed.
        validator.validate_json(b'{"instances": [')
    for bad in (b'{"instances": [1,]}', b"\xff\xfe{}", b'{"instances": [] } x', b"{'a': 1}"):
        with pytest.raises(InvalidInput) as info:
            validator.validate_json(bad)
        assert info.value.detail["problem"] == "malformed-json"


@pytest.mark.parametrize(
    ("text", "limit", "exceeds"),
    [
        (b'{"a": [[1]]}', 3, False),
        (b'{"a": [[1]]}', 2, True),
        (b'{"a": "[[[[[[[[[["}', 1, False),
        (b'{"a": "\\"[[[[", "b": "\\\\"}', 1, False),
        (b'{"a": "x\\\\", "b": [[["]"]]]}', 3, True),
        (b'{"a": "x\\\\", "b": [[["]"]]]}', 4, False),
        (b"[]" * 1_000, 1, False),
        (b"[" + b"[]," * 40 + b"[[[1]]]]", 4, False),  # over 64 brackets: the C-speed passes
        (b"[" + b"[]," * 40 + b"[[[1]]]]", 3, True),
        (b'["' + b"[" * 100 + b'", [[2]]]', 3, False),
        (b"", 0, False),
    ],
)
def test_json_depth_exceeds(text: bytes, limit: int, exceeds: bool) -> None:
    assert json_depth_exceeds(text, limit) is exceeds


def test_strings_count_toward_string_limit_in_parameters() -> None:
    validator = InputValidator(NUMERIC, ValidationLimits(max_string_length=8))
    exc = refused(validator, {"inputs": [tensor()], "parameters": {"content_type": "x" * 9}})
    assert exc.detail["problem"] == "string-too-long"


# ----- the fast path never disagrees with the reference path ---------------------------

VALUES = st.one_of(
    st.integers(min_value=-5, max_value=200),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 0.5, 1e6, 120.0, True, False, None, "1", "NaN"]),
)


def outcome(validator: InputValidator, payload: Any) -> Any:
    try:
        batch = validator.validate(payload)
    except SchemaViolation as exc:
        return exc.detail
    assert batch.matrix is not None
    return batch.matrix.tobytes()


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(VALUES, min_size=5, max_size=5), min_size=1, max_size=4))
def test_fast_path_agrees_with_reference(rows: list[list[Any]]) -> None:
    fast, slow = InputValidator(NUMERIC), SlowValidator(NUMERIC)
    instances = {"instances": [dict(zip(NUMERIC.names, r, strict=True)) for r in rows]}
    assert outcome(fast, instances) == outcome(slow, instances)
    for datatype in ("FP64", "FP32", "INT64", "INT8"):
        data = [v for r in rows for v in r]
        oip = {"inputs": [tensor(shape=[len(rows), 5], data=data, datatype=datatype)]}
        assert outcome(fast, oip) == outcome(slow, oip)


class FastOnly(InputValidator):
    """Fails if the reference path is used: proves the fast path really accepts."""

    def _coerce(self, *args: Any) -> Any:
        raise AssertionError("the per-value path was used")


def test_fast_path_is_taken_for_plain_requests() -> None:
    validator = FastOnly(NUMERIC)
    assert validator.validate({"instances": [ROW] * 3}).n_rows == 3
    assert validator.validate({"inputs": [tensor(shape=[2, 5], data=[EXPECTED] * 2)]}).n_rows == 2
    assert validator.validate(per_feature()).n_rows == 1
