"""The allow-list: entries, families, policy extension, loaders, and drift against sklearn."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import pytest

from garrison.errors import ArtifactRefused, InvalidInput
from garrison.scanning import (
    DEFAULT_POLICY,
    ScanPolicy,
    admission,
    allowed_by,
    ensure_global_allowed,
)
from garrison.scanning._allow_table import EXACT, SKLEARN_EXCLUDED_SUBTREES
from garrison.scanning.allowlist import _sklearn_class, loaded_name

GADGETS = [
    ("os", "system"), ("posix", "system"), ("nt", "system"), ("subprocess", "Popen"),
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "getattr"), ("builtins", "open"),
    ("builtins", "__import__"), ("builtins", "compile"), ("builtins", "type"),
    ("builtins", "map"), ("timeit", "timeit"), ("pydoc", "pipepager"), ("code", "interact"),
    ("code", "InteractiveInterpreter"), ("cProfile", "run"), ("profile", "run"),
    ("marshal", "loads"), ("types", "FunctionType"), ("types", "CodeType"),
    ("importlib", "import_module"), ("operator", "methodcaller"), ("operator", "attrgetter"),
    ("functools", "partial"), ("functools", "reduce"), ("pickle", "loads"),
    ("numpy", "load"), ("numpy", "memmap"), ("numpy", "fromfile"), ("joblib", "load"),
    ("torch", "load"), ("shutil", "rmtree"), ("socket", "socket"), ("webbrowser", "open"),
    ("runpy", "run_path"), ("ctypes", "CDLL"), ("collections", "namedtuple"),
    ("sklearn.utils._testing", "TempMemmap"), ("sklearn.datasets", "fetch_openml"),
    ("sklearn.callback._transport", "Listener"), ("sklearn.callback._progressbar", "Thread"),
    ("sklearn.datasets._covtype", "GzipFile"), ("sklearn.utils", "Memory"),
    ("sklearn.pipeline", "make_pipeline"), ("sklearn.base", "clone"),
    ("sklearn.externals.array_api_extra.testing._testing", "FunctionType"),
    ("sklearn.pipeline", "Pipeline.__init__.__globals__"), ("sklearn.tree", "MAX_INT"),
    ("joblib.numpy_pickle_compat", "NDArrayWrapper"), ("copyreg", "add_extension"),
]


@pytest.mark.parametrize(("module", "name"), GADGETS)
def test_gadgets_are_refused(module: str, name: str) -> None:
    assert allowed_by(module, name) is None
    with pytest.raises(ArtifactRefused):
        ensure_global_allowed(module, name)


@pytest.mark.parametrize("key", sorted(k for k, e in EXACT.items()
                                        if e.kind not in ("guarded", "partial")))
def test_every_exact_entry_is_allowed_for_its_loaders(key: str) -> None:
    module, _, name = key.rpartition(".")
    for loader in EXACT[key].loaders:
        ensure_global_allowed(module, name, loader=loader)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", sorted(k for k, e in EXACT.items()
                                        if e.kind in ("guarded", "partial")))
def test_guarded_entries_are_admitted_only_with_their_checks(key: str) -> None:
    """getattr, partial and friends: Garrison's VM and unpickler admit them with argument
    checks; to a plain find_class (ensure_global_allowed) they stay refused."""
    module, _, name = key.rpartition(".")
    found = admission(module, name)
    assert found is not None and found.kind == EXACT[key].kind
    assert allowed_by(module, name) is None
    with pytest.raises(ArtifactRefused):
        ensure_global_allowed(module, name)


def test_joblib_wrapper_only_for_the_joblib_loader() -> None:
    args = ("joblib.numpy_pickle", "NumpyArrayWrapper")
    ensure_global_allowed(*args, loader="joblib")
    with pytest.raises(ArtifactRefused):
        ensure_global_allowed(*args, loader="pickle")


@pytest.mark.parametrize(("module", "name"), [
    ("sklearn.linear_model._logistic", "LogisticRegression"), ("sklearn.tree._tree", "Tree"),
    ("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss"), ("numpy", "float64"),
    ("scipy.sparse._csr", "csr_matrix"), ("torch", "FloatStorage"), ("torch", "bfloat16"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
])
def test_families_admit_model_classes(module: str, name: str) -> None:
    assert allowed_by(module, name) is not None


def test_python2_names_are_judged_after_mapping() -> None:
    assert loaded_name("__builtin__", "eval", 2) == ("builtins", "eval")
    assert loaded_name("copy_reg", "_reconstructor", 2) == ("copyreg", "_reconstructor")
    assert loaded_name("__builtin__", "eval", 4) == ("__builtin__", "eval")


def test_policy_extension_exact_and_wildcard() -> None:
    policy = DEFAULT_POLICY.with_allowed("mypkg.models.MyModel", "other.lib.*")
    assert allowed_by("mypkg.models", "MyModel", policy) == "policy:mypkg.models.MyModel"
    assert allowed_by("mypkg.models", "Other", policy) is None
    assert allowed_by("other.lib.sub", "Thing", policy) == "policy:other.lib.*"
    assert allowed_by("other.library", "Thing", policy) is None
    assert allowed_by("other.lib", "__reduce__", policy) is None
    assert allowed_by("other.lib", "a.b", policy) is None
    assert allowed_by("mypkg.models", "MyModel") is None  # the default policy is unchanged


@pytest.mark.parametrize("entry", ["os", "os.", ".system", "os.__import__", "a b.c", "os.sys tem",
                                   "os.*.x", 3])
def test_malformed_policy_entries_are_rejected(entry: object) -> None:
    with pytest.raises(InvalidInput):
        ScanPolicy(extra_allowed=frozenset({entry}))  # type: ignore[arg-type]


def test_policy_caps_are_validated() -> None:
    with pytest.raises(InvalidInput):
        ScanPolicy(max_members=0)
    with pytest.raises(InvalidInput):
        ScanPolicy(max_ratio=0.5)


def test_sklearn_family_admits_only_classes_defined_in_sklearn() -> None:
    """Drift guard: import the installed scikit-learn and check every name the family
    pattern would admit is a class defined inside scikit-learn (not a re-export such as
    threading.Thread or multiprocessing's Listener) or an inert, non-callable value.
    Fails when an upgrade adds a foreign re-export; add it to SKLEARN_REFUSED_NAMES.
    (sklearn classes defined in excluded subtrees but re-exported elsewhere are admitted
    by the pattern; the restricted unpickler refuses them by their defining module.)"""
    import sklearn

    offenders = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for info in pkgutil.walk_packages(sklearn.__path__, "sklearn."):
            if any(info.name == s or info.name.startswith(s + ".")
                   for s in SKLEARN_EXCLUDED_SUBTREES) or ".tests" in info.name:
                continue
            try:
                module = importlib.import_module(info.name)
            except Exception:
                continue
            for name, obj in vars(module).items():
                if not _sklearn_class(info.name, name):
                    continue
                defined = getattr(obj, "__module__", "") or ""
                ours = isinstance(obj, type) and defined.startswith("sklearn.") and not (
                    defined.startswith("sklearn.externals"))
                if not ours and callable(obj):
                    offenders.append(f"{info.name}.{name} -> {defined}")
    assert offenders == []
