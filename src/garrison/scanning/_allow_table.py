"""The built-in allow-list as data: every entry with the reason it is there.

Invariant every entry must keep: calling it with *any* arguments that a pickle can build
(plain data, other allow-listed globals, instances of allow-listed classes) neither runs
code chosen by the file nor touches the file system, the network or the interpreter's
global state. Functions that take a callable and call it (``functools.partial``,
``operator.methodcaller``, ``map``), look attributes up by name (``getattr``), create
code or classes (``types.FunctionType``, ``type``, ``marshal.loads``), or run text as code
(``exec``, ``timeit``, ``pydoc``, ``code``, ``cProfile``) can never be on it.

``docs/scanning.md`` renders this table; a test checks every entry is documented.
"""

from __future__ import annotations

import re

from garrison.scanning._allow_entry import ALL_LOADERS, AllowEntry, Family, same
from garrison.scanning._allow_libs import (
    LIB_EXACT,
    NUMPY_FUNCTIONS,
    NUMPY_UFUNCS,
    PANDAS_OFFSETS,
    SKLEARN_FUNCTIONS,
)
from garrison.scanning._allow_torch import (
    TORCH_DTYPES,
    TORCH_EXACT,
    TORCH_NN_MODULES,
    TORCH_QSCHEMES,
    TORCH_STORAGE_ITEMSIZE,
)

__all__ = [
    "ALL_LOADERS",
    "EXACT",
    "FAMILIES",
    "NUMPY_FUNCTIONS",
    "NUMPY_SCALAR_TYPES",
    "NUMPY_UFUNCS",
    "PANDAS_OFFSETS",
    "SCIPY_SPARSE_MODULES",
    "SCIPY_SPARSE_NAMES",
    "SKLEARN_EXCLUDED_PARTS",
    "SKLEARN_EXCLUDED_SUBTREES",
    "SKLEARN_FUNCTIONS",
    "SKLEARN_NAME",
    "SKLEARN_REFUSED_NAMES",
    "TORCH_DTYPES",
    "TORCH_NN_MODULES",
    "TORCH_QSCHEMES",
    "TORCH_STORAGE_ITEMSIZE",
    "AllowEntry",
    "Family",
]

_same = same


EXACT: dict[str, AllowEntry] = {
    **_same(
        "Containers: protocol 0-3 pickles rebuild sets and frozensets by calling the type on "
        "a list; calling any of these only builds data.",
        "builtins.set", "builtins.frozenset", "builtins.list", "builtins.dict",
        "builtins.tuple",
    ),
    **_same(
        "Byte containers: protocol < 5 pickles a bytearray as REDUCE(bytearray, (bytes,)) "
        "(XGBoost's Booster state is one); Python 2 compatible pickles name bytes.",
        "builtins.bytearray", "builtins.bytes",
    ),
    **_same(
        "Scalar constructors: they only call the numeric/text conversion hooks of an argument "
        "that is itself allow-listed data.",
        "builtins.int", "builtins.float", "builtins.complex", "builtins.str", "builtins.bool",
    ),
    **_same(
        "Inert value types: a slice or range is three integers and evaluates nothing "
        "(column selectors in ColumnTransformer specs use both).",
        "builtins.slice", "builtins.range",
    ),
    "builtins.object": AllowEntry(
        "The base argument of copyreg._reconstructor for protocol 0/1 objects; object() "
        "is inert."
    ),
    "_codecs.encode": AllowEntry(
        "Protocol 0-2 pickles store bytes as _codecs.encode(text, 'latin1'); encoding only "
        "transforms text."
    ),
    **_same(
        "Object reconstruction helpers used by protocol 0-1 (and __reduce_ex__ fallbacks). "
        "The scanner additionally requires their class arguments to be directly imported, "
        "allow-listed globals (rule pickle-reconstructor-args).",
        "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__",
        kind="reconstructor",
    ),
    **_same(
        "Standard containers found in state dicts (PyTorch, LightGBM) and fitted attributes; "
        "a defaultdict's factory is itself a global and checked.",
        "collections.OrderedDict", "collections.defaultdict", "collections.Counter",
        "collections.deque",
    ),
    **_same(
        "Value types whose constructors only validate ranges or parse text.",
        "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta",
        "datetime.timezone", "decimal.Decimal",
    ),
    **_same(
        "numpy array reconstruction (ndarray.__reduce__ for numpy 1.x and 2.x, protocol 5 "
        "arrays via _frombuffer, numpy scalars). Every dtype they receive is checked by "
        "pickle-numpy-dtype-forged.",
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
        "numpy.ndarray", "numpy.dtype", "numpy.matrix",
    ),
    **_same(
        "Masked arrays: GridSearchCV.cv_results_ stores its param_* columns as MaskedArray "
        "(numpy 2 names the class numpy.ma.MaskedArray).",
        "numpy.ma.MaskedArray", "numpy.ma.core.MaskedArray", "numpy.ma.core._mareconstruct",
    ),
    **_same(
        "numpy random generators kept as estimator state (random_state objects): the "
        "constructors build a bit generator from a registered name or an allow-listed class.",
        "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__bit_generator_ctor", "numpy.random.__RandomState_ctor",
        "numpy.random.mtrand.RandomState", "numpy.random._generator.Generator",
        "numpy.random._mt19937.MT19937", "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM", "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64", "numpy.random.bit_generator.SeedSequence",
    ),
    "scipy.interpolate._bsplines.BSpline": AllowEntry(
        "SplineTransformer keeps fitted BSpline objects: knots, coefficients and a degree."
    ),
    "sklearn.utils._bunch.Bunch": AllowEntry(
        "A dict subclass used by fitted attributes; the rest of sklearn.utils is excluded."
    ),
    **_same(
        "XGBoost's scikit-learn wrappers and Booster: Booster.__setstate__ hands the raw "
        "model bytes to libxgboost's own parser, no Python code is loaded.",
        "xgboost.sklearn.XGBModel", "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor", "xgboost.sklearn.XGBRanker",
        "xgboost.sklearn.XGBRFClassifier", "xgboost.sklearn.XGBRFRegressor",
        "xgboost.core.Booster",
    ),
    **_same(
        "LightGBM's scikit-learn wrappers and Booster: the Booster state is the model text, "
        "parsed by LightGBM's C++ loader.",
        "lightgbm.sklearn.LGBMModel", "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor", "lightgbm.sklearn.LGBMRanker",
        "lightgbm.basic.Booster",
    ),
    "joblib.numpy_pickle.NumpyArrayWrapper": AllowEntry(
        "joblib's placeholder for an array whose bytes follow the pickle record. Allowed "
        "for the joblib loader only: a plain pickle loader would parse those bytes as opcodes.",
        frozenset({"joblib"}),
    ),
    **LIB_EXACT,
    **TORCH_EXACT,
}

