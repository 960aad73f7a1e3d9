"""The composed per-request monitor: rules plus calibrated multivariate detectors.

``InputMonitor.fit`` profiles the reference, derives the schema the rules enforce,
fits each detector on one part of the reference and calibrates all thresholds
together on the held-out part so that, on data like the reference, a share ``fpr``
of rows is flagged by some detector (the rules add their own, data-independent
violations on top).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from garrison.detection import adversarial as _adversarial  # noqa: F401  (registers)
from garrison.detection import multivariate as _multivariate  # noqa: F401  (registers)
from garrison.detection.base import (
    DetectionResult,
    Detector,
    FitContext,
    Policy,
    _json_float,
    calibrate_union,
    detector_info,
    make_detector,
)
from garrison.detection.encoding import CategoryCodes, FrameModel
from garrison.detection.profile import Profile
from garrison.detection.rules import RuleChecker
from garrison.errors import InvalidInput, UnsupportedModel
from garrison.schema import InputSchema

__all__ = ["DEFAULT_DETECTORS", "MODEL_DETECTORS", "InputMonitor", "RowVerdict"]

DEFAULT_DETECTORS = ("magnitude", "mahalanobis")
#: The model-based default, chosen by measurement (docs/detection.md); ``confidence-profile``
#: is registered and can be named, but in the union it spends the false-positive budget
#: without catching more minimal-perturbation attacks than these two.
MODEL_DETECTORS = ("perturbation-instability", "neighbour-disagreement")
#: Each model-based detector's share of the false-positive budget against one of the others.
MODEL_WEIGHT = 3.0
#: Below this many calibration rows the thresholds are set on out-of-fold scores of the
#: whole reference (cross-fitting) instead of on the holdout alone.
CROSS_FIT_BELOW = 1000
_SCORE_CAP = 1e6


@dataclass(slots=True)
class RowVerdict:
    """The monitor's verdict on one row.

    ``score`` is the largest ratio score / threshold over the calibrated detectors
    (above 1 means at least one flagged); ``action`` is the deployment policy when the
    row is anomalous, else ``None``. Not frozen, for speed on the request path.
    """

    anomalous: bool
    score: float
    reasons: tuple[str, ...]
    results: tuple[DetectionResult, ...]
    action: Policy | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "anomalous": self.anomalous,
            "score": _json_float(self.score),
            "reasons": list(self.reasons),
            "action": self.action.value if self.action else None,
            "results": [r.to_dict() for r in self.results],
        }


def _first_score(det: Detector) -> Any:
    def score_one(x: np.ndarray) -> float:
        return float(det.score(x[None, :])[0])

    return score_one


def _ignore_threshold(score: Any) -> Any:
    def decide(rows: np.ndarray, threshold: float) -> np.ndarray:
        return np.asarray(score(rows))

    return decide


class _NamedModel:
    """Passes a DataFrame to models fitted with feature names (avoids their warning)."""

    def __init__(self, model: Any, names: Sequence[str]) -> None:
        self.model = model
        self.names = list(names)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(pd.DataFrame(rows, columns=self.names)))


class InputMonitor:
    """Rules + fitted detectors + calibrated thresholds for one deployment."""

    def __init__(
        self,
        profile: Profile,
        checker: RuleChecker,
        detectors: Mapping[str, Detector],
        thresholds: Mapping[str, float],
        *,
        fpr: float,
        policy: Policy = Policy.FLAG,
        holdout_rate: float | None = None,
        codes: CategoryCodes | None = None,
        full: Iterable[str] = (),
    ) -> None:
        self.profile = profile
        self.checker = checker
        self.detectors = dict(detectors)
        self.thresholds = dict(thresholds)
        self.fpr = fpr
        self.policy = Policy(policy)
        self.holdout_rate = holdout_rate
        # Detectors in ``full`` score [numeric | category codes] rows (a mixed model).
        self._codes = codes
        full = set(full)
        self._plan = [
            (name, det, self.thresholds[name], 1.0 / max(self.thresholds[name], 1e-12),
             name in full)
            for name, det in self.detectors.items()
        ]
        self._fast = [
            (name, getattr(det, "score_one", None) or _first_score(det), t, inv, wide)
            for name, det, t, inv, wide in self._plan
        ]
        # What ``flags`` calls: a detector's ``decide`` (exact above the threshold, may
        # stop early below it), else its ``score``.
        self._decide = [
            (getattr(det, "decide", None) or _ignore_threshold(det.score), t)
            for _, det, t, _, _ in self._plan
        ]
        self._limits = np.array([t for _, _, t, _, _ in self._plan])
        self._inverse = np.array([inv for _, _, _, inv, _ in self._plan])

    @property
    def input_schema(self) -> InputSchema:
        return self.checker.schema

    @property
    def numeric_names(self) -> list[str]:
        return self.checker.numeric_names

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        model: Any = None,
        fpr: float = 0.01,
        *,
        detectors: Iterable[str] | None = None,
        holdout: float = 0.3,
        margin: float = 0.1,
        policy: Policy | str = Policy.FLAG,
        rng: np.random.Generator | int | None = 0,
        profile: Profile | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> InputMonitor:
        """Fit on ``reference`` (input columns only, or declare outputs in ``profile``).

        ``detectors`` defaults to ``DEFAULT_DETECTORS`` plus ``MODEL_DETECTORS`` when a
        model is given. ``params`` overrides a detector's constructor parameters.
        ``weights`` sets each detector's share of the false-positive budget (see
        ``calibrate_union``); by default a model-based detector gets ``MODEL_WEIGHT``
        times the share of the others. Calibration rows are the holdout, or, for a
        reference with fewer than ``CROSS_FIT_BELOW`` holdout rows, every row scored
        out of fold.
        """
        if not 0.0 < holdout < 1.0:
            raise InvalidInput("holdout must be in (0, 1)")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        profile = profile or Profile.from_frame(reference)
        schema = profile.input_schema(margin=margin)
        impute = {}
        for name in schema.names:
            feat = profile[name]
            if feat.type == "bool":
                cats = feat.categories
                impute[name] = float(cats.get("true", 0) > cats.get("false", 0))
            elif feat.type in ("float", "int"):
                impute[name] = feat.median if feat.median is not None else 0.0
        checker = RuleChecker(schema, impute)
        missing_cols = [n for n in schema.names if n not in reference.columns]
        if missing_cols:
            raise InvalidInput(f"reference lacks columns {missing_cols}")
        _, numeric = checker.check_frame(reference[schema.names])
        chosen = list(detectors) if detectors is not None else (
            list(DEFAULT_DETECTORS) + (list(MODEL_DETECTORS) if model is not None else [])
        )
        if chosen and not checker.numeric_names:
            chosen = []
        needs_model = [d for d in chosen if detector_info(d).needs_model]
        codes: CategoryCodes | None = None
        if needs_model:
            codes = CategoryCodes(schema, profile, reference)
            if len(checker.numeric_names) + len(codes) != len(schema.names):
                raise UnsupportedModel("model-based detectors need every input feature to be "
                                       "numeric or a category")
            if not len(codes):
                codes = None
        if codes is not None:
            model = FrameModel(model, checker.numeric_names, codes, schema.names)
            full = np.hstack([numeric, codes.frame(reference[schema.names])])
        else:
            if model is not None and hasattr(model, "feature_names_in_"):
                model = _NamedModel(model, checker.numeric_names)
            full = numeric
        n = len(numeric)
        n_hold = round(n * holdout)
        if chosen and (n_hold < 20 or n - n_hold < 20):
            raise InvalidInput("the reference is too small to fit and calibrate detectors")
        scale = numeric.std(axis=0) if n else np.ones(numeric.shape[1])
        scale = np.where(scale > 0, scale, 1.0)
        sizes = tuple(codes.sizes) if codes is not None else ()
        contexts = {
            False: FitContext(rng=gen, scale=scale, model=model),
            True: FitContext(rng=gen, scale=np.concatenate([scale, np.ones(len(sizes))]),
                             model=model, categories=sizes),
        }
        uses_full = {name: detector_info(name).needs_model for name in chosen}

        def fit_one(name: str, rows: np.ndarray) -> Detector:
            det = make_detector(name, **dict((params or {}).get(name, {})))
            det.fit(rows, contexts[uses_full[name]])
            return det

        matrices = {False: numeric, True: full}
        order = gen.permutation(n)
        if chosen and n_hold < CROSS_FIT_BELOW:
            # A small reference: every row is scored once by detectors fitted on the
            # other folds, so the thresholds rest on all n rows, not on the holdout alone.
            folds = np.array_split(order, max(2, round(1 / holdout)))
            held = {name: np.empty(n) for name in chosen}
            for part in folds:
                rest = np.setdiff1d(order, part)
                for name in chosen:
                    mat = matrices[uses_full[name]]
                    held[name][part] = fit_one(name, mat[rest]).score(mat[part])
            fitted = {name: fit_one(name, matrices[uses_full[name]]) for name in chosen}
        else:
            fit_rows, hold_rows = order[n_hold:], order[:n_hold]
            fitted = {name: fit_one(name, matrices[uses_full[name]][fit_rows])
                      for name in chosen}
            held = {name: det.score(matrices[uses_full[name]][hold_rows])
                    for name, det in fitted.items()}
        if weights is None:
            # With a model, most of the false-positive budget goes to the detectors that
            # look through it: evasion is what only they can see (docs/detection.md).
            weights = {name: MODEL_WEIGHT if uses_full[name] else 1.0 for name in chosen}
        thresholds = calibrate_union(held, fpr, weights) if fitted else {}
        rate = None
        if fitted:
            flagged = np.zeros(len(next(iter(held.values()))), dtype=bool)
            for name, scores in held.items():
                flagged |= scores > thresholds[name]
            rate = float(flagged.mean())
        return cls(profile, checker, fitted, thresholds, fpr=fpr, policy=Policy(policy),
                   holdout_rate=rate, codes=codes,
                   full=[name for name in fitted if uses_full[name] and codes is not None])

    def score_row(self, row: Mapping[str, Any]) -> RowVerdict:
        """Verdict on one request given as a mapping of feature name to value."""
        if not isinstance(row, Mapping):
            raise InvalidInput("a row must be a mapping of feature names to values")
        reasons, values = self.checker.check_row(row)
        wide = values if self._codes is None else np.concatenate([values, self._codes.row(row)])
        results: list[DetectionResult] = []
        if reasons:
            results.append(DetectionResult("rules", float(len(reasons)), True, 0.0,
                                           tuple(reasons)))
        best = 0.0
        for name, score_one, threshold, inv, uses_wide in self._fast:
            s = score_one(wide if uses_wide else values)
            flag = s > threshold
            ratio = s * inv
            if ratio > best:
                best = ratio
            if flag:
                reason = f"{name}: {s:.4g} > {threshold:.4g}"
                reasons.append(reason)
                results.append(DetectionResult(name, s, True, threshold, (reason,)))
            else:
                results.append(DetectionResult(name, s, False, threshold))
        return self._verdict(reasons, best, results)

    def score_batch(self, rows: np.ndarray | Sequence[Sequence[Any]]) -> list[RowVerdict]:
        """Verdicts for a 2-D array whose columns are ``input_schema.names`` in order."""
        if isinstance(rows, np.ndarray) and self.checker.passes_all(rows):
            # No rule can fire and nothing needs imputing: the detectors score as is.
            return self._score_matrix([[] for _ in range(len(rows))], rows)
        reasons, numeric = self.checker.check_batch(rows)
        codes = None
        if self._codes is not None:
            codes = self._codes.batch(np.asarray(rows, dtype=object), self.checker.schema.names)
        return self._score_matrix(reasons, numeric, codes)

    def flags(self, rows: np.ndarray, reasons: int = 5) -> list[dict[str, Any]]:
        """Only the anomalous rows, as ``{"row", "score", "reasons"}`` (at most
        ``reasons`` reasons each): what the gateway reports. The verdicts of
        :meth:`score_batch`, computed column-wise, with no per-row Python work unless a
        row is flagged; a detector with ``decide`` may stop early on a row that is
        clearly below its threshold (``perturbation-instability``: a sequential test,
        see its ``decide``), and scores every flagged row in full."""
        if not self.checker.passes_all(rows):
            return [{"row": i, "score": round(float(v.score), 4),
                     "reasons": list(v.reasons)[:reasons]}
                    for i, v in enumerate(self.score_batch(rows)) if v.anomalous]
        if not self._plan:
            return []
        if len(rows) == 1:  # The common request: plain floats beat array bookkeeping.
            values = [float(decide(rows, t)[0]) for decide, t in self._decide]
            if all(v <= t for v, (_, _, t, _, _) in zip(values, self._plan, strict=True)):
                return []
            scores = np.array([values])  # The same draws: never scored twice.
        else:
            scores = np.column_stack([decide(rows, t) for decide, t in self._decide])
        over = scores > self._limits
        hit = np.flatnonzero(over.any(axis=1))
        if not hit.size:
            return []
        best = np.clip((scores[hit] * self._inverse).max(axis=1), 0.0, _SCORE_CAP)
        out = []
        for j, i in enumerate(hit):
            why = [f"{name}: {float(s):.4g} > {t:.4g}"
                   for (name, _, t, _, _), s, o in zip(self._plan, scores[i], over[i],
                                                       strict=True)
                   if o]
            out.append({"row": int(i), "score": round(float(best[j]), 4),
                        "reasons": why[:reasons]})
        return out

    def score_frame(self, frame: pd.DataFrame) -> list[RowVerdict]:
        """Verdicts for a DataFrame (extra columns are reported as unknown features)."""
        reasons, numeric = self.checker.check_frame(frame)
        codes = self._codes.frame(frame) if self._codes is not None else None
        return self._score_matrix(reasons, numeric, codes)

    def _score_matrix(self, reasons: list[list[str]], numeric: np.ndarray,
                      codes: np.ndarray | None = None) -> list[RowVerdict]:
        n = len(reasons)
        wide = numeric if codes is None else np.hstack([numeric, codes])
        scores = {name: det.score(wide if uses_wide else numeric)
                  for name, det, _, _, uses_wide in self._plan}
        out = []
        for i in range(n):
            row_reasons = reasons[i]
            results: list[DetectionResult] = []
            if row_reasons:
                results.append(DetectionResult("rules", float(len(row_reasons)), True, 0.0,
                                               tuple(row_reasons)))
            best = 0.0
            for name, _, threshold, inv, _ in self._plan:
                s = float(scores[name][i])
                best = max(best, s * inv)
                if s > threshold:
                    reason = f"{name}: {s:.4g} > {threshold:.4g}"
                    row_reasons.append(reason)
                    results.append(DetectionResult(name, s, True, threshold, (reason,)))
                else:
                    results.append(DetectionResult(name, s, False, threshold))
            out.append(self._verdict(row_reasons, best, results))
        return out

    def _verdict(
        self, reasons: list[str], best: float, results: list[DetectionResult]
    ) -> RowVerdict:
        anomalous = bool(reasons)
        return RowVerdict(
            anomalous=anomalous, score=min(best, _SCORE_CAP), reasons=tuple(reasons),
            results=tuple(results), action=self.policy if anomalous else None,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary: detectors, thresholds, target and held-out flag rate."""
        return {
            "fpr": self.fpr,
            "policy": self.policy.value,
            "holdout_flag_rate": self.holdout_rate,
            "detectors": [
                {**detector_info(name).to_dict(), "threshold": self.thresholds[name]}
                for name in self.detectors
            ],
            "schema": self.checker.schema.to_dict(),
        }
