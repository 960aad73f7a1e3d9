"""Decide whether a pickle may import ``module.name``: an allow-list, never a deny-list.

The same decision serves the static scanner (which reports) and the restricted unpickler
(which raises): :func:`allowed_by` returns the id of the entry that admits a global, and
:func:`ensure_global_allowed` raises :class:`~garrison.errors.ArtifactRefused` otherwise.
"""

from __future__ import annotations

import _compat_pickle
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from garrison.errors import ArtifactRefused
from garrison.scanning._allow_entry import Kind
from garrison.scanning._allow_table import (
    EXACT,
    FAMILIES,
    NUMPY_FUNCTIONS,
    NUMPY_SCALAR_TYPES,
    NUMPY_UFUNCS,
    PANDAS_OFFSETS,
    SCIPY_SPARSE_MODULES,
    SCIPY_SPARSE_NAMES,
    SKLEARN_EXCLUDED_PARTS,
    SKLEARN_EXCLUDED_SUBTREES,
    SKLEARN_FUNCTIONS,
    SKLEARN_NAME,
    SKLEARN_REFUSED_NAMES,
    TORCH_DTYPES,
    TORCH_NN_MODULES,
    TORCH_QSCHEMES,
    TORCH_STORAGE_ITEMSIZE,
)
from garrison.scanning.policy import DEFAULT_POLICY, ScanPolicy, parse_allow_entry

__all__ = [
    "Admission",
    "Loader",
    "admission",
    "allowed_by",
    "ensure_global_allowed",
    "loaded_name",
    "verify_resolved_object",
]

Loader = Literal["pickle", "joblib", "torch"]

_FAMILY_KINDS: dict[str, Kind] = {family.id: family.kind for family in FAMILIES}
_TORCH_NN = "torch.nn.modules."
_NUMPY_FUNCTION_NAMES = NUMPY_UFUNCS | NUMPY_FUNCTIONS


@dataclass(frozen=True)
class Admission:
    """Why a global may be imported: the entry or family id, its kind and its guard."""

    entry: str
    kind: Kind = "value"
    guard: str | None = None


_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PYX = "__pyx_unpickle_"


def loaded_name(module: str, name: str, proto: int) -> tuple[str, str]:
    """The global an unpickler really imports: Python 2 names are mapped when proto < 3.

    This mirrors ``pickle.Unpickler.find_class`` with ``fix_imports=True`` (the default),
    so ``__builtin__.eval`` is judged as ``builtins.eval``.
    """
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def _sklearn_class(module: str, name: str) -> bool:
    if module != "sklearn" and not module.startswith("sklearn."):
        return False
    for subtree in SKLEARN_EXCLUDED_SUBTREES:
        if module == subtree or module.startswith(subtree + "."):
            return False
    if SKLEARN_EXCLUDED_PARTS.intersection(module.split(".")):
        return False
    return name not in SKLEARN_REFUSED_NAMES and SKLEARN_NAME.match(name) is not None


def _family(module: str, name: str) -> str | None:
    if _sklearn_class(module, name):
        return "sklearn-classes"
    if name in SKLEARN_FUNCTIONS.get(module, ()):
        return "sklearn-functions"
    if module == "numpy" and name in NUMPY_SCALAR_TYPES:
        return "numpy-scalar-types"
    if module == "numpy" and name in _NUMPY_FUNCTION_NAMES:
        return "numpy-functions"
    if module in SCIPY_SPARSE_MODULES and name in SCIPY_SPARSE_NAMES:
        return "scipy-sparse"
    if module == "pandas._libs.tslibs.offsets" and name in PANDAS_OFFSETS:
        return "pandas-date-offsets"
    if module.startswith(_TORCH_NN) and name in TORCH_NN_MODULES.get(
        module[len(_TORCH_NN):], ()
    ):
        return "torch-nn-modules"
    if module == "torch" and (
        name in TORCH_DTYPES or name in TORCH_STORAGE_ITEMSIZE or name in TORCH_QSCHEMES
    ):
        return "torch-storages-dtypes"
    if module == "torch.storage" and name == "UntypedStorage":
        return "torch-storages-dtypes"
    return None


@lru_cache(maxsize=64)
def _extras(policy: ScanPolicy) -> tuple[frozenset[str], tuple[str, ...]]:
    exact: set[str] = set()
    prefixes: list[str] = []
    for entry in policy.extra_allowed:
        module, name = parse_allow_entry(entry)
        if name == "*":
            prefixes.append(module)
        else:
            exact.add(entry)
    return frozenset(exact), tuple(sorted(prefixes))


