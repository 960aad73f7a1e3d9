"""skops files: a zip holding ``schema.json`` (a tree of typed nodes) and ``.npy`` arrays.

skops' own loader asks the user to trust "untrusted types"; Garrison is stricter: every
type and function the schema names must be a plain value entry of Garrison's allow-list
(the same one pickles use; guarded entries and reconstructors are refused), node kinds
that resolve names dynamically (``MethodNode`` does ``getattr`` by name,
``OperatorFuncNode`` builds ``operator.methodcaller``/``attrgetter``) are refused, a
``PartialNode`` must wrap a function or type node naming an allow-listed value entry
(``partial(np.round, decimals=2)``), array files must exist and are scanned as ``.npy``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from garrison.scanning.allowlist import admission
from garrison.scanning.context import ScanContext
from garrison.scanning.registry import dispatch, scan_as

__all__ = ["SAFE_LOADERS", "scan_skops_members"]

#: Node kinds whose construction only imports the named type/function (checked against the
#: allow-list) and fills it with child nodes' data.
SAFE_LOADERS = frozenset({
    "DictNode", "DefaultDictNode", "ListNode", "SetNode", "TupleNode", "BytesNode",
    "BytearrayNode", "SliceNode", "FunctionNode", "TypeNode", "ObjectNode", "JsonNode",
    "NdArrayNode", "MaskedArrayNode", "DTypeNode", "RandomStateNode", "RandomGeneratorNode",
    "SparseMatrixNode", "LossNode", "TreeNode", "ConstructorFromReduceNode", "PartialNode",
})
#: Node kinds that name a function or class directly (a PartialNode's target must be one).
_NAMING_LOADERS = frozenset({"FunctionNode", "TypeNode"})
#: JsonNode content is parsed with json.loads; these are the classes it may declare.
_JSON_CLASSES = frozenset({"str", "int", "float", "bool", "NoneType", "list", "dict"})
_MAX_NODES = 1_000_000


def _walk(schema: Any, ctx: ScanContext, files: dict[str, Callable[[], bytes | None]]) -> None:
    stack: list[Any] = [schema]
    count = 0
    while stack:
        node = stack.pop()
        count += 1
        if count > _MAX_NODES:
            ctx.add("skops-bad-schema", "schema has too many nodes")
            return
        if type(node) is list:
            stack.extend(node)
            continue
        if type(node) is not dict:
            continue
        loader = node.get("__loader__")
        if loader is not None:
            _check_node(node, loader, ctx, files)
        stack.extend(v for k, v in node.items() if k not in ("__class__", "__module__"))


def _check_node(
    node: dict[str, Any],
    loader: Any,
    ctx: ScanContext,
    files: dict[str, Callable[[], bytes | None]],
) -> None:
    module, cls = node.get("__module__"), node.get("__class__")
    label = f"{module}.{cls}"
    if loader not in SAFE_LOADERS:
        ctx.add("skops-unsafe-node", f"node kind {str(loader)[:60]!r} for {label}",
                name=str(loader)[:100])
        return
    if type(module) is not str or type(cls) is not str:
        ctx.add("skops-bad-schema", "a node lacks __module__/__class__ strings")
        return
    if loader == "JsonNode":
        if module != "builtins" or cls not in _JSON_CLASSES:
            ctx.add("skops-untrusted-type", f"JsonNode declares {label}", name=label)
        return
    found = admission(module, cls, ctx.policy)
    wanted = "partial" if loader == "PartialNode" else "value"
    if found is None or found.kind != wanted:
        ctx.add("skops-untrusted-type", f"{loader} names {label}", name=label)
    elif loader == "PartialNode":
        _check_partial(node, label, ctx)
    if loader == "NdArrayNode" and node.get("type") == "numpy":
        member = node.get("file")
        if type(member) is not str or member not in files:
            ctx.add("skops-missing-file", "array file is not in the archive", name=str(member))


def _check_partial(node: dict[str, Any], label: str, ctx: ScanContext) -> None:
    """A PartialNode's function must be named directly by a function or type node."""
    content = node.get("content")
    target = content.get("func") if type(content) is dict else None
    if type(target) is not dict or target.get("__loader__") not in _NAMING_LOADERS:
        ctx.add("skops-unsafe-node",
                f"{label} wraps something other than a function or type named directly",
                name=label)


def scan_skops_members(files: dict[str, Callable[[], bytes | None]], ctx: ScanContext) -> str:
    """Scan a skops archive's members (already through the zip guards)."""
    raw = files["schema.json"]()
    if raw is None:
        return "skops"
    try:
        schema = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add("skops-bad-schema", f"schema.json is not JSON ({type(exc).__name__})")
        return "skops"
    if type(schema) is not dict or "__loader__" not in schema or "protocol" not in schema:
        ctx.add("skops-bad-schema", "schema.json is not a skops node tree")
        return "skops"
    _walk(schema, ctx, files)
    # Every other member is scanned too, referenced or not: .npy files as arrays (skops
    # loads them with allow_pickle=False, but another reader might not), the rest sniffed.
    for member, read in files.items():
        if member == "schema.json":
            continue
        data = read()
        if data is None:
            continue
        if member.endswith(".npy"):
            scan_as("npy", data, member, ctx.child(member))
        else:
            dispatch(data, member, ctx.child(member))
    return "skops"
