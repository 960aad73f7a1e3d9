"""Drift of a window of live rows against a reference profile.

A check drifts only when BOTH hold: its p-value is significant after a
multiple-testing correction across every check of the window (Benjamini-Hochberg by
default, or Holm), AND its effect size reaches its threshold. The first controls
false alarms on small windows, the second on large ones, where any tiny, harmless
difference becomes "significant".

Checks per feature: the distribution (numeric: KS + normalized Wasserstein / PSI;
categorical: chi-square + Jensen-Shannon), the location of numeric features (a rank
test against the profile's CDF, which finds a small shift of the whole distribution
that the KS statistic misses), the missing rate, and new categories.
Across features: every pair's Spearman correlation (Fisher z test, effect |delta rho|),
which catches a change of dependence while every marginal stays the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from garrison.detection.profile import Profile, category_label
from garrison.detection.stattests import StatResult, get_stattest
from garrison.errors import InvalidInput

__all__ = [
    "DriftCheck", "DriftConfig", "DriftReport", "FeatureDrift", "adjust_pvalues", "compare",
]


@dataclass(frozen=True)
class DriftConfig:
    """Defaults: alpha 0.05 after Benjamini-Hochberg; effect thresholds in ``thresholds``
    override each test's registered default (wasserstein 0.1, psi 0.1, jensenshannon
    0.1, rank-location 0.06 standard deviations, missing-rate 0.05, new-category 0.01,
    correlation 0.1). ``location`` adds the rank-location check of numeric features."""

    alpha: float = 0.05
    correction: str = "bh"
    numeric_test: str = "ks"
    numeric_effects: tuple[str, ...] = ("wasserstein", "psi")
    categorical_test: str = "chi2"
    categorical_effects: tuple[str, ...] = ("jensenshannon",)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    correlation: bool = True
    location: bool = True
    min_rows: int = 20
    drift_share: float = 0.0

    def threshold(self, name: str, default: float | None) -> float | None:
        return float(self.thresholds[name]) if name in self.thresholds else default


_DEFAULTS = {"missing-rate": 0.05, "new-category": 0.01, "correlation": 0.1}


@dataclass(frozen=True)
class DriftCheck:
    """One tested hypothesis: ``method`` gave ``statistic`` and ``p_value``
    (``p_adjusted`` after correction); ``effect`` is the deciding effect measure."""

    feature: str
    check: str
    method: str
    statistic: float
    p_value: float
    p_adjusted: float
    significant: bool
    effect_method: str
    effect_size: float
    threshold: float
    drifted: bool
    effects: tuple[StatResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature, "check": self.check, "method": self.method,
            "statistic": _num(self.statistic), "p_value": _num(self.p_value),
            "p_adjusted": _num(self.p_adjusted), "significant": self.significant,
            "effect_method": self.effect_method, "effect_size": _num(self.effect_size),
            "threshold": self.threshold, "drifted": self.drifted,
            "effects": [
                {"method": e.method, "effect_size": _num(e.effect_size), "threshold": e.threshold}
                for e in self.effects
            ],
        }


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    type: str
    drifted: bool
    checks: tuple[DriftCheck, ...]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature, "type": self.type, "drifted": self.drifted,
            "rows": self.rows, "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class DriftReport:
    """Dataset verdict: drifted when the share of drifted features exceeds
    ``drift_share`` (default 0: any feature) or any correlation pair drifted."""

    drifted: bool
    rows_reference: int
    rows_current: int
    alpha: float
    correction: str
    features: tuple[FeatureDrift, ...]
    correlation_pairs: int
    correlation_drift: tuple[DriftCheck, ...]
    max_correlation_delta: float

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "alpha": self.alpha,
            "correction": self.correction,
            "drifted_features": self.drifted_features,
            "features": [f.to_dict() for f in self.features],
            "correlation": {
                "method": "spearman-fisher-z",
                "pairs_tested": self.correlation_pairs,
                "max_delta": _num(self.max_correlation_delta),
                "drifted_pairs": [c.to_dict() for c in self.correlation_drift],
            },
        }


def adjust_pvalues(p: np.ndarray, method: str = "bh") -> np.ndarray:
    """Adjusted p-values: Benjamini-Hochberg ("bh"), Holm ("holm") or none ("none")."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    order = np.argsort(p)
    ranked = p[order]
    if method == "bh":
        adj = ranked * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(adj[::-1])[::-1]
    elif method == "holm":
        adj = np.maximum.accumulate(ranked * (m - np.arange(m)))
    else:
        raise InvalidInput(f"unknown correction {method!r}")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


