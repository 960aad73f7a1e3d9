"""The servability smoke test: in process (``run_smoke``), and isolated with a deadline
(``SubprocessProbe``)."""

from __future__ import annotations

import io
import pickle
import sys

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from garrison.registry.servability import ServabilityRequest
from garrison.schema import InputSchema
from garrison.serving._smoke_child import expected_inputs, run_smoke, schema_rows
from garrison.serving.smoke import SubprocessProbe, decode_request, encode_request

rng = np.random.default_rng(5)
FRAME = pd.DataFrame({"age": rng.integers(18, 80, 120), "income": rng.normal(50, 9, 120),
                      "region": rng.choice(["n", "s", "e"], 120)})
LABEL = (FRAME["income"] > 50).astype(int)
NUMERIC = ["age", "income"]


def _schema(frame: pd.DataFrame) -> InputSchema:
    from garrison.detection import Profile

    return Profile.from_frame(frame).input_schema()


def _sample(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _request(artifact: bytes, frame: pd.DataFrame, *, fmt: str = "pickle",
             derived: bool = True, sample: bool = True, **extra: object) -> ServabilityRequest:
    return ServabilityRequest(
        ref="m:1", purpose="register", format=fmt, file_name=f"m.{fmt}", artifact=artifact,
        schema=_schema(frame), sample=_sample(frame) if sample else None, derived=derived,
        **extra)  # type: ignore[arg-type]


def test_a_model_fitted_on_named_columns_serves_its_reference() -> None:
    model = LogisticRegression().fit(FRAME[NUMERIC], LABEL)
    report = run_smoke(_request(pickle.dumps(model), FRAME[NUMERIC]))
    assert report.ok and report.rows == 64 and report.order == ("age", "income")
    assert report.inputs.names == ("age", "income") and report.inputs.count == 2


def test_the_readme_mistake_is_refused_naming_the_label() -> None:
    model = LogisticRegression().fit(FRAME[NUMERIC], LABEL)
    with_label = FRAME[NUMERIC].assign(label=LABEL)
    report = run_smoke(_request(pickle.dumps(model), with_label))
    assert not report.ok and "does not take: label" in report.problems[0]


def test_a_pipeline_selecting_columns_by_name_gets_them_by_name() -> None:
    pipeline = make_pipeline(ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
    ]), LogisticRegression()).fit(FRAME, LABEL)
    assert run_smoke(_request(pickle.dumps(pipeline), FRAME)).ok
    numeric_only = make_pipeline(ColumnTransformer([("num", StandardScaler(), NUMERIC)]),
                                 LogisticRegression()).fit(FRAME[NUMERIC], LABEL)
    # Numeric rows arrive as one matrix; the runtime gives them their names back.
    assert run_smoke(_request(pickle.dumps(numeric_only), FRAME[NUMERIC])).ok


def test_a_model_fitted_on_arrays_is_checked_by_count() -> None:
    model = LogisticRegression().fit(FRAME[NUMERIC].to_numpy(), LABEL)
    assert expected_inputs(model, "pickle").names is None
    assert run_smoke(_request(pickle.dumps(model), FRAME[NUMERIC])).ok
    report = run_smoke(_request(pickle.dumps(model), FRAME[NUMERIC].assign(target=LABEL)))
    assert "takes 2 features but the reference has 3" in report.problems[0]


def test_something_that_is_not_a_model_does_not_serve() -> None:
    report = run_smoke(_request(pickle.dumps({"coef": [1.0, 2.0]}), FRAME[NUMERIC]))
    assert not report.ok and "predict" in report.problems[0]


def test_explicit_schema_without_reference_is_smoke_tested_on_rows_from_it() -> None:
    model = LogisticRegression().fit(FRAME[NUMERIC], LABEL)
    report = run_smoke(_request(pickle.dumps(model), FRAME[NUMERIC], sample=False,
                                derived=False))
    assert report.ok and report.rows == 3
    schema = _schema(FRAME)
    rows = schema_rows(schema)
    assert [row["region"] for row in rows] == ["e", "n", "s"]
    age = schema["age"]
    assert [row["age"] for row in rows] == sorted(row["age"] for row in rows)
    assert all(age.minimum <= row["age"] <= age.maximum  # type: ignore[operator]
               and isinstance(row["age"], int) for row in rows)


