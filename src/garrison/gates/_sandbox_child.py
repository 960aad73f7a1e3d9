"""What the gate child does: load both artifacts, read the data, evaluate, answer.

Runs inside ``python -m garrison.gates.sandbox`` (see :mod:`garrison.gates.sandbox`).
Artifacts load through the registry's guarded loaders (the same scanner policy as
serving). Each model sees only its own input features, in its own order, whatever
other columns the holdout set has: a scikit-learn estimator is called directly, any
other format through the gateway's runtime for it. Any failure becomes a ``problem``
in the answer, stated for the operator who ran the gate.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import numpy as np

from garrison.errors import GarrisonError
from garrison.gates.sandbox import PROGRESS_MARK, DataBlob, GateRequest

__all__ = ["ServedModel", "read_frame", "run_request"]

_NATIVE = frozenset({"pickle", "joblib", "cloudpickle", "skops", "sklearn"})


def _say(fraction: float, stage: str) -> None:
    sys.stderr.write(PROGRESS_MARK + json.dumps({"fraction": fraction, "stage": stage}) + "\n")
    sys.stderr.flush()


class ServedModel:
    """A loaded model seen through its own input features: ``predict`` (and, for a
    probabilistic classifier, ``predict_proba`` and ``classes_``) on any frame that has
    those columns."""

    def __init__(self, model: Any, fmt: str, features: tuple[str, ...]) -> None:
        self.features = list(features)
        if self.features:
            # What the checks read to pick a model's columns from the holdout frame.
            self.feature_names_in_ = np.asarray(self.features, dtype=object)
        family = fmt.split("+", 1)[0]
        self._native = model if family in _NATIVE and hasattr(model, "predict") else None
        self._runtime: Any = None
        if self._native is None:
            from garrison.serving.runtime import runtime_for

            self._runtime = runtime_for(model, fmt, self.features)
        self.model = model

    def _columns(self, X: Any) -> Any:
        if hasattr(X, "columns") and self.features and all(f in X.columns for f in self.features):
            return X[self.features]
        return X

    def predict(self, X: Any) -> np.ndarray:
        if self._native is not None:
            return np.asarray(self._native.predict(self._columns(X)))
        return np.asarray(self._runtime.predict(self._columns(X)).labels)


class ServedClassifier(ServedModel):
    """A :class:`ServedModel` that also gives class probabilities."""

    classes_: np.ndarray

    def __init__(self, model: Any, fmt: str, features: tuple[str, ...],
                 classes: np.ndarray) -> None:
        super().__init__(model, fmt, features)
        self.classes_ = np.asarray(classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        if self._native is not None:
            return np.asarray(self._native.predict_proba(self._columns(X)), dtype=np.float64)
        scores = self._runtime.predict(self._columns(X)).scores
        return np.asarray(scores, dtype=np.float64)


def serve(model: Any, fmt: str, features: tuple[str, ...], probe: Any) -> ServedModel:
    """Wrap ``model``; a classifier whose probabilities show on ``probe`` rows gets
    ``predict_proba``."""
    plain = ServedModel(model, fmt, features)
    if plain._native is not None:
        native = plain._native
        if hasattr(native, "predict_proba") and hasattr(native, "classes_"):
            return ServedClassifier(model, fmt, features, native.classes_)
        return plain
    out = plain._runtime.predict(plain._columns(probe))
    if out.scores is not None and out.classes is not None:
        return ServedClassifier(model, fmt, features, out.classes)
    return plain


def read_frame(blob: DataBlob) -> Any:
    import pandas as pd

    if blob.format == "parquet":
        return pd.read_parquet(io.BytesIO(blob.data))
    return pd.read_csv(io.BytesIO(blob.data))


def _load(data: bytes, fmt: str, extension: tuple[str, ...]) -> Any:
    from garrison.registry.loader import loader_for
    from garrison.scanning import DEFAULT_POLICY

    loader = loader_for(fmt)
    if loader is None:
        raise GarrisonError(f"models in {fmt!r} format can be stored but never evaluated")
    policy = DEFAULT_POLICY.with_allowed(*extension) if extension else DEFAULT_POLICY
    return loader(data, policy)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def run_request(request: GateRequest) -> dict[str, Any]:
    """The whole evaluation in this process; returns ``{"result": ...}`` or
    ``{"problem": ...}``."""
    from garrison.gates.evaluate import evaluate
    from garrison.gates.policy import GatePolicy

    try:
        _say(0.02, "reading the holdout and training data")
        holdout = read_frame(request.holdout)
        training = None
        if request.training:
            import pandas as pd

            frames = [read_frame(t) for t in request.training]
            training = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        _say(0.08, "loading the candidate and production artifacts")
        probe = holdout.head(8)
        candidate = serve(_load(request.candidate, request.candidate_format,
                                request.policy_extension),
                          request.candidate_format, request.candidate_features, probe)
        production = None
        if request.production is not None:
            production = serve(_load(request.production, request.production_format,
                                     request.policy_extension),
                               request.production_format, request.production_features, probe)
        policy = GatePolicy.from_mapping(request.policy)
        _say(0.15, "evaluating the checks")

        def checked(check: str, done: int, total: int) -> None:
            _say(0.15 + 0.8 * done / max(total, 1), f"{check} checked")

        result = evaluate(candidate, production, holdout, policy, training, seed=request.seed,
                          progress=checked)
        _say(1.0, "done")
        return {"result": result.to_mapping()}
    except GarrisonError as exc:
        return {"problem": exc.message}
    except MemoryError:
        return {"problem": "the gate process ran out of memory (GARRISON_GATE_MEMORY_MB)"}
    except Exception as exc:
        return {"problem": f"the evaluation failed: {type(exc).__name__}: {_short(exc)}"}