@dataclass
class _Pending:
    feature: str
    check: str
    sig: StatResult
    effects: list[StatResult]
    #: False for a test that cannot reject whatever the window holds (a missing rate
    #: with no missing value on either side). It is reported, but it does not count
    #: in the multiple-testing correction (Tarone's rule for discrete tests), where it
    #: would only make the other checks harder to pass.
    testable: bool = True


def compare(
    profile: Profile, current: pd.DataFrame, config: DriftConfig | None = None
) -> DriftReport:
    """Compare the window ``current`` with ``profile``; columns the profile lacks are ignored."""
    config = config or DriftConfig()
    if not isinstance(current, pd.DataFrame):
        raise InvalidInput("the current window must be a DataFrame")
    pending: list[_Pending] = []
    rows: dict[str, int] = {}
    for feat in profile.features:
        if feat.name not in current.columns:
            raise InvalidInput(f"the current window lacks column {feat.name!r}")
        column = current[feat.name]
        present = column.dropna()
        rows[feat.name] = len(present)
        n = len(column)
        if n >= config.min_rows:
            pending.append(_missing_check(feat.name, feat.missing, feat.count,
                                          n - len(present), n, config))
        if len(present) < config.min_rows:
            continue
        if feat.is_discrete:
            labels = _labels(present)
            sig = get_stattest(config.categorical_test)(feat, labels)
            effects = [_effect(e, feat, labels, config) for e in config.categorical_effects]
            pending.append(_Pending(feat.name, "distribution", sig, effects))
            if not feat.other_count:
                pending.append(_new_category_check(feat, labels, config))
        elif feat.quantiles:
            if feat.type == "string":
                values = present.astype(str).str.len().to_numpy(dtype=float)
            else:
                values = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
                values = values[np.isfinite(values)]
            if len(values) < config.min_rows:
                continue
            # Every numeric test is blind to order: one sort here makes each test's own
            # sort, partition or unique run on sorted data, which numpy does much faster.
            values = np.sort(values)
            sig = get_stattest(config.numeric_test)(feat, values)
            effects = [_effect(e, feat, values, config) for e in config.numeric_effects]
            pending.append(_Pending(feat.name, "distribution", sig, effects))
            if config.location and feat.type in ("float", "int"):
                test = get_stattest("rank-location")
                loc = test(feat, values, config.threshold(test.id, test.default_threshold))
                pending.append(_Pending(feat.name, "location", loc, [loc]))
    n_feature_checks = len(pending)
    if config.correlation:
        pending.extend(_correlation_checks(profile, current, config))
    raw = np.array([p.sig.p_value if p.sig.p_value is not None else 1.0 for p in pending])
    testable = np.array([p.testable for p in pending], dtype=bool)
    adjusted = np.ones(len(pending))
    adjusted[testable] = adjust_pvalues(raw[testable], config.correction)
    checks = [_decide(p, float(a), config.alpha) for p, a in zip(pending, adjusted, strict=False)]
    by_feature: dict[str, list[DriftCheck]] = {}
    for c in checks[:n_feature_checks]:
        by_feature.setdefault(c.feature, []).append(c)
    features = tuple(
        FeatureDrift(f.name, f.type, any(c.drifted for c in by_feature.get(f.name, [])),
                     tuple(by_feature.get(f.name, [])), rows[f.name])
        for f in profile.features
    )
    corr = checks[n_feature_checks:]
    share = sum(f.drifted for f in features) / len(features)
    drifted_pairs = tuple(c for c in corr if c.drifted)
    any_feature = any(f.drifted for f in features)
    return DriftReport(
        drifted=(any_feature and share > config.drift_share) or bool(drifted_pairs),
        rows_reference=profile.rows, rows_current=len(current), alpha=config.alpha,
        correction=config.correction, features=features, correlation_pairs=len(corr),
        correlation_drift=drifted_pairs,
        max_correlation_delta=max((c.effect_size for c in corr), default=0.0),
    )


def _effect(name: str, feat: Any, values: np.ndarray, config: DriftConfig) -> StatResult:
    test = get_stattest(name)
    return test(feat, values, config.threshold(name, test.default_threshold))


def _decide(p: _Pending, adjusted: float, alpha: float) -> DriftCheck:
    # The deciding effect is the one furthest above (or closest to) its threshold.
    best = max(p.effects, key=lambda e: (e.effect_size or 0.0) / (e.threshold or 1.0))
    significant = adjusted <= alpha
    return DriftCheck(
        feature=p.feature, check=p.check, method=p.sig.method, statistic=p.sig.statistic,
        p_value=float(p.sig.p_value if p.sig.p_value is not None else 1.0),
        p_adjusted=adjusted, significant=significant, effect_method=best.method,
        effect_size=float(best.effect_size or 0.0), threshold=float(best.threshold or 0.0),
        drifted=significant and any(e.exceeds for e in p.effects), effects=tuple(p.effects),
    )


