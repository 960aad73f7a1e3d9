"""The compiled serving path: tree ensembles (and numeric scalers in front) on ONNX Runtime.

scikit-learn spends most of a small ``predict_proba`` call on input validation and
thread-pool set-up, not on arithmetic; the gateway has already validated every value
against the schema. :func:`choose_runtime` therefore tries, when a version is loaded
for serving, to build a native evaluator of the same model:

* scikit-learn ``RandomForest*``, ``ExtraTrees*``, ``DecisionTree*``,
  ``GradientBoosting*`` and ``HistGradientBoosting*`` (``compiled_trees.py``: float64
  ONNX tree graphs),
* XGBoost and LightGBM boosters, native or in their scikit-learn wrappers
  (``compiled_boosters.py``: the same graphs, read from the libraries' own model dumps),
* any of them behind ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
  ``RobustScaler`` or numeric ``SimpleImputer`` steps of a ``Pipeline`` (the same numpy
  operations scikit-learn runs),
* and the linear fast path the runtime module already picks (``LinearRuntime``).

A candidate serves only if it reproduces the original on the version's sealed reference
sample: same classes and labels, probabilities within :data:`TOLERANCE` (values of a
regressor within :data:`TOLERANCE` relative). Otherwise, or when there is no reference
sample, the original serves. Either way the outcome is a :class:`Compilation` that the
table builder records in the audit trail (``compile-model-version``). The signed artifact
stays the source of truth: nothing compiled is stored, it is rebuilt at every load.

A graph that sends missing values (NaN) where the model does (the boosters, and
scikit-learn's ``HistGradientBoosting*`` and forests, whose trees record a side for NaN),
or whose pipeline fills them with a ``SimpleImputer`` first, scores the reference rows
that have a missing value in the check above, and is then also checked on reference rows
with holes punched in them, one feature at a time, then all. If it disagrees there, rows
with a missing value go to the original model (``missing_values`` in the audit payload
says which).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from garrison.serving.compiled_prep import split_pipeline
from garrison.serving.runtime import (
    BoosterRuntime,
    LinearRuntime,
    ModelRuntime,
    RuntimeOutput,
    SklearnRuntime,
)

__all__ = [
    "TOLERANCE", "Compilation", "CompiledLinear", "CompiledRuntime", "choose_runtime",
    "compile_model",
]

#: Largest difference (absolute on probabilities, relative on values) a compiled
#: runtime may show against the original on the reference sample.
TOLERANCE = 1e-6
#: Longest a batch may take to score on the event loop itself (seconds).
INLINE_BUDGET = 0.001
_MAX_INLINE_ROWS = 1000


@dataclass(frozen=True)
class Compilation:
    """What :func:`choose_runtime` decided for one version (an audit payload)."""

    compiled: bool
    runtime: str
    family: str
    reason: str = ""
    rows: int = 0
    max_abs_diff: float | None = None
    seconds: float = 0.0
    #: Who scores rows with a missing value: "compiled" (checked on rows with holes) or
    #: "original"; empty when nothing was compiled.
    missing_values: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {"compiled": self.compiled, "runtime": self.runtime, "family": self.family,
                "reason": self.reason, "reference_rows": self.rows,
                "max_abs_diff": self.max_abs_diff, "tolerance": TOLERANCE,
                "seconds": round(self.seconds, 3), "missing_values": self.missing_values}


class CompiledLinear(LinearRuntime):
    """The linear fast path plus what lets detectors use its linearity: ``decision``
    (rows -> decision values), ``decision_shift`` (a perturbation's exact effect on the
    decision) and ``proba_of_decision`` (scikit-learn's link)."""

    @classmethod
    def of(cls, runtime: LinearRuntime) -> CompiledLinear:
        twin = cls.__new__(cls)
        twin.__dict__.update(runtime.__dict__)
        return twin

    def decision(self, X: np.ndarray) -> np.ndarray:
        Z = np.array(X, dtype=np.float64)
        if self._mean is not None:
            Z -= self._mean
        if self._scale is not None:
            Z /= self._scale
        decision: np.ndarray = Z @ self._coef + self._intercept
        return decision

    def decision_shift(self, noise: np.ndarray) -> np.ndarray:
        Z = np.array(noise, dtype=np.float64)
        if self._scale is not None:
            Z /= self._scale
        shift: np.ndarray = Z @ self._coef
        return shift

    def proba_of_decision(self, decision: np.ndarray) -> np.ndarray:
        if decision.shape[1] == 1:
            proba = np.empty((len(decision), 2))
            proba[:, 1] = self._expit(decision[:, 0])
            np.subtract(1.0, proba[:, 1], out=proba[:, 0])
            return proba
        softmax: np.ndarray = self._softmax(decision, axis=1)
        return softmax


def _session(onnx_bytes: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # Workers are the parallelism (see native_threads).
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


class CompiledRuntime:
    """A tree ensemble evaluated by ONNX Runtime, scalers applied in numpy first.

    ``inline``: the cost is bounded by the trees' depth, so the data plane may score
    small batches on the event loop. A batch with a missing value (NaN) goes to the
    original model unless ``missing_ok``: the graph sends NaN where the model does (or an
    imputer in front fills it) and :func:`choose_runtime` checked it on rows with missing
    values.
    """

    inline = True
    inline_rows = 64  # Set from the measured cost once the runtime is checked.

    def __init__(self, model: Any, session: Any, *, prep: list[Callable[[np.ndarray], None]],
                 classes: np.ndarray | None, base: np.ndarray, link: Any, cast32: bool,
                 family: str, fallback: ModelRuntime, missing_ok: bool = False,
                 single: bool = False) -> None:
        self.model = model
        self.kind = f"compiled:{family}"
        self._session = session
        self._input = session.get_inputs()[0].name
        self._prep = prep
        self._classes = classes
        self._base = base
        self._link = link
        self._cast32 = cast32
        self._single = single  # The graph takes float32 rows (XGBoost); else float64.
        self._fallback = fallback
        self.missing_ok = missing_ok

    def _array(self, X: Any) -> np.ndarray:
        if isinstance(X, Mapping):
            from garrison.errors import UnsupportedModel

            raise UnsupportedModel("the compiled runtime takes numeric features only")
        return np.array(X, dtype=np.float64)

    def _rows(self, Z: np.ndarray) -> np.ndarray:
        """Rows as the graph takes them (``Z`` is a copy, prepared in place)."""
        for step in self._prep:
            step(Z)
        if self._single:
            return Z.astype(np.float32)
        if self._cast32:
            Z = Z.astype(np.float32).astype(np.float64)
        return Z

    def _raw(self, Z: np.ndarray) -> np.ndarray:
        raw = np.asarray(self._session.run(None, {self._input: Z})[0], dtype=np.float64)
        raw += self._base
        return raw

    def _to_original(self, Z: np.ndarray) -> bool:
        """Whether the input rows (before any imputer) go to the original model."""
        return not self.missing_ok and bool(np.isnan(Z).any())

    def predict_proba(self, X: Any) -> np.ndarray:
        """The original's ``predict_proba`` for validated numeric rows (classifiers)."""
        if self._classes is None:
            from garrison.errors import UnsupportedModel

            raise UnsupportedModel("a regressor has no predict_proba")
        Z = self._array(X)
        if self._to_original(Z):
            proba: np.ndarray = self._fallback.predict(X).scores  # type: ignore[assignment]
            return proba
        raw = self._raw(self._rows(Z))
        if self._link is None:
            return raw
        return np.asarray(self._link(raw[:, 0] if raw.shape[1] == 1 else raw),
                          dtype=np.float64)

    def predict(self, X: Any) -> RuntimeOutput:
        if self._classes is not None:
            proba = self.predict_proba(X)
            return RuntimeOutput(self._classes[proba.argmax(axis=1)], proba, self._classes)
        Z = self._array(X)
        if self._to_original(Z):
            return self._fallback.predict(X)
        raw = self._raw(self._rows(Z))[:, 0]
        values = raw if self._link is None else self._link(raw)
        return RuntimeOutput(np.asarray(values, dtype=np.float64))


def compile_model(model: Any, feature_names: list[str],
                  fallback: ModelRuntime) -> CompiledRuntime | None:
    """A candidate compiled runtime for ``model``, or None when its kind is not compiled.

    Raises when a supported kind cannot be converted (the caller records why).
    """
    from garrison.serving.compiled_trees import build_graph

    split = split_pipeline(model)
    if split is None:
        return None
    prep, estimator, fills = split
    graph = build_graph(estimator)
    if graph is None:
        return None
    classes = getattr(estimator, "classes_", None) if graph.classifier else None
    if graph.classifier and classes is None:  # A native booster: its outputs' indices.
        classes = np.arange(max(2, graph.n_targets))
    return CompiledRuntime(model, _session(graph.onnx), prep=prep,
                           classes=None if classes is None else np.asarray(classes),
                           base=graph.base, link=graph.link, cast32=graph.cast32,
                           family=graph.family, fallback=fallback,
                           missing_ok=graph.missing or fills,
                           single=graph.single)


def _difference(original: RuntimeOutput, candidate: RuntimeOutput) -> float:
    """Largest disagreement (inf when labels or classes differ)."""
    if (original.scores is None) != (candidate.scores is None):
        return float("inf")
    if original.scores is not None and candidate.scores is not None:
        if original.classes is None or candidate.classes is None \
                or not np.array_equal(original.classes, candidate.classes) \
                or original.scores.shape != candidate.scores.shape:
            return float("inf")
        diff = float(np.max(np.abs(original.scores - candidate.scores), initial=0.0))
        if not np.array_equal(original.labels, candidate.labels):
            # A tie broken the other way is still a different answer.
            return max(diff, float("inf"))
        return diff
    a = np.asarray(original.labels, dtype=np.float64)
    b = np.asarray(candidate.labels, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a)), initial=0.0))


