"""Keras models: the ``.keras`` archive (Keras 3) and the model config of legacy ``.h5``
files, judged against an allow-list of Keras built-ins, never by loading Keras.

A Keras config is a JSON tree of objects ``{"class_name", "config", "module",
"registered_name"}`` that the loader turns into classes and functions. It runs code when
the tree asks for it: a ``Lambda`` layer carries marshalled Python bytecode (or, in legacy
files, a function imported by module and name), ``"class_name": "function"`` imports a
function by ``module`` and name, a ``registered_name`` picks a custom class registered in
the loading process, and some layers read files named in the config (a lookup layer's
``vocabulary`` path, ``TFSMLayer``'s SavedModel directory). So every object must name a
Keras built-in from ``keras_names.json`` (generated from Keras 3 by
``tests/vectors/scanning/generate_keras_names.py``) or an entry of the scan policy; Lambda
layers and file references are refused, and plain layers pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any

from garrison.scanning.context import ScanContext
from garrison.scanning.policy import ScanPolicy
from garrison.scanning.registry import dispatch, scan_as

__all__ = ["check_keras_config", "is_keras_layout", "parse_config", "scan_keras_members"]

_DATA_MARKERS = frozenset({"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__",
                           "__ellipsis__", "__slice__", "__typespec__"})
_CODE_LAYERS = frozenset({"Lambda", "TorchModuleWrapper"})
_FILE_LAYERS = frozenset({"TFSMLayer"})
_FILE_KEYS = frozenset({"vocabulary", "filepath"})
#: TensorFlow ops a legacy TFOpLambda layer may name: arithmetic namespaces and plain tensor
#: manipulation; io, py_function, numpy_function, raw_ops and the rest stay refused.
_TF_OP = re.compile(
    r"^(?:(?:math|nn|linalg|signal|image|random|bitwise|__operators__|compat\.v1\.math"
    r"|compat\.v1\.nn)\.[A-Za-z0-9_]+|reshape|concat|stack|unstack|transpose|expand_dims"
    r"|squeeze|cast|split|gather|gather_nd|where|tile|pad|shape|size|rank|ones_like"
    r"|zeros_like|identity|clip_by_value|matmul|einsum|one_hot|argmax|argmin|range|fill"
    r"|broadcast_to|boolean_mask|slice|strided_slice|stop_gradient|sort|argsort|reverse"
    r"|roll|repeat|cumsum|add|multiply|subtract|divide|maximum|minimum|abs|exp|sqrt|square"
    r"|pow|sign|round|floor|ceil|equal|not_equal|greater|less|logical_and|logical_or"
    r"|logical_not|reduce_sum|reduce_mean|reduce_max|reduce_min|reduce_prod|norm)$")
#: Config keys whose string value Keras resolves to an object by name ("relu", or a
#: registered custom "package>name").
_OBJECT_KEYS = frozenset({"activation", "recurrent_activation", "loss", "metrics",
                          "weighted_metrics", "optimizer", "standardize", "split"})
_OBJECT_SUFFIXES = ("_initializer", "_regularizer", "_constraint", "_activation")
_CUSTOM_NAME = re.compile(r"^[A-Za-z_][\w.]*>[A-Za-z_][\w.]*$")
_MAX_NODES = 2_000_000
_WEIGHTS = ("model.weights.h5", "model.weights.npz")


@lru_cache(maxsize=1)
def _names() -> dict[str, frozenset[str]]:
    raw = json.loads(resources.files("garrison.scanning").joinpath("keras_names.json")
                     .read_text(encoding="utf-8"))
    return {key: frozenset(raw[key]) for key in ("classes", "functions", "builtin_functions",
                                                 "legacy_classes")}


def _policy_admits(policy: ScanPolicy, module: str | None, name: str) -> bool:
    for entry in policy.extra_allowed:
        entry_module, _, entry_name = entry.rpartition(".")
        if module is None and entry_name == name:
            return True  # Legacy configs name classes without their module.
        if module is not None and (entry == f"{module}.{name}" or (
                entry_name == "*" and (module == entry_module
                                       or module.startswith(entry_module + ".")))):
            return True
    return False


def _object_problem(node: dict[str, Any], policy: ScanPolicy) -> tuple[str, str] | None:
    """``(rule, message)`` for one ``{"class_name": ...}`` object, or ``None`` if allowed."""
    names = _names()
    cls, module, registered = node.get("class_name"), node.get("module"), node.get(
        "registered_name")
    if type(cls) is not str or (module is not None and type(module) is not str):
        return "keras-untrusted-object", "an object's class_name or module is not a string"
    label = f"{module}.{cls}" if module else cls
    if cls in _DATA_MARKERS:
        return None
    if cls == "__lambda__" or cls in _CODE_LAYERS:
        return "keras-lambda-layer", f"{label} carries Python code that Keras runs on load"
    if cls in _FILE_LAYERS:
        return "keras-file-reference", f"{label} loads a model from a path on load"
    if cls.startswith("__"):
        return "keras-untrusted-object", f"unknown serialization marker {cls[:60]!r}"
    if cls == "function":
        function = node.get("config")
        if type(function) is not str:
            return "keras-untrusted-object", "a function reference without a name"
        known = (function in names["builtin_functions"] if module == "builtins"
                 else f"{module}.{function}" in names["functions"])
        custom = registered not in (None, "function", function)
        if (known and not custom) or _policy_admits(policy, module, function):
            return None
        return "keras-untrusted-object", f"function {module}.{function} is not a Keras built-in"
    if cls == "TFOpLambda":
        op = node.get("config", {}).get("function") if type(node.get("config")) is dict else None
        if type(op) is str and _TF_OP.match(op):
            return None
        return "keras-untrusted-object", f"TFOpLambda calls TensorFlow function {str(op)[:60]!r}"
    custom = registered is not None and registered != cls
    if module is None:
        known = cls in names["legacy_classes"]
    else:
        known = f"{module}.{cls}" in names["classes"]
    if (known and not custom) or _policy_admits(policy, module, cls):
        return None
    what = f"registered custom object {str(registered)[:60]!r}" if custom else label
    return "keras-untrusted-object", f"{what} is not a Keras built-in"


def _names_an_object(key: str | None) -> bool:
    return key is not None and (key in _OBJECT_KEYS or key.endswith(_OBJECT_SUFFIXES))


def check_keras_config(config: Any, ctx: ScanContext) -> None:
    """Walk a Keras config tree and record what Keras would run or read."""
    # (node, the key it is under, whether it is that key's direct value)
    stack: list[tuple[Any, str | None, bool]] = [(config, None, True)]
    count = 0
    while stack:
        node, key, direct = stack.pop()
        count += 1
        if count > _MAX_NODES:
            ctx.add("keras-bad-config", "the config has too many nodes")
            return
        if type(node) is list:
            stack.extend((item, key, False) for item in node)
        elif type(node) is dict:
            if "class_name" in node:
                problem = _object_problem(node, ctx.policy)
                if problem is not None:
                    ctx.add(problem[0], problem[1], name=str(node.get("class_name"))[:100])
                    if problem[0] == "keras-lambda-layer":
                        continue  # Its config is code, not more objects.
            stack.extend((value, k, True) for k, value in node.items())
        elif type(node) is str:
            if direct and key in _FILE_KEYS:
                ctx.add("keras-file-reference",
                        f"{key!r} names a file that Keras would read on load", name=key)
            elif _names_an_object(key) and _CUSTOM_NAME.match(node):
                ctx.add("keras-untrusted-object",
                        f"registered custom object {node[:60]!r} is not a Keras built-in",
                        name=node[:100])


def parse_config(text: str | bytes | None, ctx: ScanContext, what: str) -> dict[str, Any] | None:
    """Parse a JSON config object and check it; ``keras-bad-config`` if it is not one."""
    if text is None:
        ctx.add("keras-bad-config", f"{what} is missing or not a string")
        return None
    try:
        config = json.loads(text)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        ctx.add("keras-bad-config", f"{what} is not JSON ({type(exc).__name__})")
        return None
    if type(config) is not dict:
        ctx.add("keras-bad-config", f"{what} is not a JSON object")
        return None
    check_keras_config(config, ctx)
    return config


def is_keras_layout(names: list[str]) -> bool:
    """A Keras 3 archive: ``config.json`` beside ``metadata.json`` or the weights file."""
    return "config.json" in names and any(n in names for n in ("metadata.json", *_WEIGHTS))


def scan_keras_members(files: dict[str, Callable[[], bytes | None]], ctx: ScanContext) -> str:
    """Scan a ``.keras`` archive's members (already through the zip guards)."""
    config = parse_config(files["config.json"](), ctx, "config.json")
    if config is not None and "class_name" not in config:
        ctx.add("keras-bad-config", "config.json does not describe a Keras object")
    for member, read in files.items():
        if member == "config.json":
            continue
        data = read()
        if data is None:
            continue
        child = ctx.child(member)
        if member == "metadata.json":
            parse_config(data, child, "metadata.json")
        elif member.startswith("assets/") and not member.endswith((".npy", ".npz", ".h5")):
            # Lookup vocabularies and other assets are read as text, never loaded as code.
            child.count_scanned(len(data))
            try:
                bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                dispatch(data, member, child)
        elif member.endswith(".npy"):
            scan_as("npy", data, member, child)
        else:
            dispatch(data, member, child)
    return "keras"