NUMPY_SCALAR_TYPES = frozenset({
    "bool_", "bool", "bool8", "int8", "int16", "int32", "int64", "uint8", "uint16",
    "uint32", "uint64", "float16", "float32", "float64", "longdouble", "complex64",
    "complex128", "clongdouble", "str_", "bytes_", "unicode_", "string_", "void",
    "datetime64", "timedelta64", "object_", "intc", "uintc", "intp", "uintp", "int_",
    "uint", "longlong", "ulonglong", "short", "ushort", "byte", "ubyte", "single",
    "double", "half", "csingle", "cdouble", "float_", "complex_",
})

SCIPY_SPARSE_MODULES = frozenset(
    {"scipy.sparse"}
    | {f"scipy.sparse.{p}{k}" for p in ("_", "") for k in ("csr", "csc", "coo", "bsr", "dia",
                                                             "dok", "lil", "arrays")}
)
SCIPY_SPARSE_NAMES = frozenset(
    f"{k}_{kind}" for k in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil")
    for kind in ("matrix", "array")
)

#: scikit-learn subtrees that are not estimator code: dataset downloaders, test helpers,
#: callbacks that open sockets and threads, vendored third-party code, build helpers.
SKLEARN_EXCLUDED_SUBTREES = (
    "sklearn.externals", "sklearn.datasets", "sklearn.callback", "sklearn.utils",
    "sklearn.experimental", "sklearn.tests", "sklearn.conftest", "sklearn._build_utils",
    "sklearn.__check_build", "sklearn._min_dependencies", "sklearn._config",
    "sklearn._distributor_init",
)
#: Module path components that mark test code anywhere in the tree.
SKLEARN_EXCLUDED_PARTS = frozenset({"tests", "_testing", "conftest", "estimator_checks"})

#: A capital first letter and no underscore after it: CamelCase classes and acronym
#: classes (PCA, SVC, DBSCAN, RBF), never snake_case functions or SNAKE_CASE constants.
#: The few all-capital names that are not classes are refused by name below.
SKLEARN_NAME = re.compile(r"^_?[A-Z][A-Za-z0-9]*$")

