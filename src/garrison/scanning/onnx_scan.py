"""ONNX models, walked at the protobuf wire level with the stdlib only.

Checks: every node's operator domain and every opset import (in the main graph, in
subgraphs held by attributes, in training graphs and in model-local functions) is in the
policy's ``onnx_domains`` or names a function defined in the model; every external-data
location is relative, does not climb with ``..``, and (when the model is scanned from a
path) resolves, symlinks followed, inside the model's directory to an existing file.

A model scanned without a directory (``scan_bytes``, or a member of an archive) may not use
external data at all: there is no file it could legitimately name, and ONNX Runtime resolves
such a location against the process's working directory when a session is built from bytes
(onnxruntime#6696), which would let a "safe" model read slices of any file there.
"""

from __future__ import annotations

import os
from typing import Any

from garrison.scanning._protobuf import ProtobufError, fields
from garrison.scanning.archive_scan import name_escapes
from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.registry import ScannerInfo

__all__ = ["OnnxScanner"]

_MAX_DEPTH = 64
# Field numbers from onnx.proto3, by message kind: {field: child kind}.
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 8: "opset", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse",
                  23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "function": {7: "node", 9: "opset"},
    "tensor": {13: "entry"},
}


def _text(data: Buffer, a: int, b: int) -> str:
    try:
        return bytes(data[a:b]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError("invalid UTF-8 string") from exc


class _Model:
    def __init__(self) -> None:
        self.node_domains: list[tuple[str, str]] = []
        self.opset_domains: list[str] = []
        self.functions: set[tuple[str, str]] = set()
        self.function_domains: set[str] = set()
        self.locations: list[tuple[str, str]] = []
        self.has_graph = False


def _walk(data: Buffer) -> _Model:
    model = _Model()
    stack: list[tuple[str, int, int, int]] = [("model", 0, len(data), 0)]
    while stack:
        kind, start, end, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise ProtobufError("messages nest too deeply")
        children = _CHILDREN.get(kind, {})
        strings: dict[int, str] = {}
        external = False
        entries: list[tuple[int, int]] = []
        for number, wire, a, b in fields(data, start, end):
            child = children.get(number)
            if kind == "model" and number == 7:
                model.has_graph = True
            if wire == 2 and child == "entry":
                entries.append((a, b))
            elif wire == 2 and child is not None:
                stack.append((child, a, b, depth + 1))
            elif wire == 2 and (kind, number) in (
                ("node", 4), ("node", 7), ("opset", 1), ("function", 1), ("function", 10),
                ("tensor", 8),
            ):
                strings[number] = _text(data, a, b)
            elif kind == "tensor" and number == 14 and wire == 0:
                external = a == 1
        if kind == "node":
            model.node_domains.append((strings.get(7, ""), strings.get(4, "")))
        elif kind == "opset":
            model.opset_domains.append(strings.get(1, ""))
        elif kind == "function":
            model.functions.add((strings.get(10, ""), strings.get(1, "")))
            model.function_domains.add(strings.get(10, ""))
        elif kind == "tensor":
            location = _location(data, entries)
            if external and location is None:
                raise ProtobufError("external tensor without a location")
            if location is not None:
                model.locations.append((location, strings.get(8, "")))
    return model


def _location(data: Buffer, entries: list[tuple[int, int]]) -> str | None:
    for a, b in entries:
        pair: dict[int, str] = {}
        for number, wire, x, y in fields(data, a, b):
            if wire == 2 and number in (1, 2):
                pair[number] = _text(data, x, y)
        if pair.get(1) == "location":
            return pair.get(2, "")
    return None


def _external_problem(location: str, base_dir: str | None) -> tuple[str, str] | None:
    if name_escapes(location) or location.strip() != location:
        return "onnx-external-data-escape", "location is absolute or climbs with '..'"
    if base_dir is None:
        # No directory to resolve against: the bytes carry everything a model may use.
        return ("onnx-external-data-missing",
                "external data cannot be resolved without the model's directory")
    base = os.path.realpath(base_dir)
    target = os.path.realpath(os.path.join(base, location))
    if os.path.commonpath([base, target]) != base:
        return "onnx-external-data-escape", "location resolves outside the model directory"
    if not os.path.isfile(target):
        return "onnx-external-data-missing", "external data file does not exist"
    return None


class OnnxScanner:
    """ONNX ``ModelProto`` files."""

    info = ScannerInfo(
        name="onnx",
        description="Walks the ONNX protobuf: operator domains and opset imports against the "
        "allowed domains, external-data locations against the model directory.",
        recognises="a ModelProto (first field ir_version, has a graph) or a .onnx name",
        priority=60,
        extensions=(".onnx",),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        if name.lower().endswith(".onnx"):
            return True
        if data[0] != 0x08:
            return False
        try:
            return any(number == 7 for number, _, _, _ in fields(data, 0, len(data)))
        except ProtobufError:
            return False

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        try:
            model = _walk(data)
        except ProtobufError as exc:
            ctx.add("onnx-malformed", str(exc))
            return "onnx"
        if not model.has_graph:
            ctx.add("onnx-malformed", "the model has no graph")
        allowed: Any = ctx.policy.onnx_domains | model.function_domains
        for domain, op_type in model.node_domains:
            if domain not in ctx.policy.onnx_domains and (domain, op_type) not in model.functions:
                ctx.add("onnx-unknown-domain", f"operator {op_type!r} in domain {domain!r}",
                        name=domain)
        for domain in model.opset_domains:
            if domain not in allowed:
                ctx.add("onnx-unknown-domain", f"opset import of domain {domain!r}", name=domain)
        for location, tensor in model.locations:
            problem = _external_problem(location, ctx.base_dir)
            if problem is not None:
                ctx.add(problem[0], f"{problem[1]} (tensor {tensor!r})", name=location)
        return "onnx"
