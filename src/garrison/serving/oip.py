"""Open Inference Protocol v2 inference requests, protocol-neutral (REST JSON, REST binary, gRPC).

The REST and gRPC adapters wrap what arrived in an :class:`OIPInput` and hand it to
the data plane, which calls :meth:`OIPInput.validate` only after authorization and
the rate limit: nothing of an unauthorized request is parsed. ``validate`` applies
the protocol's rules, then the deployment's input validator:

* top level: ``id``, ``parameters``, ``inputs``, ``outputs``; ``model_name`` and
  ``model_version`` (KServe sends them) must name the model and version answering;
* ``parameters`` (request, input and output level) are scalars (string, number,
  boolean); those Garrison understands are ``binary_data_output`` (request),
  ``binary_data_size`` (input) and ``binary_data`` (output); every other one is
  ignored and forgotten, as the protocol lets servers do, except Triton's
  ``classification``, which would return another output than asked and is refused;
* ``outputs`` name outputs the deployment returns, once each; the answer holds those,
  in that order (all of them when none is named);
* the binary tensor data extension: the JSON header is the body's first
  ``Inference-Header-Content-Length`` bytes, then each input with
  ``binary_data_size`` takes that many bytes, in order, and exactly all bytes are
  used. Framing errors are :class:`~garrison.errors.MalformedRequest` (400); the
  values themselves go through the same validation as JSON ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from garrison.errors import MalformedRequest
from garrison.serving._binary import decode_tensor
from garrison.serving._checks import ValidationLimits, parse_json, violation
from garrison.serving.validation import ValidatedBatch

if TYPE_CHECKING:
    from garrison.serving.deployed import Deployed

__all__ = ["HEADER_LENGTH", "OIPInput", "RequestedOutput"]

#: The binary tensor data extension's header (lower case, as ASGI delivers headers).
HEADER_LENGTH = "inference-header-content-length"
_TOP = frozenset({"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
_MAX_PARAMETERS = 64
_MAX_OUTPUTS = 16
#: Parameters that would change what is answered and that Garrison does not implement.
_REFUSED = frozenset({"classification"})


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    #: The output's own ``binary_data`` parameter; ``None`` when it does not say.
    binary: bool | None = None


def _malformed(fld: str, problem: str) -> MalformedRequest:
    return MalformedRequest(f"field {fld[:64]!r}: {problem}", field=fld[:64], problem=problem)


def _parameters(params: Any, fld: str, limits: ValidationLimits) -> dict[str, Any]:
    """A ``parameters`` object: scalars only, bounded; returned whole for the caller to
    pick the keys it understands from."""
    if params is None:
        return {}
    if type(params) is not dict:
        raise violation(fld, None, "not-an-object")
    if len(params) > _MAX_PARAMETERS:
        raise violation(fld, None, "too-many-parameters")
    for key, value in params.items():
        if len(key) > limits.max_id_length:
            raise violation(fld, None, "string-too-long")
        where = f"{fld}.{key}"
        if key in _REFUSED:
            raise violation(where, None, "unsupported-parameter")
        t = type(value)
        if t is str:
            if len(value) > limits.max_string_length:
                raise violation(where, None, "string-too-long")
        elif t is float:
            if not math.isfinite(value):
                raise violation(where, None, "not-finite")
        elif t is not int and t is not bool:
            raise violation(where, None, "wrong-type")
    return params


def _flag(params: dict[str, Any], key: str, fld: str) -> bool | None:
    value = params.get(key)
    if value is not None and type(value) is not bool:
        raise violation(f"{fld}.{key}", None, "wrong-type")
    return value


def _count(shape: Any) -> int | None:
    """Elements of a well-formed shape, or ``None`` to let the validator name the problem."""
    if type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape):
        return None
    return math.prod(shape)


class OIPInput:
    """One OIP v2 inference request as it arrived, parsed by :meth:`validate` only.

    REST: ``body`` (and ``header_length`` for the binary extension). gRPC: ``message``,
    the request already as a JSON-shaped dict, and ``raw`` its ``raw_input_contents``.
    After ``validate``, ``outputs`` and ``binary_output`` say how to answer.
    """

    def __init__(self, *, model: str, body: bytes | None = None,
                 header_length: str | None = None, message: dict[str, Any] | None = None,
                 raw: list[bytes] | None = None) -> None:
        self.model = model
        self._body = body
        self._header_length = header_length
        self._message = message
        self._raw = raw
        self.outputs: tuple[RequestedOutput, ...] = ()
        self.binary_output = False

    # -- framing ----------------------------------------------------------------------
    def _rest(self, limits: ValidationLimits) -> tuple[Any, memoryview | None]:
        body = self._body or b""
        if self._header_length is None:
            return parse_json(body, limits), None
        text = self._header_length.strip()
        if not text.isdigit() or len(text) > 12:
            raise _malformed("inference-header-content-length", "not-a-length")
        cut = int(text)
        if cut == 0 or cut > len(body):
            raise _malformed("inference-header-content-length", "beyond-the-body")
        return parse_json(body[:cut], limits), memoryview(body)[cut:]

    def _inputs(self, inputs: Any, binary: memoryview | None, limits: ValidationLimits,
                ) -> list[Any]:
        """The inputs with binary data decoded in place and every parameter dropped."""
        if type(inputs) is not list:
            return cast(list[Any], inputs)  # Not a list at all: the validator names it.
        out, offset = [], 0
        raw = self._raw
        if raw is not None and raw and len(raw) != len(inputs):
            raise _malformed("raw_input_contents", "count-mismatch")
        for i, tensor in enumerate(inputs):
            if type(tensor) is not dict:
                out.append(tensor)
                continue
            fld = f"inputs[{i}]"
            tensor = dict(tensor)
            params = _parameters(tensor.pop("parameters", None), f"{fld}.parameters", limits)
            size = params.get("binary_data_size")
            if raw:
                if "data" in tensor:
                    raise _malformed(f"{fld}.data", "data-and-raw-contents")
                chunk: bytes | memoryview | None = raw[i]
            elif size is not None:
                if binary is None:
                    raise _malformed(f"{fld}.parameters.binary_data_size", "no-binary-header")
                if type(size) is not int or size < 0:
                    raise _malformed(f"{fld}.parameters.binary_data_size", "not-a-length")
                if "data" in tensor:
                    raise _malformed(f"{fld}.data", "data-and-binary-data")
                if size > len(binary) - offset:
                    raise _malformed(f"{fld}.parameters.binary_data_size", "binary-truncated")
                chunk, offset = binary[offset:offset + size], offset + size
            else:
                chunk = None
            if chunk is not None:
                count = _count(tensor.get("shape"))
                datatype = tensor.get("datatype")
                if count is None or type(datatype) is not str:
                    raise violation(f"{fld}.shape", None, "bad-shape")
                if count > limits.max_rows * 1024:
                    raise _malformed(f"{fld}.shape", "too-many-elements")
                tensor["data"] = decode_tensor(datatype, chunk, count, fld,
                                               max_string_length=limits.max_string_length)
            out.append(tensor)
        if binary is not None and offset != len(binary):
            raise _malformed("inputs", "unused-binary-data")
        return out

    # -- the protocol's rules ---------------------------------------------------------
    def _outputs(self, outputs: Any, limits: ValidationLimits) -> tuple[RequestedOutput, ...]:
        if outputs is None:
            return ()
        if type(outputs) is not list:
            raise violation("outputs", None, "not-a-list")
        if len(outputs) > _MAX_OUTPUTS:
            raise violation("outputs", None, "too-many-outputs")
        wanted, seen = [], set()
        for i, item in enumerate(outputs):
            fld = f"outputs[{i}]"
            if type(item) is not dict:
                raise violation(fld, None, "not-an-object")
            for key in item:
                if key not in ("name", "parameters"):
                    raise violation(f"{fld}.{key}"[:64], None, "unknown-field")
            name = item.get("name")
            if type(name) is not str or not name:
                raise violation(f"{fld}.name", None, "wrong-type")
            if name in seen:
                raise violation(f"{fld}.name", None, "duplicate-output")
            seen.add(name)
            params = _parameters(item.get("parameters"), f"{fld}.parameters", limits)
            wanted.append(RequestedOutput(name, _flag(params, "binary_data", fld)))
        return tuple(wanted)

    def _framed(self, limits: ValidationLimits) -> tuple[Any, memoryview | None]:
        """The JSON-shaped request and the binary data after it (REST's binary extension).
        A transport with its own framing (gRPC) overrides this."""
        if self._message is not None:
            return self._message, None
        return self._rest(limits)

    def validate(self, deployed: Deployed) -> ValidatedBatch:
        """Apply the protocol's rules and the deployment's input validation."""
        limits = deployed.validator.limits
        payload, binary = self._framed(limits)
        if type(payload) is not dict:
            raise violation("$", None, "not-an-object")
        for key in payload:
            if key not in _TOP:
                raise violation(key, None, "unknown-field")
        name = payload.get("model_name")
        if name is not None and name != self.model:
            raise violation("model_name", None, "model-name-mismatch")
        version = payload.get("model_version")
        if version not in (None, "") and str(version) != str(deployed.version.version):
            raise violation("model_version", None, "model-version-mismatch")
        params = _parameters(payload.get("parameters"), "parameters", limits)
        self.binary_output = bool(_flag(params, "binary_data_output", "parameters"))
        self.outputs = self._outputs(payload.get("outputs"), limits)
        known = {spec.name for spec in deployed.outputs}
        for i, wanted in enumerate(self.outputs):
            if known and wanted.name not in known:
                raise violation(f"outputs[{i}].name", None, "unknown-output")
        core = {"inputs": self._inputs(payload.get("inputs"), binary, limits)}
        if "id" in payload:
            core["id"] = payload["id"]
        return deployed.validator.validate(core)


class KServeV1Input:
    """KServe's v1 ``:predict`` body: ``{"instances": [...]}``, each instance either an
    object of features or a list of values in the input schema's order. Nothing else
    is accepted at the top level (KServe v1 knows no other key Garrison could honour)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def validate(self, deployed: Deployed) -> ValidatedBatch:
        validator = deployed.validator
        payload = parse_json(self._body, validator.limits)
        if type(payload) is not dict:
            raise violation("$", None, "not-an-object")
        for key in payload:
            if key != "instances":
                raise violation(key, None, "unknown-field")
        instances = payload.get("instances")
        if type(instances) is not list:
            raise violation("instances", None, "not-a-list")
        names = validator.schema.names
        rows = []
        for r, row in enumerate(instances):
            if type(row) is list:
                if len(row) != len(names):
                    raise violation("instances", r, "shape-mismatch")
                row = dict(zip(names, row, strict=True))
            rows.append(row)
        return validator.validate({"instances": rows})
