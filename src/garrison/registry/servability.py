"""Servability: can this version answer requests shaped by its input schema?

A version is servable when its format has a loader, it has an input schema, and a
load-and-predict smoke test of its signed artifact on its sealed reference sample (or,
without one, on rows made from the schema) passes, with the schema matching what the
model itself expects: feature names, count, order and types. The registry asks at
registration and before every move into a serving stage (approve, promote, rollback,
fallback); a failure refuses the move with the reason.

The smoke test runs in a separate process with a deadline (:class:`ServabilityProbe`,
implemented in ``garrison.serving.smoke`` and wired in ``garrison.app``). This module
holds the vocabulary and the pure comparison of what the model expects with the schema,
which the probe applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from garrison.schema import InputSchema

__all__ = [
    "LABEL_NAMES",
    "STORABLE_ONLY",
    "ModelInputs",
    "Purpose",
    "ServabilityProbe",
    "ServabilityReport",
    "ServabilityRequest",
    "compare_inputs",
]

#: Why a servability check runs: registration, or the transition it guards.
Purpose = Literal["register", "approve", "promote", "rollback", "fallback"]

#: Formats the scanner accepts for storage but no loader can serve (see docs/registry.md).
STORABLE_ONLY = frozenset({"safetensors", "numpy", "npy", "npz", "pytorch", "torch"})

#: Column names that usually hold a training label, not a model input.
LABEL_NAMES = re.compile(
    r"^(label|labels|target|targets|y|y_true|class|outcome|response|ground_?truth|"
    r"is_?fraud|fraud|churn(ed)?|default(ed)?)$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelInputs:
    """What a loaded model says about its inputs; ``None`` where it says nothing.

    ``names`` are in the model's column order. ``types`` maps a name (``*``: every
    feature) to ``numeric``, ``integer``, ``string`` or ``category`` where the format
    declares types (ONNX graph inputs, XGBoost feature types). ``by_name`` is true
    when the model takes one named input per feature (multi-input ONNX graphs), so the
    order of the schema does not matter.
    """

    names: tuple[str, ...] | None = None
    count: int | None = None
    types: dict[str, str] = field(default_factory=dict)
    by_name: bool = False
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names) if self.names is not None else None,
                "count": self.count, "types": dict(self.types), "by_name": self.by_name,
                "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInputs:
        names = data.get("names")
        return cls(names=tuple(str(n) for n in names) if names is not None else None,
                   count=data.get("count"), types=dict(data.get("types") or {}),
                   by_name=bool(data.get("by_name")), source=str(data.get("source") or ""))


@dataclass(frozen=True)
class ServabilityRequest:
    """One smoke test: the verified artifact, its schema and reference rows.

    ``sample`` is the sealed reference sample (Parquet bytes) or ``None`` (then rows are
    made from the schema). ``derived`` says the schema was derived from reference data,
    so the probe may put it into the model's column order instead of refusing it.
    ``suspects`` maps reference columns that look like row ids to why.
    """

    ref: str
    purpose: Purpose
    format: str
    file_name: str
    artifact: bytes
    schema: InputSchema
    sample: bytes | None = None
    derived: bool = False
    suspects: dict[str, str] = field(default_factory=dict)
    policy_extension: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServabilityReport:
    """The outcome: ``problems`` is empty when the version can serve.

    ``order`` is the feature order the model takes (equal to the schema's unless a
    derived schema was reordered), ``rows`` how many rows were predicted.
    """

    problems: tuple[str, ...]
    order: tuple[str, ...] = ()
    rows: int = 0
    inputs: ModelInputs = field(default_factory=ModelInputs)
    seconds: float = 0.0
    cached: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": list(self.problems), "order": list(self.order),
                "rows": self.rows, "inputs": self.inputs.to_dict(),
                "seconds": round(self.seconds, 3), "cached": self.cached,
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServabilityReport:
        return cls(problems=tuple(str(p) for p in data.get("problems") or ()),
                   order=tuple(str(n) for n in data.get("order") or ()),
                   rows=int(data.get("rows") or 0),
                   inputs=ModelInputs.from_dict(data.get("inputs") or {}),
                   seconds=float(data.get("seconds") or 0.0),
                   warnings=tuple(str(w) for w in data.get("warnings") or ()))


class ServabilityProbe(Protocol):
    """Runs the smoke test of one version (isolated, under a deadline)."""

    def probe(self, request: ServabilityRequest) -> ServabilityReport: ...


_NUMERIC = frozenset({"float", "int", "bool"})


def _listing(names: list[str] | tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _extra_hint(extra: list[str], suspects: dict[str, str]) -> str:
    """Advice on columns the model does not take: a label, an id, or something else."""
    labels = [n for n in extra if LABEL_NAMES.match(n)]
    ids = [n for n in extra if n in suspects]
    hints = []
    if labels:
        hints.append(f"if {labels[0]!r} is the label, register with --target {labels[0]}")
    if ids:
        hints.append(f"{ids[0]!r} looks like a row id ({suspects[ids[0]]}): --drop {ids[0]}")
    if not hints:
        hints.append(f"name the label with --target and leave other columns out with "
                     f"--drop (e.g. --drop {extra[0]})")
    return "; ".join(hints)


def _case_hints(missing: list[str], extra: list[str]) -> list[str]:
    lowered = {n.lower(): n for n in extra}
    return [f"{lowered[m.lower()]!r} differs from the model's {m!r} only in case"
            for m in missing if m.lower() in lowered]


def compare_inputs(inputs: ModelInputs, schema: InputSchema, *, derived: bool,
                   suspects: dict[str, str] | None = None,
                   ) -> tuple[list[str], tuple[str, ...]]:
    """Problems with serving ``schema`` to a model that expects ``inputs``, and the order.

    A derived schema (from reference data) with the model's names in another order is
    put into the model's order; an explicit one must already be in it. A row-id-like
    column is refused unless the model itself names it or the schema was written by
    hand. Returns ``(problems, order)``; the order is the schema's when nothing changes.
    """
    suspects = suspects or {}
    names = schema.names
    problems: list[str] = []
    order = tuple(names)
    what = "reference" if derived else "input schema"
    if inputs.names is not None:
        expected = list(inputs.names)
        missing = [n for n in expected if n not in schema]
        extra = [n for n in names if n not in set(expected)]
        if extra:
            problems.append(f"the {what} has columns the model does not take: "
                            f"{_listing(extra)} ({_extra_hint(extra, suspects)})")
        if missing:
            problems.append(f"the model takes features the {what} lacks: "
                            f"{_listing(missing)}")
        problems.extend(_case_hints(missing, extra))
        if not missing and not extra and expected != names and not inputs.by_name:
            if derived:
                order = tuple(expected)
            else:
                at = next(i for i, (a, b) in enumerate(zip(names, expected, strict=True))
                          if a != b)
                problems.append(f"the input schema lists the features in another order than "
                                f"the model: position {at} is {names[at]!r} in the schema "
                                f"and {expected[at]!r} in the model")
    elif inputs.count is not None and inputs.count != len(names):
        if len(names) > inputs.count:
            candidates = [n for n in names if LABEL_NAMES.match(n) or n in suspects]
            hint = (f"; likely extra: {_listing(candidates)} "
                    f"({_extra_hint(candidates, suspects)})" if candidates
                    else "; name the label with --target and drop other extra columns "
                    "with --drop")
        else:
            hint = ""
        problems.append(f"the model takes {inputs.count} features but the {what} has "
                        f"{len(names)} ({_listing(names)}){hint}")
    elif derived:
        ids = [n for n in names if n in suspects]
        if ids:
            problems.append(f"the reference column {ids[0]!r} looks like a row id "
                            f"({suspects[ids[0]]}); a model input it is not: --drop {ids[0]}")
    every = inputs.types.get("*")  # One tensor of every feature: one type for all.
    for name in names:
        kind = inputs.types.get(name, every)
        if kind is None:
            continue
        declared = schema[name].type
        if kind in ("numeric", "integer") and declared not in _NUMERIC:
            problems.append(f"the model takes {name!r} as a number but the {what} makes it "
                            f"{declared}")
        elif kind == "string" and declared in _NUMERIC:
            problems.append(f"the model takes {name!r} as text but the {what} makes it "
                            f"{declared}")
    return problems, order