def admission(
    module: str, name: str, policy: ScanPolicy = DEFAULT_POLICY, *, loader: Loader = "pickle"
) -> Admission | None:
    """Return how ``module.name`` is admitted (entry id, kind, guard), else ``None``.

    Dotted names (``Pipeline.__init__.__globals__``) never match: protocol 4 unpicklers
    walk them as attribute chains, which is a gadget in itself.
    """
    if not isinstance(module, str) or not isinstance(name, str):
        return None
    if not _MODULE.match(module) or not _NAME.match(name):
        return None
    key = f"{module}.{name}"
    entry = EXACT.get(key)
    if entry is not None:
        return Admission(key, entry.kind, entry.guard) if loader in entry.loaders else None
    family = _family(module, name)
    if family is not None:
        return Admission(family, _FAMILY_KINDS[family])
    if name.startswith(_PYX) and len(name) > len(_PYX):
        if allowed_by(module, name[len(_PYX):], policy, loader=loader):
            return Admission("cython-unpickle", "reconstructor")
        return None
    exact, prefixes = _extras(policy)
    if key in exact:
        return Admission(f"policy:{key}")
    if not name.startswith("__"):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                return Admission(f"policy:{prefix}.*")
    return None


def allowed_by(
    module: str, name: str, policy: ScanPolicy = DEFAULT_POLICY, *, loader: Loader = "pickle"
) -> str | None:
    """Return the entry (or family id) admitting ``module.name`` as a plain global, else
    ``None``.

    Guarded entries (``builtins.getattr``, ``_ufunc_reconstruct``, ``_restore_array``) and
    ``functools.partial`` are admitted only by Garrison's scanner and restricted unpickler,
    which check their arguments (see :func:`admission`); to anybody else, including a
    plain ``find_class`` using :func:`ensure_global_allowed`, they stay refused.
    """
    found = admission(module, name, policy, loader=loader)
    if found is None or found.kind in ("guarded", "partial"):
        return None
    return found.entry


def ensure_global_allowed(
    module: str, name: str, policy: ScanPolicy = DEFAULT_POLICY, *, loader: Loader = "pickle"
) -> None:
    """Raise :class:`ArtifactRefused` unless ``module.name`` is on the allow-list.

    ``module`` and ``name`` are what the unpickler will import, i.e. after
    :func:`loaded_name` for protocols below 3. Usable from any ``find_class``
    (joblib's ``NumpyUnpickler`` subclasses pass ``loader="joblib"``).
    """
    if allowed_by(module, name, policy, loader=loader) is None:
        raise ArtifactRefused(
            "the artifact imports a global that is not on the allow-list",
            rule_id="pickle-global-not-allowed",
            name=f"{module}.{name}"[:300],
        )


def verify_resolved_object(module: str, name: str, obj: Any, entry: str) -> None:
    """Second check after import, for family entries decided by naming patterns.

    A name that matches the sklearn class pattern must really be a class defined inside
    scikit-learn (not, say, ``threading.Thread`` re-exported by a sklearn module); scalar
    and sparse types must be classes.
    """
    ok = True
    defined_in = getattr(obj, "__module__", None)
    if entry == "sklearn-classes":
        class_name = getattr(obj, "__name__", None)
        ok = (
            isinstance(obj, type)
            and isinstance(defined_in, str)
            and isinstance(class_name, str)
            and _sklearn_class(defined_in, class_name)
        )
    elif entry in ("numpy-scalar-types", "scipy-sparse", "pandas-date-offsets"):
        ok = isinstance(obj, type)
    elif entry == "torch-nn-modules":
        ok = isinstance(obj, type) and isinstance(defined_in, str) and (
            defined_in.startswith(_TORCH_NN))
    elif entry in ("numpy-functions", "sklearn-functions"):
        ok = callable(obj) and not isinstance(obj, type) and isinstance(defined_in, str) and (
            defined_in.split(".", 1)[0] == module.split(".", 1)[0])
    if not ok:
        raise ArtifactRefused(
            "an allow-listed name resolved to an object that is not what the entry allows",
            rule_id="pickle-global-not-allowed",
            name=f"{module}.{name}"[:300],
        )
