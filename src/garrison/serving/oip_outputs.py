"""What a deployment answers over the Open Inference Protocol, described and selected.

The outputs depend on the model (classes and their type, scores or not) and on the
deployment's output policy. Rather than guess them, :func:`probe_outputs` scores one
plausible row, made from the input schema, through the same hardening as every
answer, when the version is loaded; the model metadata then lists exactly those
outputs (batch dimension ``-1``). A fallback's answer holds ``label`` only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from garrison.serving._binary import encode_tensor
from garrison.serving.oip import RequestedOutput
from garrison.serving.output import HardenedOutput, OIPTensor

if TYPE_CHECKING:
    from garrison.serving.deployed import Deployed

__all__ = ["TensorSpec", "model_metadata", "probe_outputs", "select_outputs"]

log = logging.getLogger("garrison.serving")

#: Input schema feature type -> the OIP datatype the metadata advertises.
INPUT_DATATYPES = {"float": "FP64", "int": "INT64", "bool": "BOOL", "category": "BYTES",
                   "string": "BYTES"}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's name, datatype and shape (``-1``: the batch dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _plausible(feature: Any) -> Any:
    """A value every check of ``feature`` accepts."""
    if feature.type == "bool":
        return False
    if feature.type == "category":
        return sorted(feature.categories)[0]
    if feature.type == "string":
        return ""
    lo = feature.minimum if feature.minimum is not None else -math.inf
    hi = feature.maximum if feature.maximum is not None else math.inf
    if lo <= 0.0 <= hi:
        value = 0.0
    elif math.isfinite(lo) and math.isfinite(hi):
        value = (lo + hi) / 2
    else:
        value = lo if math.isfinite(lo) else hi
    return math.ceil(value) if feature.type == "int" else float(value)


def probe_outputs(deployed: Deployed) -> tuple[TensorSpec, ...]:
    """The outputs ``deployed`` answers, learnt from one plausible row at load time.

    Empty when the model cannot score that row (then no requested output is refused
    for being unknown, and the metadata lists ``label`` alone).
    """
    from garrison.serving.deployed import harden

    schema = deployed.version.metadata.input_schema
    assert schema is not None
    try:
        row = {f.name: _plausible(f) for f in schema.features}
        batch = deployed.validator.validate({"instances": [row]})
        X = batch.matrix if batch.matrix is not None else batch.as_columns()
        hardened = harden(deployed, deployed.runtime.predict(X), "")
    except Exception as exc:  # A probe failure only costs the exact description.
        log.warning("%s: could not learn its outputs from a probe row (%s)",
                    deployed.version.ref, type(exc).__name__)
        return ()
    return tuple(TensorSpec(t.name, t.datatype, tuple(
        -1 if t.name != "classes" and i == 0 else size for i, size in enumerate(t.shape)))
        for t in hardened.oip_tensors())


def model_metadata(name: str, versions: Sequence[int], deployed: Deployed) -> dict[str, Any]:
    """The OIP v2 model metadata of ``deployed``: one 1-D input per feature, the outputs."""
    schema = deployed.version.metadata.input_schema
    assert schema is not None
    outputs = deployed.outputs or (TensorSpec("label", "BYTES", (-1,)),)
    return {
        "name": name, "versions": [str(v) for v in sorted(versions)],
        "platform": deployed.version.framework or deployed.runtime.kind,
        "inputs": [{"name": f.name, "datatype": INPUT_DATATYPES[f.type], "shape": [-1]}
                   for f in schema.features],
        "outputs": [spec.to_dict() for spec in outputs],
    }


@dataclass(frozen=True, eq=False)
class Selected:
    """An output tensor as it goes out: JSON ``data``, or raw bytes when binary."""

    tensor: OIPTensor
    raw: bytes | None

    def to_json(self) -> dict[str, Any]:
        if self.raw is None:
            return self.tensor.to_json()
        return {"name": self.tensor.name, "shape": self.tensor.shape,
                "datatype": self.tensor.datatype,
                "parameters": {"binary_data_size": len(self.raw)}}


def select_outputs(hardened: HardenedOutput, requested: Sequence[RequestedOutput],
                   binary_default: bool) -> list[Selected]:
    """The requested outputs in the requested order (all when none is named), each
    raw when its own ``binary_data`` or the request's ``binary_data_output`` says so.
    An output the answer does not hold (a fallback answers ``label`` only) is left out."""
    tensors = {t.name: t for t in hardened.oip_tensors()}
    wanted = requested or [RequestedOutput(name) for name in tensors]
    out = []
    for item in wanted:
        tensor = tensors.get(item.name)
        if tensor is None:
            continue
        binary = binary_default if item.binary is None else item.binary
        out.append(Selected(tensor, encode_tensor(tensor.datatype, np.asarray(tensor.values))
                            if binary else None))
    return out