def _missing_check(name: str, ref_missing: int, ref_n: int, cur_missing: int, cur_n: int,
                   config: DriftConfig) -> _Pending:
    p1, p2 = ref_missing / ref_n, cur_missing / cur_n
    pooled = (ref_missing + cur_missing) / (ref_n + cur_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ref_n + 1 / cur_n))
    z = (p2 - p1) / se if se > 0 else 0.0
    p = float(2 * special.ndtr(-abs(z)))  # norm.sf without its argument checks
    threshold = config.threshold("missing-rate", _DEFAULTS["missing-rate"])
    effect = StatResult("missing-rate-delta", abs(p2 - p1), effect_size=abs(p2 - p1),
                        threshold=threshold)
    return _Pending(name, "missing-rate", StatResult("two-proportion-z", z, p_value=p), [effect],
                    testable=ref_missing + cur_missing > 0)


def _new_category_check(feat: Any, labels: np.ndarray, config: DriftConfig) -> _Pending:
    unseen = int((~np.isin(labels, np.array(list(feat.categories), dtype=str))).sum())
    n = len(labels)
    # Good-Turing: the share of values seen once estimates the mass of unseen values.
    null_rate = max(feat.singletons, 1) / max(feat.present, 1)
    p = float(stats.binom.sf(unseen - 1, n, null_rate)) if unseen else 1.0
    threshold = config.threshold("new-category", _DEFAULTS["new-category"])
    effect = StatResult("new-category-share", unseen / n, effect_size=unseen / n,
                        threshold=threshold)
    sig = StatResult("binomial-good-turing", float(unseen), p_value=p)
    return _Pending(feat.name, "new-category", sig, [effect])


def _correlation_checks(profile: Profile, current: pd.DataFrame,
                        config: DriftConfig) -> list[_Pending]:
    names = list(profile.correlation_features)
    if len(names) < 2 or len(current) < max(config.min_rows, 10):
        return []
    # Column by column: DataFrame.apply costs ten times the conversions themselves.
    matrix = np.column_stack([pd.to_numeric(current[n], errors="coerce").to_numpy(dtype=float)
                              for n in names])
    if np.isnan(matrix).any():
        frame = pd.DataFrame(matrix, columns=names)
        cur = frame.corr(method="spearman").to_numpy()
        counts = frame.notna().astype(float)
        pair_n = (counts.T @ counts).to_numpy()
    else:
        ranks = stats.rankdata(matrix, axis=0)
        cur = np.asarray(np.corrcoef(ranks, rowvar=False))
        pair_n = np.full((len(names), len(names)), float(len(matrix)))
    ref = np.asarray(profile.correlation)
    present_in = {f.name: f.present for f in profile.features}
    present = np.array([present_in[n] for n in names])
    threshold = config.threshold("correlation", _DEFAULTS["correlation"])
    iu, ju = np.triu_indices(len(names), k=1)
    r_cur, r_ref, n_cur = cur[iu, ju], ref[iu, ju], pair_n[iu, ju]
    n_ref = np.minimum(present[iu], present[ju])
    keep = np.isfinite(r_cur) & (n_cur >= 10)
    # Fisher z with the Bonett-Wright variance of Spearman's rho, (1 + rho^2 / 2) / (n - 3),
    # evaluated at the reference value (the null); all pairs at once.
    with np.errstate(invalid="ignore", divide="ignore"):
        zc = np.arctanh(np.clip(r_cur, -0.9999, 0.9999))
        zr = np.arctanh(np.clip(r_ref, -0.9999, 0.9999))
        var = 1.0 + r_ref * r_ref / 2.0
        se = np.sqrt(var / (n_cur - 3) + var / np.maximum(n_ref - 3, 1))
        z = (zc - zr) / se
    p = 2.0 * special.ndtr(-np.abs(z))  # The two-sided normal tail, as norm.sf computes it.
    delta = np.abs(r_cur - r_ref)
    out = []
    for k in np.flatnonzero(keep):
        i, j = iu[k], ju[k]
        effect = StatResult("spearman-delta", float(delta[k]), effect_size=float(delta[k]),
                            threshold=threshold)
        out.append(_Pending(f"{names[i]}|{names[j]}", "correlation",
                            StatResult("fisher-z", float(z[k]), p_value=float(p[k])), [effect]))
    return out


def _labels(values: pd.Series) -> np.ndarray:
    """Category labels as in the profile (``category_label``), vectorized when possible."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.to_numpy(dtype=str)
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.where(values.to_numpy(dtype=bool), "true", "false")
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy().astype(np.int64).astype(str)
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype=float)
        if np.all(np.isfinite(arr) & (arr == np.round(arr))):
            return arr.astype(np.int64).astype(str)
    return values.map(category_label).to_numpy(dtype=str)


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)