#: Names that match the class pattern in some sklearn module but are re-exported from
#: elsewhere (found by tests/scanning/test_allowlist_drift.py, which fails on new ones).
#: A real model pickle names such classes by their defining module, never through sklearn.
SKLEARN_REFUSED_NAMES = frozenset({
    "ABC", "ABCMeta", "Enum", "Counter", "OrderedDict", "UserDict", "MaskedArray",
    "BSpline", "LinearOperator", "StringIO", "BytesIO", "Path", "PathLike", "MethodType",
    "ModuleType", "FunctionType", "CodeType", "Parameter", "Signature",
    "ThreadpoolController", "Thread", "Queue", "Progress", "BarColumn", "TextColumn",
    "TimeRemainingColumn", "Style", "Memory", "GzipFile", "TemporaryDirectory",
    "NamedTemporaryFile", "Listener", "Client", "Connection", "Request", "HTTPError",
    "URLError", "LinAlgError", "Integral", "Real", "Number", "Generator", "Iterable",
    "Mapping", "MutableMapping", "Sequence", "Callable", "Any", "Protocol", "NamedTuple",
    "SkipTest", "Popen", "Process", "Pool", "Iterator", "Hashable", "Sized", "Container",
    "Optional", "Union", "Dict", "List", "Tuple", "Literal", "TypeVar", "Self",
    "SparseEfficiencyWarning", "DTYPE", "ITYPE", "DOUBLE", "INTP", "FLOAT", "NAN", "TYPE",
    "DEFAULT", "PY", "OK", "EPS", "N", "K", "X", "Y", "T", "F", "P", "IS_PYPY", "LIBSVM",
})

FAMILIES: tuple[Family, ...] = (
    Family(
        "sklearn-classes",
        "sklearn.<module>.<ClassName> outside the excluded subtrees",
        "scikit-learn estimators and their fitted helpers (Tree, loss and link objects, "
        "_BinMapper, TreePredictor, KDTree, DistanceMetric, kernels). Classes only: the name "
        "starts with a capital and has no underscore after it (LogisticRegression, PCA, SVC, "
        "RBF), so snake_case functions and SNAKE_CASE constants never match; the few "
        "all-capital constants (DTYPE, ...) and re-exported foreign classes are refused by "
        "name, and the restricted unpickler verifies at import time that the object is a "
        "class defined in sklearn.",
    ),
    Family(
        "sklearn-functions",
        "sklearn.<module>.<function> from a fixed table (score functions, metrics, k-means loops)",
        "The scikit-learn functions fitted models keep: SelectKBest(score_func=chi2), "
        "mutual_info_classif, the metric functions of scorers (GridSearchCV(scoring='f1')."
        "scorer_), BisectingKMeans' inner loop. They compute on arrays; no other sklearn "
        "function is admitted.",
    ),
    Family(
        "numpy-functions",
        "numpy.<ufunc> and numpy.<reduction> from fixed tables (log1p, sqrt, mean, median, "
        "clip, round, ...)",
        "numpy ufuncs and reductions used as parameters: FunctionTransformer(np.log1p), "
        "FeatureAgglomeration(pooling_func=np.mean), partial(np.round, decimals=2). numpy 2 "
        "pickles a ufunc as a plain global; only names on the tables match, so numpy.load, "
        "numpy.memmap, numpy.vectorize and the like stay refused.",
    ),
    Family(
        "numpy-scalar-types",
        "numpy.<scalar type> (float64, int32, bool_, str_, ...)",
        "Scalar type objects stored as dtype parameters (TfidfVectorizer(dtype=np.float64)).",
    ),
    Family(
        "scipy-sparse",
        "scipy.sparse[._csr|._csc|...].{csr,csc,coo,bsr,dia,dok,lil}_{matrix,array}",
        "Sparse containers rebuilt from their __dict__ (TF-IDF outputs, one-hot encoders).",
    ),
    Family(
        "pandas-date-offsets",
        "pandas._libs.tslibs.offsets.<offset class> (Day, MonthEnd, BusinessDay, ...)",
        "Calendar offsets of period and datetime indexes (freq='M'): date arithmetic values.",
    ),
    Family(
        "torch-nn-modules",
        "torch.nn.modules.<file>.<Module class> from torch 2.13 (Linear, Conv2d, LSTM, "
        "TransformerEncoderLayer, ...)",
        "PyTorch's own layers in whole-module checkpoints (torch.save(model)): created with "
        "__newobj__ and filled with parameters, buffers, child modules and hyper-parameters. "
        "A model's own Module subclass is code outside the file and is refused unless allowed "
        "by the policy.",
    ),
    Family(
        "torch-storages-dtypes",
        "torch.<Type>Storage, torch.UntypedStorage, torch.<dtype>, torch.<qscheme>",
        "Storage types named inside PyTorch persistent ids, and dtype and quantization-scheme "
        "singletons in tensor metadata; they only describe memory layout.",
    ),
    Family(
        "cython-unpickle",
        "<module>.__pyx_unpickle_<Class> where <module>.<Class> is allowed",
        "Cython's generated state-restore helper of an allowed extension class "
        "(SeedSequence, sklearn's Cy*Loss, pandas' NDArrayBacked): it creates the class given "
        "as its first argument, which must be a directly imported, allow-listed subclass, and "
        "sets its fields.",
        kind="reconstructor",
    ),
)
