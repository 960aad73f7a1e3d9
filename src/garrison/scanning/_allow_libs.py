"""Allow-list data for the libraries around a model: numpy and scikit-learn functions,
pandas containers, pyarrow arrays, standard-library value types.

Same invariant as ``_allow_table``: calling an entry with anything a pickle can build from
allow-listed parts runs no code chosen by the file. Entries whose arguments must have a
fixed shape are ``guarded`` (see ``_pickle_guards``); entries that create an instance of a
class given as their first argument are ``reconstructor``s, and that argument must be a
directly imported, allow-listed class.
"""

from __future__ import annotations

from garrison.scanning._allow_entry import AllowEntry, same

__all__ = [
    "LIB_EXACT",
    "NUMPY_FUNCTIONS",
    "NUMPY_UFUNCS",
    "PANDAS_OFFSETS",
    "SKLEARN_FUNCTIONS",
]

#: numpy ufuncs by their ``__name__`` (how numpy 2 pickles them: a plain global in
#: ``numpy``; numpy 1.x pickled them through ``_ufunc_reconstruct('numpy', name)``).
#: Elementwise arithmetic: calling one only computes on its array arguments.
NUMPY_UFUNCS = frozenset({
    "absolute", "add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "bitwise_and", "bitwise_count", "bitwise_or", "bitwise_xor", "cbrt", "ceil",
    "conjugate", "copysign", "cos", "cosh", "deg2rad", "degrees", "divide", "divmod", "equal",
    "exp", "exp2", "expm1", "fabs", "float_power", "floor", "floor_divide", "fmax", "fmin",
    "fmod", "frexp", "gcd", "greater", "greater_equal", "heaviside", "hypot", "invert",
    "isfinite", "isinf", "isnan", "isnat", "lcm", "ldexp", "left_shift", "less", "less_equal",
    "log", "log10", "log1p", "log2", "logaddexp", "logaddexp2", "logical_and", "logical_not",
    "logical_or", "logical_xor", "matmul", "maximum", "minimum", "modf", "multiply",
    "negative", "nextafter", "not_equal", "positive", "power", "rad2deg", "radians",
    "reciprocal", "remainder", "right_shift", "rint", "sign", "signbit", "sin", "sinh",
    "spacing", "sqrt", "square", "subtract", "tan", "tanh", "true_divide", "trunc",
})

#: numpy reductions and array functions used as parameters (``FeatureAgglomeration(
#: pooling_func=np.median)``, ``FunctionTransformer(np.clip)``, partials of them). They
#: compute on their arguments; the names that read or write files (``load``, ``save``,
#: ``fromfile``, ``memmap``, ``loadtxt``) or wrap callables (``vectorize``,
#: ``frompyfunc``, ``apply_along_axis``, ``piecewise``) are not here.
NUMPY_FUNCTIONS = frozenset({
    "mean", "median", "sum", "prod", "max", "min", "amax", "amin", "std", "var", "average",
    "nanmean", "nanmedian", "nansum", "nanprod", "nanmax", "nanmin", "nanstd", "nanvar",
    "percentile", "quantile", "nanpercentile", "nanquantile", "ptp", "round", "around",
    "round_", "clip", "cumsum", "cumprod", "diff", "sort", "argsort", "argmax", "argmin",
    "any", "all", "abs", "asarray", "ravel", "squeeze", "nan_to_num", "digitize", "unique",
    "count_nonzero", "log1p", "sqrt", "exp", "log", "tanh", "sign", "floor", "ceil",
})