def test_reference_rows_that_break_an_explicit_schema_are_refused() -> None:
    model = LogisticRegression().fit(FRAME[NUMERIC], LABEL)
    narrow = InputSchema.from_dict({"features": [
        {"name": "age", "type": "int", "minimum": 18, "maximum": 20},
        {"name": "income", "type": "float"}]})
    request = _request(pickle.dumps(model), FRAME[NUMERIC], derived=False)
    report = run_smoke(ServabilityRequest(**{**request.__dict__, "schema": narrow}))
    assert not report.ok and "breaks the input schema at 'age'" in report.problems[0]


def test_storable_formats_and_unloadable_bytes_are_refused() -> None:
    report = run_smoke(_request(b"\x00" * 16, FRAME[NUMERIC], fmt="safetensors"))
    assert report.problems == ("the artifact does not load: models in 'safetensors' format "
                               "can be stored but never served",)
    garbage = run_smoke(_request(b"not a pickle at all", FRAME[NUMERIC]))
    assert garbage.problems[0].startswith("the artifact does not load")


def test_onnx_graph_inputs_are_checked_and_served() -> None:
    from skl2onnx import to_onnx

    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        FRAME[NUMERIC].to_numpy(np.float32), LABEL)
    data = to_onnx(model, FRAME[NUMERIC].to_numpy(np.float32)[:1],
                   options={"zipmap": False}).SerializeToString()
    assert run_smoke(_request(data, FRAME[NUMERIC], fmt="onnx")).ok
    wrong = run_smoke(_request(data, FRAME[NUMERIC].assign(x=1.0), fmt="onnx"))
    assert "takes 2 features but the reference has 3" in wrong.problems[0]
    text = run_smoke(_request(data, FRAME[["age", "region"]], fmt="onnx"))
    assert "takes 'region' as a number" in text.problems[0]


def test_onnx_with_one_input_per_feature_is_matched_by_name() -> None:
    from skl2onnx import to_onnx

    frame = FRAME.astype({"age": np.float64})  # skl2onnx concatenates one float type.
    pipeline = make_pipeline(ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
    ]), LogisticRegression()).fit(frame, LABEL)
    data = to_onnx(pipeline, frame[:1], options={"zipmap": False}).SerializeToString()
    report = run_smoke(_request(data, frame[["region", "income", "age"]], fmt="onnx",
                                derived=False))
    assert report.ok, report.problems
    assert report.inputs.by_name and set(report.inputs.names or ()) == {*NUMERIC, "region"}


def test_requests_survive_the_pipe() -> None:
    request = _request(b"\x01\x02", FRAME[NUMERIC], suspects={"id": "why"},
                       policy_extension=("m.f",))
    again = decode_request(encode_request(request))
    assert again == request


def test_the_probe_runs_the_child_and_remembers_only_firm_outcomes() -> None:
    model = LogisticRegression().fit(FRAME[NUMERIC], LABEL)
    request = _request(pickle.dumps(model), FRAME[NUMERIC].sample(frac=1.0, random_state=9))
    probe = SubprocessProbe(timeout=300)
    first = probe.probe(request)
    assert first.ok and not first.cached and first.rows == 64
    assert probe.probe(request).cached
    broken = _request(pickle.dumps({"not": "a model"}), FRAME[NUMERIC].head(50))
    refused = probe.probe(broken)
    assert not refused.ok and "predict" in refused.problems[0]


def test_a_deadline_refuses_and_is_tried_again_next_time() -> None:
    model = LogisticRegression().fit(FRAME[NUMERIC], LABEL)
    request = _request(pickle.dumps(model), FRAME[NUMERIC].head(70))
    late = SubprocessProbe(timeout=0.01)
    report = late.probe(request)
    assert report.problems == ("the model did not load and predict within the 0.01 s "
                               "deadline (GARRISON_SMOKE_TEST_TIMEOUT)",)
    assert not late.probe(request).cached


def test_a_crashing_child_is_a_refusal_not_an_exception(tmp_path) -> None:
    script = tmp_path / "python"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('boom\\n')\n"
                      "sys.exit(3)\n")
    script.chmod(0o755)
    report = SubprocessProbe(timeout=60, python=str(script)).probe(
        _request(b"x", FRAME[NUMERIC].head(3)))
    assert report.problems == ("the smoke-test process failed (exit 3): boom",)
