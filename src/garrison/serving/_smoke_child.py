"""What the smoke-test child does: load, compare inputs with the schema, validate, predict.

Runs inside ``python -m garrison.serving.smoke`` (see :mod:`garrison.serving.smoke`).
Every step is the gateway's own: the registry's guarded loader, the gateway's input
validator and runtime, the output hardening. Any failure becomes a problem in the
report, stated for the operator who tries the transition.
"""

from __future__ import annotations

import io
import math
import re
import time
from typing import Any

import numpy as np

from garrison.errors import GarrisonError
from garrison.registry.servability import (
    ModelInputs,
    ServabilityReport,
    ServabilityRequest,
    compare_inputs,
)
from garrison.schema import FeatureSpec, InputSchema

__all__ = ["expected_inputs", "run_smoke", "schema_rows"]

_AUTO_LIGHTGBM = re.compile(r"Column_\d+")
_ONNX_KINDS = {"tensor(string)": "string", "tensor(int64)": "integer",
               "tensor(int32)": "integer", "tensor(int16)": "integer", "tensor(int8)": "integer",
               "tensor(uint8)": "integer"}
_XGBOOST_KINDS = {"int": "integer", "i": "numeric", "float": "numeric", "q": "numeric",
                  "c": "category"}


def _attribute(model: Any, name: str) -> Any:
    try:
        return getattr(model, name, None)
    except Exception:  # Some estimators raise other errors from properties when unfitted.
        return None


def expected_inputs(model: Any, fmt: str) -> ModelInputs:
    """What ``model`` declares about its inputs (names, count, types), as far as it does."""
    family = fmt.split("+", 1)[0]
    if family == "onnx":
        session = getattr(model, "session", model)
        inputs = session.get_inputs()
        kinds = {i.name: _ONNX_KINDS.get(i.type, "numeric") for i in inputs}
        if len(inputs) == 1:
            shape = inputs[0].shape
            count = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
            return ModelInputs(count=count, types={"*": kinds[inputs[0].name]},
                               source="ONNX graph input")
        return ModelInputs(names=tuple(i.name for i in inputs), count=len(inputs),
                           types=kinds, by_name=True, source="ONNX graph inputs")
    module = type(model).__module__.split(".", 1)[0]
    if module == "xgboost" and callable(_attribute(model, "num_features")):
        names = model.feature_names
        types = model.feature_types or []
        return ModelInputs(
            names=tuple(names) if names else None, count=int(model.num_features()),
            types={n: _XGBOOST_KINDS.get(t, "numeric")
                   for n, t in zip(names or [], types, strict=False)},
            source="XGBoost booster")
    if module == "lightgbm" and callable(_attribute(model, "num_feature")):
        names = list(model.feature_name())
        declared = names and not all(_AUTO_LIGHTGBM.fullmatch(n) for n in names)
        return ModelInputs(names=tuple(names) if declared else None,
                           count=int(model.num_feature()), source="LightGBM booster")
    raw_names = _attribute(model, "feature_names_in_")
    count = _attribute(model, "n_features_in_")
    return ModelInputs(
        names=tuple(str(n) for n in raw_names) if raw_names is not None else None,
        count=int(count) if count is not None else None,
        source=f"{type(model).__name__} (feature_names_in_, n_features_in_)")