def choose_runtime(runtime: ModelRuntime, model: Any, feature_names: list[str],
                   reference: np.ndarray | None) -> tuple[ModelRuntime, Compilation]:
    """The runtime to serve with: a compiled one that reproduces ``model`` on the
    reference sample, else the original runtime (``runtime`` itself when ``runtime_for``
    picked no fast path: scikit-learn, or a native booster's own)."""
    started = time.perf_counter()
    fast = isinstance(runtime, LinearRuntime)
    if not fast and not isinstance(runtime, SklearnRuntime | BoosterRuntime):
        return runtime, Compilation(False, runtime.kind, type(model).__name__,
                                    "served by its own runtime")
    original: ModelRuntime = SklearnRuntime(model, feature_names) if fast else runtime
    family = type(model).__name__

    def keep(reason: str, rows: int = 0, diff: float | None = None) -> tuple[
            ModelRuntime, Compilation]:
        return original, Compilation(False, original.kind, family, reason, rows, diff,
                                     time.perf_counter() - started)

    try:
        candidate: Any = CompiledLinear.of(runtime) if isinstance(runtime, LinearRuntime) \
            else compile_model(model, feature_names, original)
    except Exception as exc:  # A converter's refusal: the original serves.
        return keep(f"not compiled: {type(exc).__name__}: {str(exc)[:200]}")
    if candidate is None:
        return keep("no compiled runtime for this model")
    if reference is None or not len(reference):
        return keep("no reference sample to check the compiled runtime against")
    try:
        expected = original.predict(reference)
        got = candidate.predict(reference)  # Also warms it: the first call allocates.
        diff = _difference(expected, got)
        # Timed on finite rows: a candidate that takes no NaN hands the others to the
        # original, whose cost is not the graph's.
        finite = reference[~np.isnan(np.asarray(reference, dtype=np.float64)).any(axis=1)]
        timing = finite if len(finite) else reference
        timed = time.perf_counter()
        candidate.predict(timing)
        per_row = (time.perf_counter() - timed) / len(timing)
    except Exception as exc:
        return keep(f"the compiled runtime failed on the reference sample: "
                    f"{type(exc).__name__}", len(reference))
    if not diff < TOLERANCE:
        return keep("the compiled runtime disagrees with the model on the reference "
                    "sample", len(reference), diff if np.isfinite(diff) else None)
    # Batches the event loop may score itself: those within INLINE_BUDGET seconds (a
    # thread hop costs more than that); larger ones go to the bounded executor.
    candidate.inline_rows = int(min(_MAX_INLINE_ROWS, max(1, INLINE_BUDGET / max(per_row,
                                                                                  1e-9))))
    missing = "original"
    if getattr(candidate, "missing_ok", False):
        holes = _holes(reference)
        try:
            agrees = _difference(original.predict(holes), candidate.predict(holes)) < TOLERANCE
        except Exception:  # The original refuses NaN, say: so will the served runtime.
            agrees = False
        candidate.missing_ok = agrees
        missing = "compiled" if agrees else "original"
    return candidate, Compilation(True, candidate.kind, family, "", len(reference), diff,
                                  time.perf_counter() - started, missing)


def _holes(reference: np.ndarray, budget: int = 256) -> np.ndarray:
    """Reference rows with one feature missing at a time, and a row of missing values:
    where the model sends NaN is checked like the rest."""
    n = reference.shape[1]
    rows = reference[:max(1, budget // max(1, n))]
    blocks = []
    for j in range(n):
        block = np.array(rows, dtype=np.float64)
        block[:, j] = np.nan
        blocks.append(block)
    blocks.append(np.full((1, n), np.nan))
    return np.vstack(blocks)