#: scikit-learn functions that fitted models keep as parameters or attributes: univariate
#: score functions, the k-means inner loops BisectingKMeans stores, and the metric
#: functions of scorers (GridSearchCV.scorer_). All compute on arrays; scikit-learn's other
#: functions (file writers such as ``export_graphviz``, ``set_config``) are not here.
SKLEARN_FUNCTIONS: dict[str, frozenset[str]] = {
    "sklearn.feature_selection._univariate_selection": frozenset({
        "f_classif", "f_oneway", "f_regression", "chi2", "r_regression"}),
    "sklearn.feature_selection._mutual_info": frozenset({
        "mutual_info_classif", "mutual_info_regression"}),
    "sklearn.cluster._kmeans": frozenset({"_kmeans_single_lloyd", "_kmeans_single_elkan"}),
    "sklearn.metrics._classification": frozenset({
        "accuracy_score", "balanced_accuracy_score", "brier_score_loss", "class_likelihood_ratios",
        "cohen_kappa_score", "d2_brier_score", "d2_log_loss_score", "f1_score", "fbeta_score",
        "hamming_loss", "hinge_loss", "jaccard_score", "log_loss", "matthews_corrcoef",
        "precision_score", "recall_score", "zero_one_loss"}),
    "sklearn.metrics._regression": frozenset({
        "d2_absolute_error_score", "d2_pinball_score", "d2_tweedie_score",
        "explained_variance_score", "max_error", "mean_absolute_error",
        "mean_absolute_percentage_error", "mean_gamma_deviance", "mean_pinball_loss",
        "mean_poisson_deviance", "mean_squared_error", "mean_squared_log_error",
        "mean_tweedie_deviance", "median_absolute_error", "r2_score", "root_mean_squared_error",
        "root_mean_squared_log_error"}),
    "sklearn.metrics._ranking": frozenset({
        "average_precision_score", "coverage_error", "dcg_score",
        "label_ranking_average_precision_score", "label_ranking_loss", "ndcg_score",
        "roc_auc_score", "top_k_accuracy_score"}),
    "sklearn.metrics._scorer": frozenset({
        "negative_likelihood_ratio", "positive_likelihood_ratio"}),
    "sklearn.metrics.cluster._supervised": frozenset({
        "adjusted_mutual_info_score", "adjusted_rand_score", "completeness_score",
        "fowlkes_mallows_score", "homogeneity_score", "mutual_info_score",
        "normalized_mutual_info_score", "rand_score", "v_measure_score"}),
    "sklearn.metrics.cluster._unsupervised": frozenset({
        "calinski_harabasz_score", "davies_bouldin_score", "silhouette_score"}),
}

#: pandas date offsets (pickled by their defining module): calendar arithmetic values.
PANDAS_OFFSETS = frozenset({
    "BDay", "BHalfYearBegin", "BHalfYearEnd", "BMonthBegin", "BMonthEnd", "BQuarterBegin",
    "BQuarterEnd", "BYearBegin", "BYearEnd", "BusinessDay", "BusinessHour",
    "BusinessMonthBegin", "BusinessMonthEnd", "CBMonthBegin", "CBMonthEnd", "CDay",
    "CustomBusinessDay", "CustomBusinessHour", "CustomBusinessMonthBegin",
    "CustomBusinessMonthEnd", "DateOffset", "Day", "Easter", "FY5253", "FY5253Quarter",
    "HalfYearBegin", "HalfYearEnd", "Hour", "LastWeekOfMonth", "Micro", "Milli", "Minute",
    "MonthBegin", "MonthEnd", "Nano", "QuarterBegin", "QuarterEnd", "Second", "SemiMonthBegin",
    "SemiMonthEnd", "Week", "WeekOfMonth", "YearBegin", "YearEnd",
})