def _plain(value: Any, spec: FeatureSpec) -> Any:
    """One reference cell as the JSON value a client would send."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    if spec.type == "bool":
        return bool(value)
    if spec.type == "float":
        return float(value)
    if spec.type == "int":
        number = float(value)
        return int(number) if number.is_integer() else number
    return str(value)


def reference_rows(sample: bytes, schema: InputSchema, limit: int) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(sample))
    missing = [n for n in schema.names if n not in frame.columns]
    if missing:
        raise GarrisonError(f"the reference sample lacks features: {missing[:8]}")
    frame = frame[schema.names].head(limit)
    records = frame.to_dict(orient="records")
    return [{spec.name: _plain(row[spec.name], spec) for spec in schema.features}
            for row in records]


def _values(spec: FeatureSpec) -> list[Any]:
    if spec.type == "bool":
        return [False, True, False]
    if spec.type == "category":
        cats = list(spec.categories or ("a",))
        return [cats[i % len(cats)] for i in range(3)]
    if spec.type == "string":
        return ["a", "b", "c"]
    lo = spec.minimum if spec.minimum is not None else (
        spec.maximum - 1.0 if spec.maximum is not None else 0.0)
    hi = spec.maximum if spec.maximum is not None else lo + 1.0
    if spec.type == "int":
        return [math.ceil(lo), math.floor((lo + hi) / 2.0), math.floor(hi)]
    return [float(lo), (lo + hi) / 2.0, float(hi)]


def schema_rows(schema: InputSchema) -> list[dict[str, Any]]:
    """Three rows inside the schema (lowest, middle, highest values) for versions
    registered without reference data."""
    columns = {spec.name: _values(spec) for spec in schema.features}
    return [{name: values[i] for name, values in columns.items()} for i in range(3)]


def _violation(exc: GarrisonError) -> str:
    where = exc.detail.get("field")
    row = exc.detail.get("row")
    problem = exc.detail.get("problem") or exc.message
    return (f"reference row {row} breaks the input schema at {where!r}: {problem}"
            if where is not None else f"the reference rows break the input schema: {problem}")


def _check_output(out: Any, n: int) -> list[str]:
    from garrison.serving.output import OutputPolicy

    labels = np.asarray(out.labels)
    if labels.ndim == 0 or labels.shape[0] != n:
        return [f"the model returned {labels.shape[0] if labels.ndim else 1} answers for "
                f"{n} rows"]
    if out.scores is not None:
        hardened = OutputPolicy().apply(out.scores, out.classes)
        hardened.to_oip_outputs()
    elif labels.dtype.kind in "fc" and not np.isfinite(labels).all():
        return ["the model returned values that are not finite numbers"]
    return []


def _predict(request: ServabilityRequest, model: Any, schema: InputSchema) -> tuple[int, list[str]]:
    from garrison.serving.runtime import runtime_for
    from garrison.serving.smoke import MAX_ROWS
    from garrison.serving.validation import InputValidator

    try:
        rows = (reference_rows(request.sample, schema, MAX_ROWS) if request.sample is not None
                else schema_rows(schema))
    except GarrisonError as exc:
        return 0, [exc.message]
    try:
        batch = InputValidator(schema).validate({"instances": rows})
    except GarrisonError as exc:
        return 0, [_violation(exc)]
    X = batch.matrix if batch.matrix is not None else batch.as_columns()
    try:
        runtime = runtime_for(model, request.format, schema.names)
        out = runtime.predict(X)
        return len(rows), _check_output(out, len(rows))
    except GarrisonError as exc:
        cause = exc.__cause__
        reason = f"{exc.message}" + (f" ({type(cause).__name__}: {_short(cause)})"
                                     if cause is not None else "")
        return len(rows), [f"the model cannot predict: {reason}"]
    except Exception as exc:
        return len(rows), [f"the model failed to predict {len(rows)} reference rows: "
                           f"{type(exc).__name__}: {_short(exc)}"]


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _load(request: ServabilityRequest) -> Any:
    from garrison.errors import UnsupportedModel
    from garrison.registry.loader import loader_for
    from garrison.scanning import DEFAULT_POLICY

    loader = loader_for(request.format)
    if loader is None:
        raise UnsupportedModel(f"models in {request.format!r} format can be stored but "
                               "never served")
    policy = (DEFAULT_POLICY.with_allowed(*request.policy_extension)
              if request.policy_extension else DEFAULT_POLICY)
    return loader(request.artifact, policy)


def run_smoke(request: ServabilityRequest) -> ServabilityReport:
    """The whole smoke test, in this process (the child calls it)."""
    started = time.perf_counter()
    try:
        model = _load(request)
    except GarrisonError as exc:
        return ServabilityReport(problems=(f"the artifact does not load: {exc.message}",))
    except ImportError as exc:
        return ServabilityReport(problems=(
            f"the artifact does not load: {_short(exc)} (install the extra its format needs, "
            "e.g. garrison[boost])",))
    except Exception as exc:
        return ServabilityReport(problems=(
            f"the artifact does not load: {type(exc).__name__}: {_short(exc)}",))
    inputs = expected_inputs(model, request.format)
    problems, order = compare_inputs(inputs, request.schema, derived=request.derived,
                                     suspects=request.suspects)
    if problems:
        return ServabilityReport(problems=tuple(problems), inputs=inputs,
                                 seconds=time.perf_counter() - started)
    schema = request.schema
    if tuple(order) != tuple(schema.names):
        schema = InputSchema(tuple(schema[name] for name in order), version=schema.version)
    rows, failures = _predict(request, model, schema)
    return ServabilityReport(problems=tuple(failures), order=tuple(order), rows=rows,
                             inputs=inputs, seconds=time.perf_counter() - started)
