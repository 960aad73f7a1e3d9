"""Output hardening: reveal no more of a model's scores than a deployment needs.

Full-precision probability vectors are what model extraction and membership
inference attacks feed on. Each deployment picks an :class:`OutputPolicy`:

* ``full``: the label and every class probability, unrounded;
* ``rounded``: the label and every class probability rounded to ``decimals``;
* ``top_k``: the label and only the ``k`` most probable classes, scores rounded;
* ``label``: the label only; no score leaves the gateway at all.

An answer without scores (a model without probabilities, or a fallback's answer) is
hardened to its labels alone: ``value`` when they are the numbers a model without
scores predicted, ``label`` otherwise.

The label is always the arg-max of the *unrounded* probabilities (first class on a
tie), so hardening never changes a decision. All work is vectorized over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from garrison.errors import InvalidInput, ModelUnavailable

__all__ = ["HardenedOutput", "OIPTensor", "OutputPolicy"]

Mode = Literal["full", "rounded", "top_k", "label"]
#: What a hardened output holds: a policy's mode, or ``value`` (numbers without scores).
OutputKind = Literal["full", "rounded", "top_k", "label", "value"]
_MODES = ("full", "rounded", "top_k", "label")


def _datatype(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"


def _plain(values: np.ndarray) -> list[Any]:
    """Python scalars for JSON; anything that is not a number or bool becomes a str."""
    if values.dtype.kind in "biufU":
        return cast(list[Any], values.tolist())
    return [str(v) for v in values.ravel().tolist()]


@dataclass(frozen=True, eq=False)
class HardenedOutput:
    """The part of a prediction that may leave the gateway.

    ``labels`` has shape ``(n,)``. For ``full``/``rounded``, ``scores`` is ``(n, C)``
    in the order of ``classes``; for ``top_k``, ``scores`` and ``top_classes`` are
    ``(n, k)``, most probable first; for ``label`` both are ``None``.
    """

    mode: OutputKind
    labels: np.ndarray
    classes: np.ndarray
    scores: np.ndarray | None = None
    top_classes: np.ndarray | None = None

    def to_predictions(self) -> list[dict[str, Any]]:
        """Friendly response rows: ``{"label"}`` plus ``"scores"`` or ``"top"``, or
        ``{"value"}`` for numbers without scores."""
        labels = _plain(self.labels)
        if self.scores is None:
            key = "value" if self.mode == "value" else "label"
            return [{key: label} for label in labels]
        scores = self.scores.tolist()
        if self.top_classes is None:
            keys = [str(c) for c in _plain(self.classes)]
            return [
                {"label": label, "scores": dict(zip(keys, row, strict=True))}
                for label, row in zip(labels, scores, strict=True)
            ]
        tops = _plain(self.top_classes.ravel())
        k = self.top_classes.shape[1]
        return [
            {
                "label": label,
                "top": [
                    {"class": c, "score": s}
                    for c, s in zip(tops[i * k : (i + 1) * k], row, strict=True)
                ],
            }
            for i, (label, row) in enumerate(zip(labels, scores, strict=True))
        ]

    def oip_tensors(self) -> list[OIPTensor]:
        """The Open Inference Protocol v2 output tensors: ``label`` ``[n]``; with scores,
        ``classes`` ``[C]`` and ``probabilities`` ``[n, C]``, or ``top_k_classes`` and
        ``top_k_scores`` ``[n, k]``."""
        tensors = [OIPTensor("label", _datatype(self.labels), self.labels)]
        if self.scores is None:
            return tensors
        if self.top_classes is None:
            tensors.append(OIPTensor("classes", _datatype(self.classes), self.classes))
            tensors.append(OIPTensor("probabilities", "FP64", self.scores))
        else:
            tensors.append(OIPTensor("top_k_classes", _datatype(self.top_classes),
                                     self.top_classes))
            tensors.append(OIPTensor("top_k_scores", "FP64", self.scores))
        return tensors

    def to_oip_outputs(self) -> list[dict[str, Any]]:
        """Open Inference Protocol v2 ``outputs`` tensors (row-major flat ``data``)."""
        return [t.to_json() for t in self.oip_tensors()]


@dataclass(frozen=True, eq=False)
class OIPTensor:
    """One output tensor: its name, OIP datatype and values (shape = ``values.shape``)."""

    name: str
    datatype: str
    values: np.ndarray

    @property
    def shape(self) -> list[int]:
        return list(self.values.shape)

    def to_json(self) -> dict[str, Any]:
        data = (self.values.ravel().tolist() if self.datatype == "FP64"
                else _plain(self.values.ravel()))
        return {"name": self.name, "shape": self.shape, "datatype": self.datatype,
                "data": data}


@dataclass(frozen=True)
class OutputPolicy:
    """Per-deployment output hardening; see the module docstring for the modes."""

    mode: Mode = "full"
    decimals: int = 2
    k: int = 1

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise InvalidInput(f"output mode must be one of {', '.join(_MODES)}")
        if type(self.decimals) is not int or not 0 <= self.decimals <= 12:
            raise InvalidInput("decimals must be an integer from 0 to 12")
        if type(self.k) is not int or self.k < 1:
            raise InvalidInput("k must be a positive integer")

    def apply(self, proba: np.ndarray, classes: Sequence[Any] | np.ndarray) -> HardenedOutput:
        """Harden ``predict_proba`` output (shape ``(n, C)``) for classes ``classes``."""
        proba = np.asarray(proba, dtype=np.float64)
        cls = np.asarray(classes)
        if proba.ndim != 2 or cls.ndim != 1 or proba.shape[1] != cls.shape[0]:
            raise ModelUnavailable(
                "model output does not match its classes",
                shape=list(proba.shape),
                n_classes=int(cls.shape[0]) if cls.ndim == 1 else None,
            )
        # One reduction settles the usual case; NaN or an infinity makes the sum non-finite.
        if not math.isfinite(proba.sum()) and not np.isfinite(proba).all():
            raise ModelUnavailable("model output is not finite")
        if self.mode == "top_k":
            k = min(self.k, cls.shape[0])
            order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
            top = proba[np.arange(proba.shape[0])[:, None], order].round(self.decimals)
            # A stable sort puts the first maximum first: the same label as argmax.
            return HardenedOutput(
                "top_k", cls[order[:, 0]], cls, scores=top, top_classes=cls[order]
            )
        labels = cls[proba.argmax(axis=1)]
        if self.mode == "label":
            return HardenedOutput("label", labels, cls)
        if self.mode == "full":
            return HardenedOutput("full", labels, cls, scores=proba)
        return HardenedOutput("rounded", labels, cls, scores=proba.round(self.decimals))

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "decimals": self.decimals, "k": self.k}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputPolicy:
        if not isinstance(data, dict) or set(data) - {"mode", "decimals", "k"}:
            raise InvalidInput("output policy must be an object with mode, decimals, k")
        return cls(**data)
