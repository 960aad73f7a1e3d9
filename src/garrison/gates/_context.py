"""What every check shares: the holdout split into features and label, and each model's outputs.

The models are asked once for their outputs on the holdout rows (``Scored``); the
checks reuse them and only query a model again when they need new inputs (noise, the
attack, training rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from garrison.errors import GarrisonError, InvalidInput, ModelUnavailable, UnsupportedModel
from garrison.gates._twin import LinearTwin, linear_twin, plain_sklearn_linear
from garrison.gates.policy import GatePolicy

__all__ = ["Context", "Scored", "build_context", "model_outputs", "spread_of"]

# Rows on which a model's own predict() is compared with the argmax of its predict_proba().
_CONSISTENCY_ROWS = 256


@dataclass(frozen=True)
class Scored:
    """One model's outputs on a set of rows: decisions, and probabilities when it gives them.

    ``proba`` columns follow ``Context.classes``; ``None`` for regressors and for
    classifiers without ``predict_proba``.
    """

    pred: np.ndarray
    proba: np.ndarray | None


@dataclass(frozen=True)
class Context:
    """The holdout set and both models' outputs on it, computed once per gate run."""

    policy: GatePolicy
    frame: pd.DataFrame
    y: np.ndarray
    classes: np.ndarray | None
    positive: Any
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    spread: dict[str, float]
    candidate_model: Any
    production_model: Any | None
    candidate: Scored
    production: Scored | None
    training: pd.DataFrame | None
    seed: int
    # Verified numeric twins of linear models (``garrison.gates._twin``), or None.
    candidate_twin: LinearTwin | None = None
    production_twin: LinearTwin | None = None
    # Each model's holdout feature frame, selected once (a column selection is not free).
    inputs: dict[int, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)
    # The same frames as float matrices, converted once.
    matrices: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_classification(self) -> bool:
        return self.policy.task == "classification"

    @property
    def label(self) -> str:
        assert self.policy.label is not None
        return self.policy.label

    def rng(self, salt: int) -> np.random.Generator:
        """A generator per check, so enabling one check never changes another's draws."""
        return np.random.default_rng([self.seed, salt])

    def scored(self, model: Any, frame: pd.DataFrame) -> Scored:
        """``model``'s outputs on ``frame`` (holdout-shaped rows without the label)."""
        return model_outputs(model, frame[feature_columns(model, frame, self.label)], self.classes)

    def holdout_inputs(self, model: Any) -> pd.DataFrame:
        """The holdout rows as ``model`` reads them (its feature columns, in its order)."""
        cached = self.inputs.get(id(model))
        if cached is None:
            cached = self.frame[feature_columns(model, self.frame, self.label)]
            self.inputs[id(model)] = cached
        return cached

    def holdout_matrix(self, model: Any) -> np.ndarray:
        """``holdout_inputs(model)`` as a float matrix (missing values as NaN), read-only."""
        cached = self.matrices.get(id(model))
        if cached is None:
            cached = self.holdout_inputs(model).to_numpy(dtype=float, na_value=np.nan)
            cached.flags.writeable = False
            self.matrices[id(model)] = cached
        return cached

    def twin(self, model: Any) -> LinearTwin | None:
        """The verified twin of the candidate or production model, if it has one."""
        if model is self.candidate_model:
            return self.candidate_twin
        if model is self.production_model:
            return self.production_twin
        return None

    def _twin_rows(self, model: Any, frame: pd.DataFrame) -> tuple[LinearTwin, np.ndarray] | None:
        """The twin and ``frame``'s rows as its float matrix, when the twin may answer."""
        twin = self.twin(model)
        if twin is None:
            return None
        x = frame[feature_columns(model, frame, self.label)].to_numpy(dtype=float, na_value=np.nan)
        return (twin, x) if np.isfinite(x).all() else None

    def probabilities(self, model: Any, frame: pd.DataFrame) -> Scored:
        """``model``'s probabilities on ``frame`` in one call (decisions only when it has
        none): for measures of the probabilities alone, such as per-row losses."""
        if self.classes is None or not hasattr(model, "predict_proba"):
            return self.scored(model, frame)
        fast = self._twin_rows(model, frame)
        if fast is not None:
            proba = fast[0].proba(fast[1])
            return Scored(self.classes[np.argmax(proba, axis=1)], proba)
        x = frame[feature_columns(model, frame, self.label)]
        raw = np.asarray(model.predict_proba(x), dtype=float)
        if raw.ndim != 2 or raw.shape[0] != len(x):
            raise UnsupportedModel("the model's predict_proba returned an unexpected shape")
        proba = _align_proba(model, raw, self.classes)
        return Scored(self.classes[np.argmax(proba, axis=1)], proba)

    def decisions(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        """``model``'s decisions on ``frame``: its own ``predict`` (one call), or its twin's."""
        fast = self._twin_rows(model, frame)
        if fast is not None:
            return fast[0].labels(fast[1])
        pred = model.predict(frame[feature_columns(model, frame, self.label)])
        if self.classes is None:
            return np.asarray(pred, dtype=float).ravel()
        return np.asarray(pred).ravel()


def _is_categorical(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def spread_of(values: np.ndarray) -> float:
    """A robust standard deviation: IQR / 1.349, else the standard deviation, else 0."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return 0.0
    q1, q3 = np.percentile(finite, [25, 75])
    robust = float(q3 - q1) / 1.349
    return robust if robust > 0 else float(np.std(finite))


def _interpolated(ordered: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile of each row of the row-sorted ``ordered`` (linear interpolation)."""
    position = q * (ordered.shape[1] - 1)
    low = int(np.floor(position))
    high = min(low + 1, ordered.shape[1] - 1)
    fraction = position - low
    result: np.ndarray = ordered[:, low] + fraction * (ordered[:, high] - ordered[:, low])
    return result


def spreads_of(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, float]:
    """``spread_of`` every column, in one pass when no value is missing or infinite."""
    if not columns:
        return {}
    block = frame if tuple(frame.columns) == columns else frame[list(columns)]
    # One row per column: the percentiles' partial sorts then run over contiguous memory.
    values = np.ascontiguousarray(block.to_numpy(dtype=float, na_value=np.nan).T)
    if not np.isfinite(values).all() or values.shape[1] < 2:
        return {c: spread_of(values[j]) for j, c in enumerate(columns)}
    # Quartiles by linear interpolation, as np.percentile's default, from one full sort
    # (vectorized sorting is cheaper than the selection np.percentile runs).
    ordered = np.sort(values, axis=1)
    q1, q3 = (_interpolated(ordered, q) for q in (0.25, 0.75))
    robust = (q3 - q1) / 1.349
    spread = np.where(robust > 0, robust, values.std(axis=1))
    return {c: float(spread[j]) for j, c in enumerate(columns)}


def feature_columns(model: Any, frame: pd.DataFrame, label: str) -> list[str]:
    """The columns the model was fitted on when it says so, else every column but the label."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        wanted = [str(n) for n in names]
        missing = [n for n in wanted if n not in frame.columns]
        if missing:
            raise InvalidInput(
                "the data lacks columns the model was fitted on",
                columns=[m[:80] for m in missing[:10]],
            )
        return wanted
    return [c for c in frame.columns if c != label]


def _align_proba(model: Any, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    model_classes = getattr(model, "classes_", None)
    if model_classes is None:
        if proba.shape[1] != classes.size:
            raise UnsupportedModel("the model's probabilities do not match the holdout's classes")
        return proba
    out = np.zeros((proba.shape[0], classes.size), dtype=float)
    index = {c: i for i, c in enumerate(classes.tolist())}
    for j, c in enumerate(np.asarray(model_classes).tolist()):
        if c in index:
            out[:, index[c]] = proba[:, j]
    return out


def model_outputs(model: Any, frame: pd.DataFrame, classes: np.ndarray | None) -> Scored:
    """Ask ``model`` for its decisions (and probabilities) on ``frame``.

    When the classifier exposes ``classes_`` and ``predict_proba``, its decisions are the
    argmax of the probabilities (one pass instead of two); that shortcut is verified
    against ``predict`` on the first rows, and abandoned if they disagree.
    """
    if classes is None:
        return Scored(np.asarray(model.predict(frame), dtype=float).ravel(), None)
    if not hasattr(model, "predict_proba"):
        return Scored(np.asarray(model.predict(frame)).ravel(), None)
    raw = np.asarray(model.predict_proba(frame), dtype=float)
    if raw.ndim != 2 or raw.shape[0] != len(frame):
        raise UnsupportedModel("the model's predict_proba returned an unexpected shape")
    proba = _align_proba(model, raw, classes)
    model_classes = getattr(model, "classes_", None)
    if model_classes is None:
        return Scored(np.asarray(model.predict(frame)).ravel(), proba)
    pred = np.asarray(model_classes)[np.argmax(raw, axis=1)]
    head = np.asarray(model.predict(frame.iloc[:_CONSISTENCY_ROWS])).ravel()
    if not np.array_equal(head, pred[:_CONSISTENCY_ROWS]):
        pred = np.asarray(model.predict(frame)).ravel()
    return Scored(pred, proba)


def _score(which: str, model: Any, inputs: pd.DataFrame, classes: np.ndarray | None) -> Scored:
    """``model``'s outputs on the holdout rows; a model that fails says which one did."""
    try:
        return model_outputs(model, inputs, classes)
    except UnsupportedModel as exc:
        raise UnsupportedModel(f"the {which}'s outputs are unusable: {exc.message}") from exc
    except GarrisonError:
        raise
    except Exception as exc:  # only the type: a model's message may quote holdout values
        raise ModelUnavailable(
            f"the {which} failed on the holdout rows ({type(exc).__name__})"
        ) from exc


def _positive_class(policy: GatePolicy, classes: np.ndarray) -> Any:
    """The class the policy calls positive (matched by value, or by its text: a CSV reads
    "1" as the integer 1), or ``None`` for the default."""
    wanted = policy.positive_label
    if wanted is None:
        return None
    if classes.size != 2:
        raise InvalidInput(
            "gate policy positive_label applies to binary labels", key="positive_label"
        )
    for c in classes.tolist():
        if c == wanted or str(c) == str(wanted):
            return c
    raise InvalidInput(
        "gate policy positive_label is not one of the holdout's classes", key="positive_label"
    )


def _verified_twin(
    model: Any,
    scored: Scored | None,
    inputs: pd.DataFrame,
    numeric: tuple[str, ...],
    classes: np.ndarray | None,
    matrices: dict[int, np.ndarray],
) -> LinearTwin | None:
    """``model``'s linear twin, checked against its outputs on every holdout row (the
    float matrix of ``inputs`` is kept in ``matrices``, under the frame's id)."""
    if scored is None or not plain_sklearn_linear(model):
        return None
    if not set(inputs.columns) <= set(numeric):
        return None
    x = matrices.get(id(inputs))
    if x is None:
        x = inputs.to_numpy(dtype=float, na_value=np.nan)
        x.flags.writeable = False
        matrices[id(inputs)] = x
    return linear_twin(model, x, scored.pred, scored.proba, classes)


def build_context(
    candidate: Any,
    production: Any | None,
    holdout: pd.DataFrame,
    policy: GatePolicy,
    training: pd.DataFrame | None,
    seed: int,
) -> Context:
    """Validate the inputs against the policy and score both models on the holdout rows."""
    if policy.label is None:
        raise InvalidInput(
            "the gate policy names no label and the holdout dataset declares no target column"
        )
    if not isinstance(holdout, pd.DataFrame) or len(holdout) == 0:
        raise InvalidInput("the holdout set is empty")
    for column in (policy.label, policy.sensitive):
        if column is not None and column not in holdout.columns:
            raise InvalidInput(
                "the holdout set lacks a column the gate policy names", column=column
            )
    if training is not None and policy.label not in training.columns:
        raise InvalidInput("the training set lacks the label column", column=policy.label)
    holdout = holdout.reset_index(drop=True)
    y_series = holdout[policy.label]
    if y_series.isna().any():
        raise InvalidInput("the holdout set has rows without a label", column=policy.label)
    frame = holdout.drop(columns=[policy.label])
    # Plain object column labels: pandas 3's Arrow-backed string index costs on every
    # iteration and selection, and every check selects and lists columns.
    frame.columns = pd.Index(list(frame.columns), dtype=object)
    columns = list(frame.columns)
    classes: np.ndarray | None = None
    if policy.task == "classification":
        y = y_series.to_numpy()
        labels = np.unique(y)
        known = [getattr(m, "classes_", None) for m in (candidate, production) if m is not None]
        pool = [labels] + [np.asarray(k) for k in known if k is not None]
        try:
            classes = np.unique(np.concatenate(pool))
        except TypeError as exc:  # e.g. string labels against a model's integer classes
            raise InvalidInput("the holdout labels are not of the models' class type") from exc
        for model_classes in known:
            if model_classes is not None and not np.isin(labels, np.asarray(model_classes)).any():
                raise InvalidInput(
                    "none of the holdout labels is a class the model predicts",
                    column=policy.label,
                )
        if labels.size < 2:
            raise InvalidInput("a classification holdout set needs at least two classes")
        positive = _positive_class(policy, classes)
    else:
        if not pd.api.types.is_numeric_dtype(y_series):
            raise InvalidInput("a regression label must be numeric", column=policy.label)
        y = y_series.to_numpy(dtype=float, na_value=np.nan)
        positive = None
    numeric = tuple(c for c in columns if not _is_categorical(frame[c]))
    categorical = tuple(c for c in columns if c not in numeric)
    inputs = {id(candidate): frame[feature_columns(candidate, frame, policy.label)]}
    # The candidate's columns are often exactly the numeric ones: no second selection.
    spread = spreads_of(
        inputs[id(candidate)] if tuple(inputs[id(candidate)].columns) == numeric else frame,
        numeric,
    )
    cand = _score("candidate", candidate, inputs[id(candidate)], classes)
    prod = None
    if production is not None:
        columns = feature_columns(production, frame, policy.label)
        same = list(inputs[id(candidate)].columns) == columns
        inputs[id(production)] = inputs[id(candidate)] if same else frame[columns]
        prod = _score("production version", production, inputs[id(production)], classes)
    by_frame: dict[int, np.ndarray] = {}
    twins = [
        _verified_twin(model, scored, inputs[id(model)], numeric, classes, by_frame)
        if model is not None
        else None
        for model, scored in ((candidate, cand), (production, prod))
    ]
    matrices = {
        id(model): by_frame[id(inputs[id(model)])]
        for model in (candidate, production)
        if model is not None and id(inputs[id(model)]) in by_frame
    }
    return Context(
        inputs=inputs,
        matrices=matrices,
        candidate_twin=twins[0],
        production_twin=twins[1],
        policy=policy,
        frame=frame,
        y=y,
        classes=classes,
        positive=positive,
        numeric=numeric,
        categorical=categorical,
        spread=spread,
        candidate_model=candidate,
        production_model=production,
        candidate=cand,
        production=prod,
        training=training,
        seed=seed,
    )