_PANDAS_PUBLIC = (
    "DataFrame", "Series", "Index", "RangeIndex", "MultiIndex", "DatetimeIndex",
    "TimedeltaIndex", "PeriodIndex", "IntervalIndex", "CategoricalIndex", "Categorical",
    "CategoricalDtype", "DatetimeTZDtype", "PeriodDtype", "IntervalDtype", "SparseDtype",
    "StringDtype", "BooleanDtype", "Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype",
    "UInt8Dtype", "UInt16Dtype", "UInt32Dtype", "UInt64Dtype", "Float32Dtype", "Float64Dtype",
    "Timestamp", "Timedelta", "Period", "Interval", "NA", "NaT",
)
_PANDAS_ARRAYS = (
    "ArrowStringArray", "BooleanArray", "DatetimeArray", "FloatingArray", "IntegerArray",
    "IntervalArray", "PeriodArray", "SparseArray", "StringArray", "TimedeltaArray",
)
#: The same classes under the defining modules older pandas (1.x, 2.x) pickles name.
_PANDAS_LEGACY = (
    "pandas.core.frame.DataFrame", "pandas.core.series.Series",
    "pandas.core.indexes.base.Index", "pandas.core.indexes.range.RangeIndex",
    "pandas.core.indexes.multi.MultiIndex", "pandas.core.indexes.datetimes.DatetimeIndex",
    "pandas.core.indexes.timedeltas.TimedeltaIndex", "pandas.core.indexes.period.PeriodIndex",
    "pandas.core.indexes.interval.IntervalIndex", "pandas.core.indexes.category.CategoricalIndex",
    "pandas.core.indexes.numeric.Int64Index", "pandas.core.indexes.numeric.Float64Index",
    "pandas.core.indexes.numeric.UInt64Index", "pandas.core.arrays.categorical.Categorical",
    "pandas.core.dtypes.dtypes.CategoricalDtype", "pandas.core.dtypes.dtypes.DatetimeTZDtype",
    "pandas.core.dtypes.dtypes.PeriodDtype", "pandas.core.dtypes.dtypes.IntervalDtype",
    "pandas.core.dtypes.dtypes.SparseDtype", "pandas.core.arrays.sparse.dtype.SparseDtype",
    "pandas.core.arrays.string_.StringDtype", "pandas.core.arrays.string_.StringArray",
    "pandas.core.arrays.string_arrow.ArrowStringArray",
    "pandas.core.arrays.boolean.BooleanArray", "pandas.core.arrays.boolean.BooleanDtype",
    "pandas.core.arrays.datetimes.DatetimeArray", "pandas.core.arrays.timedeltas.TimedeltaArray",
    "pandas.core.arrays.period.PeriodArray", "pandas.core.arrays.interval.IntervalArray",
    "pandas.core.arrays.sparse.array.SparseArray", "pandas.core.arrays.floating.FloatingArray",
    "pandas.core.arrays.integer.IntegerArray",
    *(f"pandas.core.arrays.integer.{k}Dtype" for k in (
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")),
    "pandas.core.arrays.floating.Float32Dtype", "pandas.core.arrays.floating.Float64Dtype",
    "pandas._libs.interval.Interval", "pandas._libs.tslibs.period.Period",
    "pandas._libs.tslibs.timestamps.Timestamp", "pandas._libs.tslibs.timedeltas.Timedelta",
    "pandas._libs.missing.NA", "pandas._libs.tslibs.nattype.NaT",
    "pandas._libs.sparse.IntIndex", "pandas._libs.sparse.BlockIndex",
    "pandas._libs.arrays.NDArrayBacked", "pandas._libs.interval.IntervalMixin",
    "pandas.core.internals.managers.BlockManager",
    "pandas.core.internals.managers.SingleBlockManager",
)

LIB_EXACT: dict[str, AllowEntry] = {
    **same(
        "Value types of dates, identifiers and money in metadata: constructors that validate "
        "ranges or parse text (uuid.UUID restores one integer in __setstate__).",
        "uuid.UUID",
    ),
    "zoneinfo.ZoneInfo": AllowEntry(
        "IANA time zones of timezone-aware timestamps (pandas DatetimeTZDtype, datetime "
        "metadata). It is only ever called through ZoneInfo._unpickle (below)."
    ),
    "builtins.getattr": AllowEntry(
        "Guarded: Python pickles the classmethod ZoneInfo._unpickle as "
        "getattr(zoneinfo.ZoneInfo, '_unpickle'); that exact call, and no other, is "
        "allowed, and getattr may not be stored, passed or returned. The method it yields is "
        "guarded in turn: its time-zone key must be a plain relative IANA name "
        "(Europe/Berlin) and its second argument 0 or 1; it reads the system time-zone "
        "database only.",
        kind="guarded", guard="getattr",
    ),
    **same(
        "pytz time zones (pandas < 3 pickles them): pytz._p looks a zone up by name in "
        "pytz's own database, pytz._UTC returns the UTC singleton.",
        "pytz._p", "pytz._UTC",
    ),
    **same(
        "Guarded: numpy before 1.20 pickled a ufunc as numpy.core._ufunc_reconstruct(module, "
        "name), which imports module and returns its attribute (numpy 2 still loads such "
        "files). Only ('numpy', <ufunc on the list>) is allowed; anything else (('os', "
        "'system')) is refused.",
        "numpy.core._ufunc_reconstruct",
        kind="guarded", guard="ufunc",
    ),
    "functools.partial": AllowEntry(
        "A partial of an allow-listed function or class (FunctionTransformer(partial("
        "np.round, decimals=2)), partial(mutual_info_classif, random_state=0)). Its target, "
        "in the constructor and in the state BUILD restores, must be a directly imported, "
        "allow-listed value entry: never a computed callable, a guarded entry, a "
        "reconstructor or another partial.",
        kind="partial",
    ),
    **same(
        "pandas containers, indexes, dtypes, extension arrays and scalars under their public "
        "names (pandas 3 pickles name pandas.DataFrame, pandas.arrays.IntegerArray, ...). "
        "They restore their own state from arrays, lists and allow-listed values.",
        *(f"pandas.{n}" for n in _PANDAS_PUBLIC), *(f"pandas.arrays.{n}" for n in _PANDAS_ARRAYS),
    ),
    **same(
        "The same pandas classes under the defining modules that pandas 1.x and 2.x pickles "
        "name, and the Cython bases (NDArrayBacked, IntervalMixin) their state helpers rebuild.",
        *_PANDAS_LEGACY,
    ),
    **same(
        "pandas state helpers that rebuild blocks, timestamps, timedeltas and NaT from "
        "arrays and numbers.",
        "pandas._libs.internals._unpickle_block", "pandas.core.internals.blocks.new_block",
        "pandas._libs.tslibs.timestamps._unpickle_timestamp",
        "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
        "pandas._libs.tslibs.nattype._nat_unpickle", "pandas._libs.tslibs.nattype.__nat_unpickle",
    ),
    **same(
        "pandas index reconstructors: they call cls.__new__ / cls._simple_new on the class "
        "given as first argument, which must be a directly imported, allow-listed class.",
        "pandas.core.indexes.base._new_Index",
        "pandas.core.indexes.datetimes._new_DatetimeIndex",
        "pandas.core.indexes.timedeltas._new_TimedeltaIndex",
        "pandas.core.indexes.period._new_PeriodIndex",
        "pandas.core.indexes.interval._new_IntervalIndex",
        kind="reconstructor",
    ),
    **same(
        "pyarrow data types by alias ('large_string', 'int64') and buffers wrapping bytes: "
        "pandas 3 keeps string columns in pyarrow arrays.",
        "pyarrow.lib.type_for_alias", "pyarrow.lib.py_buffer",
    ),
    "pyarrow.lib._restore_array": AllowEntry(
        "Guarded: rebuilds a pyarrow array from (type, length, null count, offset, buffers, "
        "children, dictionary) without validating it, so forged offsets read memory outside "
        "the buffers. Allowed only for string, binary and fixed-width types whose buffers the "
        "scanner reads and checks (sizes, monotonic offsets inside the data); the restricted "
        "unpickler also runs pyarrow's full validation.",
        kind="guarded", guard="arrow",
    ),
    **same(
        "scikit-learn's metadata-routing records that fitted scorers and meta-estimators keep "
        "(dictionaries of parameter names); the rest of sklearn.utils stays excluded.",
        "sklearn.utils._metadata_requests.MetadataRequest",
        "sklearn.utils._metadata_requests.MethodMetadataRequest",
        "sklearn.utils._metadata_requests.MetadataRouter",
        "sklearn.utils._metadata_requests.MethodMapping",
        "sklearn.utils._metadata_requests.MethodPair",
        "sklearn.utils._metadata_requests.RouterMappingPair",
    ),
    **same(
        "scikit-learn's binary-tree and distance-metric unpickle helper: newObj(cls) is "
        "cls.__new__(cls), so cls must be a directly imported, allow-listed class (KDTree, "
        "BallTree, a DistanceMetric).",
        "sklearn.neighbors._kd_tree.newObj", "sklearn.neighbors._ball_tree.newObj",
        "sklearn.metrics._dist_metrics.newObj",
        kind="reconstructor",
    ),
    "sklearn.utils.validation.check_array": AllowEntry(
        "HistGradientBoosting with categorical_features keeps FunctionTransformer(partial("
        "check_array, dtype=[float64])) in its preprocessor: it converts its argument to a "
        "validated array and reads or writes nothing else."
    ),
    "sklearn.compose._column_transformer.make_column_selector": AllowEntry(
        "A class despite its snake_case name: a column selector by dtype or regex that "
        "ColumnTransformer stores; calling it selects DataFrame columns."
    ),
    **same(
        "scipy's array-API namespace function that fitted BSpline objects (SplineTransformer) "
        "keep since scipy 1.15: it converts its argument to a numpy array.",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
    ),
}
